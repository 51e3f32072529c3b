"""MediaPipe Holistic over one video: frames in, raw landmarks out.

The landmark array (docs/reference/formats.md): ``(T, 543, 4)`` float32 with rows pose 0-32, left
hand 33-53, right hand 54-74, face 75-542 (468 points, ``refine_face_landmarks=False``)
and columns x, y, z, visibility. "Left" and "right" hand are MediaPipe's
``left_hand_landmarks`` / ``right_hand_landmarks``, kept as MediaPipe names them (in
MediaPipe Holistic these are the person's own left and right hand). Only the pose has a
visibility; the hands and the face get 1.0 in that column when detected. A component
that is not detected in a frame is NaN in all four columns and ``presence`` is False.

Frames are decoded with OpenCV (``cv2.VideoCapture``) and given to MediaPipe as RGB.
Each video gets a fresh Holistic graph (tracking within the video, nothing carried over
to the next one), closed when the video is done.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from islpose._optional import require
from islpose.errors import IslposeError, SourceError
from islpose.features.layout import NUM_LANDMARKS, SLICES, Landmarks, presence_of

# Less noise from the native libraries (set before cv2 / mediapipe are imported here).
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
os.environ.setdefault("GLOG_minloglevel", "2")

# A video that decodes to fewer frames than its container declares, by more than this
# many (or 1% of them), is reported as truncated.
TRUNCATION_TOLERANCE = 2
# Containers whose frame count is an index of the frames (mp4/mov sample tables, the AVI
# index). Elsewhere (webm, mkv, ts, flv, mpeg, ...) OpenCV's count is an estimate from the
# duration and the frame rate, wrong for variable frame rates: those videos are decoded to
# the end and what was decoded is trusted.
EXACT_COUNT_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".3gp", ".avi"})


class VideoError(SourceError):
    """A video that cannot be used (unreadable, truncated, nobody in it); the message
    names the file and the reason."""


@dataclass(frozen=True)
class HolisticSettings:
    """The MediaPipe Holistic options (stored in the feature store's ``extractor``
    attribute so a result can be reproduced). ``model_complexity`` 0 and 2 download their
    models on first use, so they only work where a network is available."""

    model_complexity: int = 1
    smooth_landmarks: bool = True
    refine_face_landmarks: bool = False
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5

    def __post_init__(self) -> None:
        if self.model_complexity not in (0, 1, 2):
            raise IslposeError(f"model_complexity must be 0, 1 or 2, not {self.model_complexity!r}")
        if self.refine_face_landmarks:
            raise IslposeError("refine_face_landmarks=True gives 478 face points; the store holds 468")
        for name in ("min_detection_confidence", "min_tracking_confidence"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise IslposeError(f"{name} must be in [0, 1], not {getattr(self, name)!r}")

    def to_dict(self) -> dict:
        return {"static_image_mode": False, **asdict(self)}


def mediapipe_version() -> str:
    """The installed MediaPipe version, without importing it ('' when not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mediapipe")
    except PackageNotFoundError:
        return ""


def _to_rows(landmark_list, out: np.ndarray, with_visibility: bool) -> None:
    """Copies one MediaPipe NormalizedLandmarkList into ``out`` (N, 4)."""
    points = landmark_list.landmark
    if len(points) != len(out):
        raise IslposeError(f"MediaPipe returned {len(points)} points where {len(out)} were expected")
    if with_visibility:
        out[:] = [(p.x, p.y, p.z, p.visibility) for p in points]
    else:
        out[:] = [(p.x, p.y, p.z, 1.0) for p in points]


def open_holistic(settings: HolisticSettings = HolisticSettings()):
    """A MediaPipe Holistic graph in video mode (tracking from frame to frame), as a context
    manager; use a fresh one per video or camera stream."""
    mp = require("mediapipe", "extract", "MediaPipe")
    return mp.solutions.holistic.Holistic(static_image_mode=False, **asdict(settings))


def frame_landmarks(cv2, holistic, frame: np.ndarray) -> tuple[np.ndarray, list[bool]]:
    """Runs ``holistic`` on one (H, W, 3) uint8 BGR frame.

    Returns:
        Its (543, 4) float32 landmarks (NaN where a component is missing) and the 4
        presence flags (pose, left hand, right hand, face).
    """
    rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    rgb.flags.writeable = False
    result = holistic.process(rgb)
    lm = np.full((NUM_LANDMARKS, 4), np.nan, dtype=np.float32)
    parts = (result.pose_landmarks, result.left_hand_landmarks, result.right_hand_landmarks, result.face_landmarks)
    for (name, rows_of), part in zip(SLICES.items(), parts):
        if part is not None:
            _to_rows(part, lm[rows_of], with_visibility=name == "pose")
    return lm, [part is not None for part in parts]


def _run_frames(
    cv2, cap, holistic, path: Path, on_frames: Callable[[int], None] | None
) -> tuple[list[np.ndarray], list[list[bool]], int, int]:
    """Runs ``holistic`` on every frame ``cap`` decodes.

    Returns:
        Per frame its (543, 4) landmarks (NaN where missing) and its 4 presence flags;
        the frame width and height (0 when no frame was decoded).
    """
    rows, present = [], []
    height = width = 0
    while True:
        ok, frame = cap.read()  # (H, W, 3) uint8 BGR
        if not ok:
            break
        if not rows:
            height, width = frame.shape[:2]
        elif frame.shape[:2] != (height, width):
            raise VideoError(
                f"{path}: frame size changes within the video ({width}x{height} -> {frame.shape[1]}x{frame.shape[0]})"
            )
        lm, flags = frame_landmarks(cv2, holistic, frame)
        rows.append(lm)
        present.append(flags)
        if on_frames is not None:
            on_frames(1)
    return rows, present, width, height


def extract_landmarks(
    path: str | Path,
    settings: HolisticSettings = HolisticSettings(),
    on_frames: Callable[[int], None] | None = None,
    graph: Callable[[Any], Any] | None = None,
) -> Landmarks:
    """Runs MediaPipe Holistic on every frame of a video.

    Args:
        path: the video file.
        settings: Holistic options (of the legacy graph).
        on_frames: called with the number of frames just processed (progress).
        graph: ``cv2.VideoCapture -> context manager`` whose value has the legacy graph's
            ``process(rgb)``; None: ``mediapipe.solutions.holistic.Holistic(settings)``
            (see :func:`islpose.extract.holistic_tasks.tasks_graph` for the other backend).

    Returns:
        The landmarks (T, 543, 4), presence (T, 4), fps, width and height.

    Raises:
        VideoError: the file is missing, empty, not a video, has no decodable frame, or
            is truncated (decodes to fewer frames than a container of
            :data:`EXACT_COUNT_EXTENSIONS` declares).
    """
    cv2 = require("cv2", "extract", "OpenCV")
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: empty file (0 bytes)")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise VideoError(f"{path}: cannot be opened as a video (not a video file, or corrupt)")
        declared = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        fps = fps if np.isfinite(fps) and fps > 0 else 0.0
        with (graph or (lambda _: open_holistic(settings)))(cap) as holistic:
            rows, present, width, height = _run_frames(cv2, cap, holistic, path, on_frames)
    finally:
        cap.release()
    if not rows:
        raise VideoError(f"{path}: no frame could be decoded (not a video, or corrupt)")
    exact = path.suffix.lower() in EXACT_COUNT_EXTENSIONS
    if exact and declared > 0 and declared - len(rows) > max(TRUNCATION_TOLERANCE, declared // 100):
        raise VideoError(
            f"{path}: truncated or corrupt: decoded {len(rows)} of the {declared} frames the file declares"
        )
    landmarks = np.stack(rows)
    # a component without one finite point is not present, whatever MediaPipe said
    return Landmarks(
        landmarks=landmarks,
        presence=np.array(present, dtype=bool) & presence_of(landmarks),
        fps=fps,
        width=int(width),
        height=int(height),
        source=str(path),
    )
