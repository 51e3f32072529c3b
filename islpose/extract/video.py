"""The per-video task of ``islpose extract``: one video file in, its landmarks out.

:func:`load_video` is the loader that :func:`islpose.extract.runner.run_items` runs in a
worker for every video (MediaPipe Holistic, see :mod:`islpose.extract.holistic`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from islpose._native import silenced_stderr
from islpose.extract.holistic import HolisticSettings, VideoError, extract_landmarks
from islpose.features.layout import Landmarks, nobody_detected

if TYPE_CHECKING:
    from islpose.extract.holistic_tasks import TasksSettings


@dataclass(frozen=True)
class VideoOptions:
    """Options of the per-video task.

    Attributes:
        holistic: MediaPipe Holistic options (legacy backend).
        quiet_native_logs: silence MediaPipe's C++ log lines while a video is processed.
        tasks: the Tasks Holistic Landmarker's options; when given, the ``tasks`` backend
            runs instead of the legacy one (see :mod:`islpose.extract.holistic_tasks`).
    """

    holistic: HolisticSettings = field(default_factory=HolisticSettings)
    quiet_native_logs: bool = True
    tasks: TasksSettings | None = None


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
        if options.tasks is None:  # the legacy graph, called as it always was
            video = extract_landmarks(path, options.holistic, on_frames)
        else:
            from islpose.extract.holistic_tasks import tasks_graph

            video = extract_landmarks(path, options.holistic, on_frames, graph=tasks_graph(options.tasks))
    reason = nobody_detected(video.presence)
    if reason:
        raise VideoError(f"{path}: {reason}")
    return video
