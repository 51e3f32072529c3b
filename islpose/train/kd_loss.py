"""The distillation loss: ``T**2 * KL(teacher_T || student_T)`` on the student's frames.

* ``student_T = softmax(student_log_probs / T)`` per output frame of the student.
* ``teacher_T = softmax(teacher_logprobs / T)`` per teacher frame (rows are normalised
  again, so a store holding logits works too), then resampled to the student's frame count
  by linear interpolation in probability space (a convex mix of two neighbouring teacher
  distributions is still a distribution). Frames are aligned by their centres: student frame
  ``t`` of ``T_s`` reads the teacher at ``(t + 0.5) * T_t / T_s - 0.5`` (as
  ``F.interpolate(mode="linear", align_corners=False)``), clamped to the utterance, so
  teacher and student may have any frame rates (the BiLSTM subsamples 2x, video teachers
  sample their own frames).
* The KL is summed over the vocabulary and averaged over the valid student frames of the
  batch: padding (of the student or of the teacher) never enters the loss.
"""

from __future__ import annotations

import torch


def resample_frames(x: torch.Tensor, lengths: torch.Tensor, out_lengths: torch.Tensor, out_max: int) -> torch.Tensor:
    """Linear interpolation of each utterance's frames to its own new frame count.

    Args:
        x: (B, N, V) frames, padded after ``lengths``.
        lengths: (B,) valid frames of ``x`` (>= 1).
        out_lengths: (B,) frames wanted per utterance.
        out_max: frames of the output (>= ``out_lengths.max()``).

    Returns:
        (B, out_max, V); row ``t < out_lengths[b]`` mixes the two input rows around
        ``(t + 0.5) * lengths[b] / out_lengths[b] - 0.5`` (clamped to the valid rows, so
        padding is never read); rows past ``out_lengths[b]`` are copies of valid rows.
    """
    t = torch.arange(out_max, device=x.device, dtype=torch.float64)[None, :]  # (1, T')
    src = (t + 0.5) * (lengths[:, None].double() / out_lengths.clamp(min=1)[:, None].double()) - 0.5  # (B, T')
    last = (lengths[:, None] - 1).double()
    src = torch.minimum(src.clamp(min=0.0), last)
    lo = src.floor().long()  # (B, T')
    hi = torch.minimum(lo + 1, lengths[:, None] - 1)
    w = (src - lo.double()).to(x.dtype)[..., None]  # (B, T', 1)

    def rows(index: torch.Tensor) -> torch.Tensor:
        return torch.gather(x, 1, index[..., None].expand(-1, -1, x.shape[-1]))  # (B, T', V)

    return rows(lo) * (1 - w) + rows(hi) * w


def kd_loss(
    student_log_probs: torch.Tensor,
    out_lengths: torch.Tensor,
    teacher_logprobs: torch.Tensor,
    teacher_lengths: torch.Tensor,
    temperature: float,
) -> torch.Tensor:
    """``T**2 * KL(teacher_T || student_T)`` averaged over the valid student frames.

    Args:
        student_log_probs: (T', B, V) the student's output (log-probabilities or logits).
        out_lengths: (B,) valid student frames.
        teacher_logprobs: (B, T_teacher_max, V) the teacher's log-probabilities (or
            logits), zero-padded after ``teacher_lengths``.
        teacher_lengths: (B,) valid teacher frames (>= 1).
        temperature: softmax temperature T.

    Returns:
        A scalar: the KL (summed over V) per valid student frame, times ``T**2``.
    """
    device = student_log_probs.device
    out_lengths, teacher_lengths = out_lengths.to(device), teacher_lengths.to(device)
    student = (student_log_probs.float().transpose(0, 1) / temperature).log_softmax(-1)  # (B, T', V)
    teacher = (teacher_logprobs.to(device).float() / temperature).softmax(-1)  # (B, T_teacher, V)
    teacher = resample_frames(teacher, teacher_lengths, out_lengths, student.shape[1])  # (B, T', V)
    kl = (torch.xlogy(teacher, teacher) - teacher * student).sum(-1)  # (B, T'), 0 log 0 = 0
    mask = torch.arange(student.shape[1], device=device)[None, :] < out_lengths[:, None]  # (B, T')
    return kl.masked_fill(~mask, 0.0).sum() / mask.sum().clamp(min=1) * temperature**2
