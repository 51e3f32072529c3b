"""Exporting trained students for use outside islpose (ONNX, run with onnxruntime).

:func:`export_onnx` loads torch and onnx on first use.
"""

from __future__ import annotations

import importlib


def __getattr__(name: str):
    if name in ("export_onnx", "exportable"):
        return getattr(importlib.import_module("islpose.export.onnx"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["export_onnx", "exportable"]
