"""Length-bucketed batches, and the share of a dataset that one DDP rank loads."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch


class BucketBatchSampler(torch.utils.data.Sampler):
    """Yields lists of dataset indices; similar lengths share a batch, so little is padding.

    By utterance count (``batch_size``): each epoch the indices are shuffled, cut into pools
    of ``batch_size * pool`` utterances, each pool is sorted by length and cut into batches,
    and the batch order is shuffled.

    By frame budget (``max_frames``, lhotse's ``max_duration``; ESPnet's ``numel`` batches):
    the utterances, sorted by length, are packed into batches whose padded size
    (utterances x longest utterance) is at most ``max_frames``, so memory is bounded by
    frames whatever the lengths. An utterance longer than ``max_frames`` on its own is a
    batch of its own. The batches are made once (the tightest buckets) and only their order
    is shuffled each epoch, so every epoch has the same number of steps; ``num_batches``
    (see :func:`frame_batch_count`) splits the biggest batches until there are that many,
    so that every DDP rank runs the same number of steps.

    The order depends only on ``seed`` and the epoch (:meth:`set_epoch`), so a resumed run
    sees the same batches. Under DDP each rank batches its own :func:`shard`.

    Args:
        lengths: frames per utterance.
        batch_size: utterances per batch (not used with ``max_frames``).
        shuffle: shuffle utterances and batches (False: fixed order, for evaluation).
        bucketing: sort pools by length (False: plain random batches; ``max_frames`` always
            sorts).
        pool: batches per sorting pool.
        seed: base seed of the order.
        max_frames: frame budget per batch (None or 0: batches of ``batch_size``).
        num_batches: with ``max_frames``, split batches until there are this many (at most
            one per utterance).
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        *,
        shuffle: bool = True,
        bucketing: bool = True,
        pool: int = 50,
        seed: int = 0,
        max_frames: int | None = None,
        num_batches: int | None = None,
    ) -> None:
        if batch_size < 1 or pool < 1 or (max_frames or 0) < 0:
            raise ValueError("batch_size and pool must be >= 1, max_frames >= 0")
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.batch_size, self.shuffle, self.bucketing, self.pool = batch_size, shuffle, bucketing, pool
        self.seed = seed
        self.epoch = 0
        self.frame_batches = None
        if max_frames:
            self.frame_batches = pack_frames(self.lengths, max_frames)
            if num_batches is not None:
                if not len(self.frame_batches) <= num_batches <= len(self.lengths):
                    raise ValueError(
                        f"num_batches {num_batches} is outside {len(self.frame_batches)}.."
                        f"{len(self.lengths)} (the packed batches .. one per utterance)"
                    )
                self.frame_batches = _split_to(self.frame_batches, self.lengths, num_batches)

    def set_epoch(self, epoch: int) -> None:
        """Selects the order of ``epoch`` (call before iterating)."""
        self.epoch = epoch

    def batches(self) -> list[list[int]]:
        """All batches of this epoch."""
        n = len(self.lengths)
        rng = np.random.default_rng([self.seed, self.epoch])
        if self.frame_batches is not None:
            order = rng.permutation(len(self.frame_batches)) if self.shuffle else range(len(self.frame_batches))
            return [list(self.frame_batches[i]) for i in order]
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        if self.bucketing:
            size = self.batch_size * self.pool
            order = (
                np.concatenate(
                    [
                        chunk[np.argsort(self.lengths[chunk], kind="stable")]
                        for chunk in np.split(order, range(size, n, size))
                    ]
                )
                if n
                else order
            )
        batches = [order[i : i + self.batch_size].tolist() for i in range(0, n, self.batch_size)]
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches())

    def __len__(self) -> int:
        if self.frame_batches is not None:
            return len(self.frame_batches)
        return math.ceil(len(self.lengths) / self.batch_size)


def pack_frames(lengths: Sequence[int], max_frames: int) -> list[list[int]]:
    """Indices sorted by length, packed greedily into batches of at most ``max_frames``
    padded frames (utterances x longest); an utterance longer than that is a batch alone."""
    lengths = np.asarray(lengths, dtype=np.int64)
    batches: list[list[int]] = []
    for i in np.argsort(lengths, kind="stable").tolist():
        if batches and (len(batches[-1]) + 1) * lengths[i] <= max_frames:  # sorted: i is the longest
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def _split_to(batches: list[list[int]], lengths: np.ndarray, count: int) -> list[list[int]]:
    """Halves the batch with the most padded frames until there are ``count`` batches."""
    batches = [list(b) for b in batches]
    while len(batches) < count:
        big = max(range(len(batches)), key=lambda k: (len(batches[k]) > 1, len(batches[k]) * lengths[batches[k]].max()))
        b = batches.pop(big)
        batches[big:big] = [b[: len(b) // 2], b[len(b) // 2 :]]
    return batches


def frame_batch_count(lengths: Sequence[int], max_frames: int, num_replicas: int = 1) -> int:
    """The most frame-budget batches (:func:`pack_frames`) of any DDP rank's :func:`shard`:
    the ``num_batches`` that gives every rank the same number of steps.

    Args:
        lengths: frames of every training item (all ranks' items, in the same order on every
            rank).
        max_frames: the frame budget per batch.
        num_replicas: the DDP world size.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    return max(len(pack_frames(lengths[shard(lengths, num_replicas, r)], max_frames)) for r in range(num_replicas))


def shard(lengths: Sequence[int], num_replicas: int, rank: int) -> list[int]:
    """The indices of the items that DDP rank ``rank`` loads and trains on.

    Items are sorted by length and dealt out in turn, so every rank gets
    ``ceil(n / num_replicas)`` items of similar lengths (the last round repeats items from
    the start) and runs the same number of steps; apart from those repeats the shares are
    disjoint and together hold every item. Each share is in the items' order (one process
    gets them all, as they are).

    Args:
        lengths: frames per item.
        num_replicas: the DDP world size.
        rank: this process's rank.
    """
    if not 0 <= rank < num_replicas:
        raise ValueError(f"rank {rank} is outside 0..{num_replicas - 1}")
    order = np.argsort(np.asarray(lengths), kind="stable")
    total = math.ceil(len(order) / num_replicas) * num_replicas
    return sorted(np.resize(order, total)[rank::num_replicas].tolist()) if len(order) else []
