"""Length-bucketed batches, and the share of a dataset that one DDP rank loads."""
from __future__ import annotations

import math
from typing import Iterator, Sequence

import numpy as np
import torch


class BucketBatchSampler(torch.utils.data.Sampler):
    """Yields lists of dataset indices; similar lengths share a batch, so little is padding.

    Each epoch the indices are shuffled, cut into pools of ``batch_size * pool`` utterances,
    each pool is sorted by length and cut into batches, and the batch order is shuffled.
    The order depends only on ``seed`` and the epoch (:meth:`set_epoch`), so a resumed run
    sees the same batches. Under DDP each rank batches its own :func:`shard`.

    Args:
        lengths: frames per utterance.
        batch_size: utterances per batch.
        shuffle: shuffle utterances and batches (False: fixed order, for evaluation).
        bucketing: sort pools by length (False: plain random batches).
        pool: batches per sorting pool.
        seed: base seed of the order.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, *, shuffle: bool = True, bucketing: bool = True,
                 pool: int = 50, seed: int = 0) -> None:
        if batch_size < 1 or pool < 1:
            raise ValueError("batch_size and pool must be >= 1")
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.batch_size, self.shuffle, self.bucketing, self.pool = batch_size, shuffle, bucketing, pool
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Selects the order of ``epoch`` (call before iterating)."""
        self.epoch = epoch

    def batches(self) -> list[list[int]]:
        """All batches of this epoch."""
        n = len(self.lengths)
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        if self.bucketing:
            size = self.batch_size * self.pool
            order = np.concatenate([chunk[np.argsort(self.lengths[chunk], kind="stable")]
                                    for chunk in np.split(order, range(size, n, size))]) if n else order
        batches = [order[i:i + self.batch_size].tolist() for i in range(0, n, self.batch_size)]
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches())

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)


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
