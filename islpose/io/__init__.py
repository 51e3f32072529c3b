"""Storage: the HDF5 feature store, its undo journal, atomic writes, JSONL, the ``.pose`` binary
format and media file extensions. The lowest layer: it imports no other islpose subpackage.

The store (and h5py) is imported on first use of its names, so the light modules here
(:mod:`~islpose.io.media`, :mod:`~islpose.io.atomic`, :mod:`~islpose.io.jsonl`) stay light.
"""

from __future__ import annotations

import importlib

_LAZY = {"FORMAT", "FORMAT_VERSION", "FeatureStore"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module("islpose.io.store"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["FORMAT", "FORMAT_VERSION", "FeatureStore"]
