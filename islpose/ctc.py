"""Small CTC facts shared by validation, datasets and training (torch only for the batched check)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def min_ctc_frames(targets: Sequence) -> int:
    """Fewest output frames a CTC alignment of ``targets`` needs.

    Every label takes one frame and a blank must separate two equal neighbours,
    so the answer is ``len(targets)`` plus the number of repeated adjacent pairs.
    """
    repeats = sum(1 for a, b in zip(targets, targets[1:]) if a == b)
    return len(targets) + repeats


def subsampled_length(num_frames: int, factor: int) -> int:
    """Output length of a model that subsamples time by ``factor``: ``ceil(T / factor)``."""
    if factor < 1:
        raise ValueError(f"subsampling factor must be >= 1, got {factor}")
    return math.ceil(num_frames / factor)


def fits_ctc(targets: Sequence, num_frames: int, factor: int = 1) -> bool:
    """True when ``targets`` can be aligned to ``num_frames`` input frames at ``factor``."""
    return subsampled_length(num_frames, factor) >= min_ctc_frames(targets)


def batch_fits_ctc(targets: torch.Tensor, target_lengths: torch.Tensor, out_lengths: torch.Tensor) -> torch.Tensor:
    """:func:`min_ctc_frames` of a padded batch compared with its output lengths.

    Args:
        targets: (B, N) label ids, padded after ``target_lengths``.
        target_lengths: (B,) labels per utterance.
        out_lengths: (B,) output frames per utterance.

    Returns:
        (B,) bool: True where CTC can align the targets.
    """
    import torch

    n = targets.shape[1]
    valid = torch.arange(1, n, device=targets.device)[None, :] < target_lengths[:, None]  # (B, N-1)
    repeats = ((targets[:, 1:] == targets[:, :-1]) & valid).sum(1)
    return out_lengths >= target_lengths + repeats
