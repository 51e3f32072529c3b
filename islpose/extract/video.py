"""The per-video task of ``islpose extract``: one video file in, its landmarks out.

:func:`load_video` is the loader that :func:`islpose.extract.runner.run_items` runs in a
worker for every video (MediaPipe Holistic, see :mod:`islpose.extract.holistic`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from islpose._native import silenced_stderr
from islpose.extract.holistic import HolisticSettings, VideoError, extract_landmarks
from islpose.features.layout import Landmarks, nobody_detected


@dataclass(frozen=True)
class VideoOptions:
    """Options of the per-video task.

    Attributes:
        holistic: MediaPipe Holistic options.
        quiet_native_logs: silence MediaPipe's C++ log lines while a video is processed.
    """

    holistic: HolisticSettings = field(default_factory=HolisticSettings)
    quiet_native_logs: bool = True


def load_video(path: Path, options: VideoOptions, on_frames: Callable[[int], None] | None = None) -> Landmarks:
    """Runs MediaPipe Holistic over one video.

    Args:
        path: the video file.
        options: Holistic options and whether to silence native logs.
        on_frames: called with the number of frames just processed (progress).

    Returns:
        The video's landmarks (T, 543, 4), presence (T, 4), fps and size.

    Raises:
        VideoError: the video cannot be used (see :func:`extract_landmarks`), or no
            frame shows a signer (a body pose and a face).
    """
    with silenced_stderr(options.quiet_native_logs):
        video = extract_landmarks(path, options.holistic, on_frames)
    reason = nobody_detected(video.presence)
    if reason:
        raise VideoError(f"{path}: {reason}")
    return video
