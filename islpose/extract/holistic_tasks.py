"""The ``tasks`` extraction backend: MediaPipe's Tasks ``HolisticLandmarker`` over one video.

Two backends fill the same ``(T, 543, 4)`` landmark array (see :mod:`islpose.extract.holistic`):

* ``legacy``: ``mediapipe.solutions.holistic`` (mediapipe 0.10.21 and older; removed from
  MediaPipe in 0.10.30);
* ``tasks``: ``mediapipe.tasks.python.vision.HolisticLandmarker`` in VIDEO mode, fed each
  frame with the clip's own time stamp. It needs a model bundle (``.task`` file) that the
  mediapipe wheel does not ship: MediaPipe's published ``holistic_landmarker.task``, given
  as ``--holistic-model PATH`` or the environment variable :data:`MODEL_ENV`. islpose never
  downloads it.

The Tasks graph gives a 478-point face (the 468-point mesh, then 10 iris points); the
store keeps the 468 mesh points and drops the irises, as ``import-pose`` does for a
478-point ``.pose`` face. Pose (33, with visibility) and hands (21 each, MediaPipe's own
"left"/"right") map one to one. A component not detected in a frame is NaN there, as with
the legacy backend.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from islpose._optional import require
from islpose.errors import IslposeError

BACKENDS = ("legacy", "tasks")
MODEL_ENV = "ISLPOSE_HOLISTIC_MODEL"
MODELS_PAGE = "https://ai.google.dev/edge/mediapipe/solutions/vision/holistic_landmarker#models"
FACE_MESH_POINTS = 468
FACE_POINTS_WITH_IRISES = 478


@dataclass(frozen=True)
class TasksSettings:
    """Options of the Tasks Holistic Landmarker (stored, less the model's path, in the
    feature store's ``extractor`` attribute beside the model file's SHA-256).

    Attributes:
        model: the ``.task`` model bundle.
        min_detection_confidence: the lowest face and pose detection score.
        min_tracking_confidence: the lowest face, pose and hand landmark score that keeps
            tracking; below it the next frame detects afresh.
    """

    model: str
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5

    def __post_init__(self) -> None:
        for name in ("min_detection_confidence", "min_tracking_confidence"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise IslposeError(f"{name} must be in [0, 1], not {getattr(self, name)!r}")

    def landmarker_options(self) -> dict[str, Any]:
        """The ``HolisticLandmarkerOptions`` keyword arguments these settings give (no model)."""
        det, track = self.min_detection_confidence, self.min_tracking_confidence
        return {
            "min_face_detection_confidence": det,
            "min_pose_detection_confidence": det,
            "min_face_landmarks_confidence": track,
            "min_pose_landmarks_confidence": track,
            "min_hand_landmarks_confidence": track,
        }

    def to_dict(self) -> dict[str, Any]:
        return {"running_mode": "VIDEO", **self.landmarker_options()}


def legacy_available() -> bool:
    """True when ``mediapipe.solutions.holistic`` (the legacy backend) can be imported."""
    try:
        import mediapipe as mp

        return hasattr(mp, "solutions") and hasattr(mp.solutions, "holistic")
    except Exception:  # noqa: BLE001 - not installed, or a broken install: either way not usable
        return False


def resolve_backend(backend: str | None) -> str:
    """The backend to use: ``backend`` itself, or (None) ``legacy`` where it is importable
    and ``tasks`` otherwise.

    Raises:
        IslposeError: an unknown backend name.
    """
    if backend is None:
        return "legacy" if legacy_available() else "tasks"
    if backend not in BACKENDS:
        raise IslposeError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    return backend


def resolve_model(model: str | Path | None) -> Path:
    """The Holistic Landmarker model file: ``model``, else the path in :data:`MODEL_ENV`.

    Raises:
        IslposeError: none given, or the file does not exist (one line that says where to
            get the model).
    """
    where = f"download holistic_landmarker.task once from {MODELS_PAGE} (islpose never downloads)"
    if model is None or str(model) == "":
        model = os.environ.get(MODEL_ENV) or None
    if model is None:
        raise IslposeError(
            f"the tasks backend needs a Holistic Landmarker model: give --holistic-model PATH "
            f"or set {MODEL_ENV}; {where}"
        )
    path = Path(model).expanduser()
    if not path.is_file():
        raise IslposeError(f"{path}: Holistic Landmarker model not found; {where}")
    return path


# mediapipe 0.10.21's HolisticLandmarker aborts the whole process ("Check failed: holder_ !=
# nullptr The packet is empty") on a clip where a hand is not detected; the Tasks backend is
# tested on mediapipe 1.2.3 (0.10.30 is the first release without mediapipe.solutions).
MIN_TASKS_MEDIAPIPE = (0, 10, 30)


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def _vision() -> Any:
    """``mediapipe.tasks.python.vision`` with a usable HolisticLandmarker, or one line naming the extra."""
    from islpose.extract.holistic import mediapipe_version

    version = mediapipe_version()
    if version and _version_tuple(version) < MIN_TASKS_MEDIAPIPE:
        raise IslposeError(
            f"the tasks backend needs mediapipe >= 0.10.30 (this is {version}, whose "
            "HolisticLandmarker aborts the process when a hand is missing): "
            "pip install 'islpose[tasks]'"
        )
    vision = require("mediapipe.tasks.python.vision", "tasks", "MediaPipe Tasks")
    if not hasattr(vision, "HolisticLandmarker"):
        raise IslposeError("this MediaPipe has no Tasks HolisticLandmarker: pip install 'islpose[tasks]'")
    return vision


def check_tasks_available() -> None:
    """Raises IslposeError (one line naming the extra) unless the tasks backend can run here."""
    _vision()


def face_mesh(points: list) -> list:
    """The 468 mesh points of a Tasks face (478 with irises, or 468).

    Raises:
        IslposeError: another number of points.
    """
    if len(points) not in (FACE_MESH_POINTS, FACE_POINTS_WITH_IRISES):
        raise IslposeError(f"MediaPipe returned a face of {len(points)} points where 468 or 478 were expected")
    return points[:FACE_MESH_POINTS]


def to_legacy_result(result: Any) -> SimpleNamespace:
    """A Tasks ``HolisticLandmarkerResult`` in the shape of a legacy Holistic result: each
    component is None when not detected, else an object whose ``landmark`` lists the points
    (with ``x``, ``y``, ``z`` and, for the pose, ``visibility``)."""

    def part(points: list, face: bool = False) -> SimpleNamespace | None:
        if not points:
            return None
        return SimpleNamespace(landmark=face_mesh(points) if face else points)

    return SimpleNamespace(
        pose_landmarks=part(result.pose_landmarks),
        left_hand_landmarks=part(result.left_hand_landmarks),
        right_hand_landmarks=part(result.right_hand_landmarks),
        face_landmarks=part(result.face_landmarks, face=True),
    )


class FrameClock:
    """Time stamps (ms) of a video's frames for VIDEO mode: the decoder's time of each frame,
    strictly increasing (a repeated or missing time becomes the previous one plus the frame
    interval, or plus 1 ms without a frame rate)."""

    def __init__(self, fps: float) -> None:
        self.step = 1000.0 / fps if fps > 0 else 1.0
        self.last: int | None = None

    def next(self, decoder_ms: float | None) -> int:
        if self.last is None:
            stamp = int(round(decoder_ms)) if decoder_ms is not None and math.isfinite(decoder_ms) else 0
            stamp = max(stamp, 0)
        elif decoder_ms is None or not math.isfinite(decoder_ms) or int(round(decoder_ms)) <= self.last:
            stamp = self.last + max(1, int(round(self.step)))
        else:
            stamp = int(round(decoder_ms))
        self.last = stamp
        return stamp


class TasksHolistic:
    """A Tasks Holistic Landmarker with the legacy graph's interface (``process(rgb)``, a
    context manager) that time-stamps each frame with the time ``cap`` decoded it at."""

    def __init__(
        self, settings: TasksSettings, cap: Any, landmarker_factory: Callable[[TasksSettings], Any] | None = None
    ) -> None:
        self.cap = cap
        self.clock = FrameClock(float(cap.get(5) or 0.0))  # 5 = cv2.CAP_PROP_FPS
        self._landmarker = (landmarker_factory or create_landmarker)(settings)

    def __enter__(self) -> TasksHolistic:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._landmarker.close()

    def process(self, rgb: Any) -> SimpleNamespace:
        """Runs the landmarker on one RGB frame ``(H, W, 3)`` uint8 decoded from ``cap``."""
        stamp = self.clock.next(self.cap.get(0))  # 0 = cv2.CAP_PROP_POS_MSEC
        return to_legacy_result(self._landmarker.detect_for_video(_image(rgb), stamp))


def _image(rgb: Any) -> Any:
    mp = require("mediapipe", "tasks", "MediaPipe")
    return mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)


def create_landmarker(settings: TasksSettings) -> Any:
    """A Tasks HolisticLandmarker in VIDEO mode for ``settings`` (its model must exist)."""
    vision = _vision()
    base = require("mediapipe.tasks.python", "tasks", "MediaPipe Tasks").BaseOptions
    model = resolve_model(settings.model)
    options = vision.HolisticLandmarkerOptions(
        base_options=base(model_asset_path=str(model)),
        running_mode=vision.RunningMode.VIDEO,
        **settings.landmarker_options(),
    )
    return vision.HolisticLandmarker.create_from_options(options)


def tasks_graph(
    settings: TasksSettings, landmarker_factory: Callable[[TasksSettings], Any] | None = None
) -> Callable[[Any], TasksHolistic]:
    """The graph factory :func:`islpose.extract.holistic.extract_landmarks` takes for the
    tasks backend: ``cap -> TasksHolistic``."""
    return lambda cap: TasksHolistic(settings, cap, landmarker_factory)
