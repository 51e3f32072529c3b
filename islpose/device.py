"""The one place that turns a device option (``auto``, ``cpu``, ``cuda``, ``cuda:N``) into a torch
device, and that sets torch's CPU thread count for a while."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from islpose.errors import IslposeError


def resolve_device(name: str | torch.device, local_rank: int = 0) -> torch.device:
    """The torch device a ``--device`` option names.

    Args:
        name: ``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:N``.
        local_rank: the GPU that ``auto`` and ``cuda`` mean (a process's local rank under DDP).

    Raises:
        IslposeError: an unknown name, CUDA asked for without CUDA, or ``cuda:N`` with N
            past the last visible GPU.
    """
    if isinstance(name, torch.device):
        name = str(name)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise IslposeError(f"unknown device {name!r} (use auto, cpu, cuda or cuda:N)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise IslposeError(f"device {name!r} asked for, but CUDA is not available")
        if device.index is None:
            device = torch.device("cuda", local_rank)
        count = torch.cuda.device_count()
        if device.index >= count:
            raise IslposeError(
                f"device {str(device)!r} does not exist: this machine has {count} GPU(s), cuda:0 to cuda:{count - 1}"
            )
    return device


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Runs the block with ``threads`` torch CPU threads (0: leaves them as they are), then
    restores the caller's count."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
