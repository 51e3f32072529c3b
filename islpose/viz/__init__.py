"""Pictures people look at: skeleton overlays (MP4, GIF, PNG contact sheets), training
curves and CTC posteriorgrams. Needs the ``[viz]`` extra (matplotlib, OpenCV), loaded on
first use.

Example:
    >>> from islpose.viz import clip_from_store, render_clip        # doctest: +SKIP
    >>> render_clip(clip_from_store("feats.h5", "utt1"), "utt1.png")  # doctest: +SKIP
"""
from __future__ import annotations

import importlib

_LAZY = {
    "Alignment": "islpose.viz.alignment", "align_utterance": "islpose.viz.alignment",
    "plot_posteriorgram": "islpose.viz.alignment", "plot_runs": "islpose.viz.curves", "read_metrics": "islpose.viz.curves",
    "run_names": "islpose.viz.curves", "clip_from_pose": "islpose.viz.show",
    "Clip": "islpose.viz.show", "ShowResult": "islpose.viz.show", "clip_from_store": "islpose.viz.show",
    "read_segments": "islpose.viz.show", "render_clip": "islpose.viz.show", "render_frames": "islpose.viz.show", "iter_pictures": "islpose.viz.show",
    "draw_skeleton": "islpose.viz.skeleton", "status_panel": "islpose.viz.skeleton",
    "contact_sheet": "islpose.viz.media", "iter_frames": "islpose.viz.media", "write_image": "islpose.viz.media",
    "write_video": "islpose.viz.media",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_LAZY)
