"""Greedy CTC decoding and the exact CTC score of a labelling.

Example:
    >>> import numpy as np
    >>> lp = np.log(np.array([[0.1, 0.8, 0.1], [0.1, 0.8, 0.1], [0.9, 0.05, 0.05], [0.1, 0.1, 0.8]]))
    >>> greedy_decode(lp)
    [1, 2]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported where it is needed: greedy decoding runs without it (ONNX apps)
    import torch


def collapse(path: Sequence[int], blank: int = 0) -> list[int]:
    """CTC collapse of a frame-level path: merge repeated labels, then drop blanks."""
    out: list[int] = []
    prev = None
    for tok in path:
        tok = int(tok)
        if tok != prev and tok != blank:
            out.append(tok)
        prev = tok
    return out


def greedy_decode(log_probs: np.ndarray | torch.Tensor, blank: int = 0) -> list[int]:
    """Best-path decoding of one utterance.

    Args:
        log_probs: (T, V) frame log-probabilities (or any scores; only the argmax matters).
        blank: index of the CTC blank.

    Returns:
        The label indices (repeats merged, blanks dropped).
    """
    if not isinstance(log_probs, np.ndarray):  # a torch tensor
        log_probs = log_probs.detach().cpu().numpy()
    if log_probs.ndim != 2:
        raise ValueError(f"log_probs must be (T, V), got shape {log_probs.shape}")
    return collapse(log_probs.argmax(axis=1), blank)  # (T,) -> (L,)


def greedy_decode_batch(
    log_probs: torch.Tensor, lengths: Sequence[int] | torch.Tensor, blank: int = 0
) -> list[list[int]]:
    """Best-path decoding of a padded batch (the per-epoch dev evaluation of training).

    Args:
        log_probs: (T, B, V) frame scores.
        lengths: (B,) valid frames per utterance.
        blank: index of the CTC blank.

    Returns:
        B label sequences (repeats merged, blanks dropped).
    """
    import torch

    best = log_probs.argmax(dim=-1).T.cpu()  # (T, B, V) -> (B, T)
    out = []
    for b, n in enumerate(lengths):
        labels = torch.unique_consecutive(best[b, : int(n)])
        out.append(labels[labels != blank].tolist())
    return out


def ctc_log_likelihood(
    log_probs: np.ndarray | torch.Tensor, labellings: Sequence[Sequence[int]], blank: int = 0
) -> np.ndarray:
    """Exact log p(labelling | emissions), summed over all CTC alignments.

    Args:
        log_probs: (T, V) frame log-probabilities of one utterance.
        labellings: K label sequences (no blanks).
        blank: index of the CTC blank.

    Returns:
        (K,) float64 log-likelihoods; ``-inf`` where a labelling cannot be aligned to T frames.
    """
    k = len(labellings)
    if k == 0:
        return np.zeros(0)
    try:
        import torch
    except ImportError:  # an app with onnxruntime and no torch
        lp = np.asarray(log_probs, dtype=np.float64)
        return np.array([_ctc_forward(lp, [int(t) for t in y], blank) for y in labellings])
    lp = (
        log_probs.detach().float().cpu()
        if isinstance(log_probs, torch.Tensor)
        else torch.from_numpy(np.asarray(log_probs, dtype=np.float32))
    )
    # Only the blank and the labels used matter: slice them out so the cost does not grow with V.
    used = sorted({int(t) for y in labellings for t in y} | {blank})
    column = {tok: i for i, tok in enumerate(used)}
    sub = lp[:, used]  # (T, V) -> (T, U)
    T = sub.shape[0]
    lengths = torch.tensor([len(y) for y in labellings], dtype=torch.long)
    targets = torch.zeros(k, max(1, int(lengths.max())), dtype=torch.long)
    for i, y in enumerate(labellings):
        targets[i, : len(y)] = torch.tensor([column[int(t)] for t in y], dtype=torch.long)
    nll = torch.nn.functional.ctc_loss(
        sub[:, None, :].expand(T, k, len(used)),
        targets,
        torch.full((k,), T, dtype=torch.long),
        lengths,
        blank=column[blank],
        reduction="none",
        zero_infinity=False,
    )  # (K,)
    return -nll.double().numpy()


def _ctc_forward(lp: np.ndarray, labels: Sequence[int], blank: int) -> float:
    """log p(labels | lp) by the CTC forward algorithm in numpy. lp (T, V) float64."""
    if not labels:
        return float(lp[:, blank].sum())
    ext = np.full(2 * len(labels) + 1, blank, dtype=np.int64)  # blank, y1, blank, ..., blank
    ext[1::2] = labels
    skip = np.zeros(len(ext), dtype=bool)  # s-2 -> s allowed into a label unlike the previous one
    skip[3::2] = ext[3::2] != ext[1:-2:2]
    alpha = np.full(len(ext), -np.inf)
    alpha[:2] = lp[0, ext[:2]]
    for t in range(1, len(lp)):
        one = np.r_[-np.inf, alpha[:-1]]
        two = np.where(skip, np.r_[-np.inf, -np.inf, alpha[:-2]], -np.inf)
        alpha = np.logaddexp(np.logaddexp(alpha, one), two) + lp[t, ext]
    return float(np.logaddexp(alpha[-1], alpha[-2]))
