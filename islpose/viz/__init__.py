"""Pictures people look at: skeleton overlays (MP4, GIF, PNG contact sheets), training
curves and CTC posteriorgrams. Needs the ``[viz]`` extra (matplotlib, OpenCV), loaded on
first use.

Example:
    >>> from islpose.viz import clip_from_store, render_clip        # doctest: +SKIP
    >>> render_clip(clip_from_store("feats.h5", "utt1"), "utt1.png")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib

_MODULES = {
    "islpose.viz.show": (
        "Clip",
        "ShowResult",
        "clip_from_pose",
        "clip_from_store",
        "iter_pictures",
        "read_segments",
        "render_clip",
        "render_frames",
        "show_clip",
    ),
    "islpose.viz.skeleton": ("draw_skeleton", "status_panel"),
    "islpose.viz.media": ("contact_sheet", "iter_frames", "write_image", "write_video"),
    "islpose.viz.curves": ("plot_run_dirs", "plot_runs", "read_metrics", "run_names"),
    "islpose.viz.alignment": ("Alignment", "align_utterance", "plot_posteriorgram", "show_posteriors"),
}
_LAZY = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_LAZY)
