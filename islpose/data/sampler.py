"""Length-bucketed batch samplers (single process and DDP)."""
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
    sees the same batches. With ``num_replicas > 1`` every replica builds the same batch
    list, pads it (repeating batches from its start) to a multiple of ``num_replicas`` and
    takes every ``num_replicas``-th batch from ``rank``: all replicas run the same number
    of steps and, apart from that padding, see disjoint data.

    Args:
        lengths: frames per utterance.
        batch_size: utterances per batch.
        shuffle: shuffle utterances and batches (False: fixed order, for evaluation).
        bucketing: sort pools by length (False: plain random batches).
        pool: batches per sorting pool.
        seed: base seed of the order.
        num_replicas, rank: DDP world size and this process's rank.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, *, shuffle: bool = True, bucketing: bool = True,
                 pool: int = 50, seed: int = 0, num_replicas: int = 1, rank: int = 0) -> None:
        if batch_size < 1 or pool < 1:
            raise ValueError("batch_size and pool must be >= 1")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is outside 0..{num_replicas - 1}")
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.batch_size, self.shuffle, self.bucketing, self.pool = batch_size, shuffle, bucketing, pool
        self.seed, self.num_replicas, self.rank = seed, num_replicas, rank
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Selects the order of ``epoch`` (call before iterating)."""
        self.epoch = epoch

    def batches(self) -> list[list[int]]:
        """All batches of this epoch (before splitting between replicas)."""
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
        batches = self.batches()
        if self.num_replicas > 1 and batches:
            total = math.ceil(len(batches) / self.num_replicas) * self.num_replicas
            batches = (batches * math.ceil(total / len(batches)))[:total]
            batches = batches[self.rank::self.num_replicas]
        return iter(batches)

    def __len__(self) -> int:
        return math.ceil(math.ceil(len(self.lengths) / self.batch_size) / self.num_replicas)


class DistributedBucketBatchSampler(BucketBatchSampler):
    """:class:`BucketBatchSampler` for DDP: world size and rank default to the process group's."""

    def __init__(self, lengths: Sequence[int], batch_size: int, *, num_replicas: int | None = None,
                 rank: int | None = None, **kwargs) -> None:
        import torch.distributed as dist

        if num_replicas is None or rank is None:
            if not dist.is_available() or not dist.is_initialized():
                raise RuntimeError("DistributedBucketBatchSampler needs an initialised process group "
                                   "(or explicit num_replicas and rank)")
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        super().__init__(lengths, batch_size, num_replicas=num_replicas, rank=rank, **kwargs)
