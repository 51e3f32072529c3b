"""Device choice and DDP set-up under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from islpose.device import resolve_device


@dataclass
class DistContext:
    """Where this process runs: ``rank`` of ``world_size`` on ``device``."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    owns_group: bool = False  # this module started the process group (and ends it)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str) -> DistContext:
    """Joins the process group when started by ``torchrun`` (NCCL on CUDA, gloo on CPU)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistContext(device=resolve_device(device))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    owns = not dist.is_initialized()
    if owns:
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return DistContext(rank=dist.get_rank(), world_size=dist.get_world_size(), device=dev, owns_group=owns)


def cleanup_distributed(ctx: DistContext, finished: bool = False) -> None:
    """Destroys the process group this run made. After a run that ``finished`` normally
    the ranks first wait for each other, so that no rank tears the group down while
    another still uses it (not after an error: a dead rank would never arrive)."""
    if ctx.owns_group and dist.is_initialized():
        if finished and ctx.distributed:
            dist.barrier()
        dist.destroy_process_group()


def broadcast(value: object, ctx: DistContext) -> object:
    """Rank 0's ``value`` on every rank (identity without DDP)."""
    if not ctx.distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_sum(values: list[float], ctx: DistContext) -> list[float]:
    """Element-wise sum over ranks (identity without DDP)."""
    if not ctx.distributed:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t)
    return t.tolist()
