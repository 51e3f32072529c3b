"""Small CTC facts shared by validation, datasets and training (no torch needed)."""
from __future__ import annotations

import math
from typing import Sequence


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
