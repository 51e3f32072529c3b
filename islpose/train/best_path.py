"""The best-path (Viterbi) CTC loss: a hard-alignment start for CTC training.

Early in CTC training a model can sit on the *blank plateau*: every frame's argmax is the
blank, and each gloss's probability is spread thinly over the frames of its sign (0.03-0.1
each), although a linear probe on its hidden states already tells the glosses of those
frames apart (``mobilenet_v3_1d`` at epoch 4: 79-82% of the dev signer's sign frames). The
CTC gradient follows the soft alignment of the model's own spread posteriors, so the
spread only slowly turns into spikes. The best-path loss

    -log P(best CTC path of the labels) / len(labels)

is the cross-entropy towards the single most probable alignment (hard EM, as Viterbi
training of HMMs): it puts each gloss on the frames where it is already likeliest, which
breaks the tie at once. :class:`islpose.train.loop.Trainer` adds it to the CTC loss with a
weight falling linearly from ``viterbi_weight`` to 0 over the first ``viterbi_epochs``
epochs (``TrainConfig``), after which training is plain CTC. It ends the plateau within 3
epochs in 7 of 8 runs (1 of 8 without), but the models came out worse on unseen signers
after 60 epochs (README, Training), so it is off by default.

:func:`islpose.recognize.segments.forced_align` is the same Viterbi for one utterance in
numpy (for apps without torch); this one is batched, on the model's device.
"""
from __future__ import annotations

import torch

NEG_INF = float("-inf")


def _extended_labels(targets: torch.Tensor, target_lengths: torch.Tensor) -> torch.Tensor:
    """(sum L,) concatenated labels -> (B, 2 * L_max + 1): blank, y1, blank, y2, ..., blank."""
    B, L = len(target_lengths), int(target_lengths.max()) if len(target_lengths) else 0
    padded = torch.zeros(B, max(L, 1), dtype=torch.long, device=targets.device)
    valid = torch.arange(padded.shape[1], device=targets.device)[None, :] < target_lengths[:, None]
    padded[valid] = targets.long()
    ext = torch.zeros(B, 2 * L + 1, dtype=torch.long, device=targets.device)
    ext[:, 1::2] = padded[:, :L]
    return ext


@torch.no_grad()
def best_path(log_probs: torch.Tensor, out_lengths: torch.Tensor, targets: torch.Tensor,
              target_lengths: torch.Tensor, blank: int = 0) -> torch.Tensor:
    """The label of every frame on the most probable CTC path of each utterance's targets.

    Args:
        log_probs: (T, B, V) frame log-probabilities.
        out_lengths: (B,) valid frames.
        targets: (sum L,) the labels of all utterances, concatenated (as ``F.ctc_loss``).
        target_lengths: (B,) labels per utterance.
        blank: index of the CTC blank (only 0 is supported).

    Returns:
        (T, B) long: the label (or ``blank``) of each valid frame on the best path; -1 on
        padded frames and on every frame of an utterance whose labels need more frames
        than it has.
    """
    if blank != 0:
        raise ValueError(f"best_path supports blank=0 only, got {blank}")
    T, B, _ = log_probs.shape
    device = log_probs.device
    out_lengths, target_lengths = out_lengths.to(device), target_lengths.to(device)
    ext = _extended_labels(targets.to(device), target_lengths)  # (B, S)
    S = ext.shape[1]
    before2 = torch.full_like(ext, -1)
    before2[:, 2:] = ext[:, :-2]
    skip = (ext != blank) & (ext != before2)  # from s - 2 into a label unlike the one before
    emit = log_probs.float().gather(2, ext[None].expand(T, B, S))  # (T, B, S)
    score = torch.full((B, S), NEG_INF, device=device)
    score[:, :2] = emit[0, :, :2]
    back = torch.zeros(T, B, S, dtype=torch.long, device=device)  # 0 stay, 1 from s-1, 2 from s-2
    pad = torch.full((B, 2), NEG_INF, device=device)
    for t in range(1, T):
        shifted = torch.cat([pad, score], 1)  # [:, 1:-1] is score[s - 1], [:, :-2] score[s - 2]
        cand = torch.stack([score, shifted[:, 1:-1], torch.where(skip, shifted[:, :-2], NEG_INF)])
        best, arg = cand.max(0)
        active = (t < out_lengths)[:, None]
        score = torch.where(active, best + emit[t], score)
        back[t] = torch.where(active, arg, 0)
    final = (2 * target_lengths)[:, None]
    ends = torch.cat([final, (final - 1).clamp(min=0)], 1)  # the last blank or the last label
    end_scores = score.gather(1, ends)
    state = ends.gather(1, end_scores.argmax(1, keepdim=True)).squeeze(1)  # (B,)
    reachable = torch.isfinite(end_scores.max(1).values)
    path = torch.full((T, B), -1, dtype=torch.long, device=device)
    rows = torch.arange(B, device=device)
    for t in range(T - 1, -1, -1):
        active = (t < out_lengths) & reachable
        path[t] = torch.where(active, ext[rows, state], -1)
        state = (state - back[t, rows, state]).clamp(min=0)
    return path


def best_path_loss(log_probs: torch.Tensor, out_lengths: torch.Tensor, targets: torch.Tensor,
                   target_lengths: torch.Tensor) -> torch.Tensor:
    """``-log P(best path) / len(labels)``, averaged over the utterances (as
    ``F.ctc_loss(reduction="mean")``); utterances that cannot be aligned are left out.

    Args: as :func:`best_path`.

    Returns:
        Scalar; its gradient is the cross-entropy's towards the best path's labels.
    """
    path = best_path(log_probs.detach(), out_lengths, targets, target_lengths)  # (T, B)
    on_path = path >= 0
    picked = log_probs.gather(2, path.clamp(min=0)[..., None]).squeeze(-1)  # (T, B)
    per_utt = -(picked * on_path).sum(0) / target_lengths.to(log_probs.device).clamp(min=1)
    aligned = on_path.any(0)
    if not bool(aligned.any()):
        return log_probs.sum() * 0.0
    return per_utt[aligned].mean()
