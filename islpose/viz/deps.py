"""The optional libraries of the pictures (the ``[viz]`` extra), imported on first use."""

from __future__ import annotations

from islpose._optional import require


def cv2():
    """OpenCV (drawing, video reading and writing)."""
    return require("cv2", "viz", "OpenCV")


def figure(**kwargs):
    """A matplotlib ``Figure`` (no pyplot: no global state, no display, any backend)."""
    return require("matplotlib.figure", "viz", "matplotlib").Figure(**kwargs)
