"""Greedy CTC decoding and WER for the per-epoch dev evaluation."""
from __future__ import annotations

from typing import Sequence

import torch


def greedy_decode(log_probs: torch.Tensor, lengths: torch.Tensor, blank: int = 0) -> list[list[int]]:
    """Best path: argmax per frame, merge repeats, drop blanks.

    Args:
        log_probs: (T, B, V) frame scores.
        lengths: (B,) valid frames per utterance.

    Returns:
        B label sequences.
    """
    best = log_probs.argmax(dim=-1).T.cpu()  # (B, T)
    out = []
    for b, n in enumerate(lengths.tolist()):
        labels = torch.unique_consecutive(best[b, :n])
        out.append(labels[labels != blank].tolist())
    return out


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> dict[str, float]:
    """WER and error counts (jiwer) of space-separated gloss strings.

    Returns:
        ``wer`` (0-1, can exceed 1), ``substitutions``, ``deletions``, ``insertions``, ``words``.
    """
    import jiwer

    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    result = jiwer.process_words(list(references), list(hypotheses))
    return {"wer": float(result.wer), "substitutions": result.substitutions, "deletions": result.deletions,
            "insertions": result.insertions, "words": result.hits + result.substitutions + result.deletions}
