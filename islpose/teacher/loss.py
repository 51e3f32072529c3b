"""The teacher's hybrid loss: ``ctc_weight * CTC(glosses) + ce_weight * CE(text)``.

CTC runs in float32 (``blank=0``, ``zero_infinity``), per utterance normalised by its
target length, over the utterances whose glosses fit their output length (CTC needs
``T' >= len + repeated neighbours``); the others are counted in ``skipped``, never trained
on. The text cross-entropy uses label smoothing (seed: 0.05) and ignores ``<pad>``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from islpose.ctc import batch_fits_ctc
from islpose.errors import IslposeError
from islpose.teacher.models.common import TeacherOutput


@dataclass
class HybridLossConfig:
    """Attributes:
    ctc_weight: weight of the CTC gloss loss.
    ce_weight: weight of the text cross-entropy (0: CTC only).
    label_smoothing: label smoothing of the cross-entropy.
    """

    ctc_weight: float = 0.5
    ce_weight: float = 0.5
    label_smoothing: float = 0.05

    def __post_init__(self) -> None:
        if self.ctc_weight < 0 or self.ce_weight < 0 or self.ctc_weight + self.ce_weight <= 0:
            raise IslposeError(
                f"loss: weights must be >= 0 and not both 0 (ctc_weight={self.ctc_weight}, ce_weight={self.ce_weight})"
            )
        if not 0 <= self.label_smoothing < 1:
            raise IslposeError(f"loss: label_smoothing must be in [0, 1), got {self.label_smoothing}")


@dataclass
class LossOutput:
    """Attributes:
    loss: the weighted total (scalar, differentiable).
    ctc: the CTC part (scalar; 0 when no utterance fits).
    ce: the text cross-entropy (scalar; 0 when ``ce_weight`` is 0).
    skipped: utterances left out of CTC because their glosses cannot fit.
    """

    loss: torch.Tensor
    ctc: torch.Tensor
    ce: torch.Tensor
    skipped: int


def hybrid_loss(
    output: TeacherOutput,
    targets: torch.Tensor,
    target_lengths: torch.Tensor,
    text: torch.Tensor | None,
    config: HybridLossConfig,
    pad_id: int = 0,
) -> LossOutput:
    """Args:
    output: the teacher's output (log_probs (T, B, V), lengths (B,), text_logits (B, L-1, V_text)).
    targets: (B, N) gloss ids padded with 0.
    target_lengths: (B,) gloss counts.
    text: (B, L) ``<bos> ... <eos>`` padded with ``pad_id``, needed when ``ce_weight > 0``.
    config: weights and label smoothing.
    """
    fits = batch_fits_ctc(targets, target_lengths, output.lengths) & (target_lengths > 0)
    zero = output.log_probs.new_zeros(())
    ctc = zero
    if fits.any():
        per_utt = F.ctc_loss(
            output.log_probs.float(),
            targets,
            output.lengths,
            target_lengths,
            blank=0,
            reduction="none",
            zero_infinity=True,
        )  # (B,)
        ctc = (per_utt / target_lengths.clamp(min=1))[fits].mean()
    ce = zero
    if config.ce_weight > 0:
        if output.text_logits is None or text is None:
            raise IslposeError("the loss has ce_weight > 0 but the batch has no text (or the model no text head)")
        logits = output.text_logits.float()  # (B, L-1, V_text)
        ce = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            text[:, 1:].reshape(-1),
            ignore_index=pad_id,
            label_smoothing=config.label_smoothing,
        )
    total = config.ctc_weight * ctc + config.ce_weight * ce
    if not fits.any():
        total = total + 0.0 * output.log_probs.sum()  # keeps the graph when CTC has nothing to learn
    return LossOutput(total, ctc.detach(), ce.detach(), int((~fits).sum()))
