"""The optional libraries of the pictures (the ``[viz]`` extra), imported on first use."""
from __future__ import annotations

from islpose.errors import IslposeError

HINT = "pip install 'islpose[viz]'"


def cv2():
    """OpenCV (drawing, video reading and writing)."""
    try:
        import cv2 as module
    except ImportError as exc:
        raise IslposeError(f"OpenCV is not installed (pictures need it): {HINT}") from exc
    return module


def figure(**kwargs):
    """A matplotlib ``Figure`` (no pyplot: no global state, no display, any backend)."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise IslposeError(f"matplotlib is not installed (plots need it): {HINT}") from exc
    return Figure(**kwargs)
