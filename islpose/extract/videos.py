"""``islpose extract``: MediaPipe Holistic over videos into a feature store.

This module puts the pieces together; each lives in its own module:

* :mod:`islpose.extract.inputs`: input discovery (files, folders, manifests);
* :mod:`islpose.extract.video`: the per-video task (:func:`load_video`);
* :mod:`islpose.extract.runner`: the run (executor, resume, writing, summary), the
  same for every kind of source;
* :mod:`islpose.extract.featurize`: ``islpose featurize`` (features from stored landmarks).

The names below are importable from here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from islpose._optional import require
from islpose.errors import IslposeError
from islpose.extract import video
from islpose.extract.featurize import featurize
from islpose.extract.holistic import HolisticSettings, mediapipe_version
from islpose.extract.inputs import MANIFEST_EXTENSIONS, VIDEO_EXTENSIONS, find_videos
from islpose.extract.runner import ImportConfig, Progress, Summary, file_sha256, run_items
from islpose.features.compute import DTYPES

if TYPE_CHECKING:
    from islpose.extract.holistic_tasks import TasksSettings

__all__ = [
    "DTYPES",
    "MANIFEST_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "ExtractConfig",
    "Progress",
    "Summary",
    "extract",
    "featurize",
    "file_sha256",
    "find_videos",
]


@dataclass(frozen=True)
class ExtractConfig(ImportConfig):
    """Settings of one extraction run: those of :class:`ImportConfig` (workers, executor,
    overwrite, verify, dtype) and of :class:`~islpose.extract.video.VideoOptions`
    (``holistic``, ``quiet_native_logs``).

    ``backend`` is ``"legacy"`` (``mediapipe.solutions.holistic``), ``"tasks"`` (the Tasks
    HolisticLandmarker, see :mod:`islpose.extract.holistic_tasks`) or None: legacy where it
    is importable, tasks otherwise. ``holistic_model`` is the tasks backend's ``.task`` file
    (None: the ``ISLPOSE_HOLISTIC_MODEL`` environment variable); the tasks backend takes
    ``holistic``'s two confidences."""

    holistic: HolisticSettings = field(default_factory=HolisticSettings)
    quiet_native_logs: bool = True
    backend: str | None = None
    holistic_model: str | None = None

    def resolved_backend(self) -> str:
        """``backend``, or the default one where it is None."""
        from islpose.extract.holistic_tasks import resolve_backend

        return resolve_backend(self.backend)

    def tasks_settings(self) -> TasksSettings | None:
        """The Tasks landmarker's settings (None with the legacy backend).

        Raises:
            IslposeError: the tasks backend without an existing model file.
        """
        from islpose.extract.holistic_tasks import TasksSettings, resolve_model

        if self.resolved_backend() != "tasks":
            return None
        return TasksSettings(
            model=str(resolve_model(self.holistic_model)),
            min_detection_confidence=self.holistic.min_detection_confidence,
            min_tracking_confidence=self.holistic.min_tracking_confidence,
        )

    def video_options(self) -> video.VideoOptions:
        """The per-video task's options."""
        return video.VideoOptions(self.holistic, self.quiet_native_logs, self.tasks_settings())

    def extractor(self) -> dict[str, Any]:
        """The ``extractor`` root attribute: everything that determines the stored numbers
        (with the tasks backend also ``backend`` and the model file's SHA-256)."""
        cv2 = require("cv2", "extract", "OpenCV")
        tasks = self.tasks_settings()
        if tasks is None:
            return {
                "holistic": self.holistic.to_dict(),
                "multimodal_dtype": self.dtype,
                "decoder": f"opencv {cv2.__version__}",
            }
        return {
            "backend": "tasks",
            "holistic": tasks.to_dict(),
            "holistic_model_sha256": file_sha256(tasks.model),
            "multimodal_dtype": self.dtype,
            "decoder": f"opencv {cv2.__version__}",
        }

    def metadata(self) -> dict[str, Any]:
        """The root attributes of a store of videos extracted with these settings (``extract``,
        ``recognize --store``), so that either can add to a store the other began."""
        return {"mediapipe_version": mediapipe_version(), "extractor": self.extractor()}


def extract(
    inputs: Sequence[str | Path],
    out: str | Path,
    config: ExtractConfig = ExtractConfig(),
    progress: Progress | None = None,
) -> Summary:
    """Extracts landmarks and features of every video into the feature store ``out``.

    Args:
        inputs: video files, folders and manifests (see :func:`find_videos`).
        out: the HDF5 feature store (created, resumed when it exists, or rebuilt beside
            and replaced at the end with ``config.overwrite``).
        config: the run's settings.
        progress: receives progress events (e.g. the CLI's progress bar).

    Returns:
        The run's :class:`Summary`; failed videos are listed there, never raised.

    Raises:
        IslposeError: OpenCV or MediaPipe missing (one line naming the extra), bad
            inputs (see :func:`find_videos`), or an ``out`` that is not a feature store
            or was made with other settings.

    Example:
        A video of an empty room is one failure in the summary, not an exception:

        >>> import tempfile
        >>> from pathlib import Path
        >>> import cv2
        >>> import numpy as np
        >>> import islpose
        >>> tmp = tempfile.TemporaryDirectory()
        >>> folder = Path(tmp.name)
        >>> video = cv2.VideoWriter(str(folder / "empty.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (64, 48))
        >>> for _ in range(3):
        ...     video.write(np.full((48, 64, 3), 200, np.uint8))
        >>> video.release()
        >>> summary = islpose.extract([folder / "empty.mp4"], folder / "feats.h5", ExtractConfig(workers=1))
        >>> summary.done, [message for _, message in summary.failed]
        ([], ['...empty.mp4: nobody detected...'])
        >>> tmp.cleanup()
    """
    require("cv2", "extract", "OpenCV")  # once up front, not one failure per video
    require("mediapipe", "extract", "MediaPipe")
    backend = config.resolved_backend()
    if backend == "tasks":
        from islpose.extract.holistic_tasks import check_tasks_available

        check_tasks_available()
    metadata = config.metadata()
    items = find_videos(inputs)
    out = Path(out)
    if out.suffix.lower() in VIDEO_EXTENSIONS | MANIFEST_EXTENSIONS:
        raise IslposeError(f"{out}: the last argument is the output store and should end in .h5")
    if not config.overwrite:
        check_backend(out, backend)
    return run_items(items, out, video.load_video, config.video_options(), metadata, config, progress)


def stored_backend(extractor: Any) -> str | None:
    """The backend a store's ``extractor`` attribute names: ``backend``, or ``legacy`` for
    an extracted store without it; None for other stores (e.g. imported ``.pose`` files)."""
    if not isinstance(extractor, dict):
        return None
    return extractor.get("backend") or ("legacy" if "holistic" in extractor else None)


def check_backend(out: Path, backend: str) -> None:
    """Refuses to add to a non-empty store extracted with the other backend.

    Raises:
        IslposeError: ``out`` holds utterances of the other backend.
    """
    from islpose.io import FeatureStore

    if not out.is_file():
        return
    try:
        with FeatureStore(out, "r") as store:
            if len(store) == 0:
                return
            stored = stored_backend(store.metadata.get("extractor"))
    except Exception:  # noqa: BLE001 - not a store: run_items says so in its own words
        return
    if stored is not None and stored != backend:
        raise IslposeError(
            f"{out}: was extracted with the {stored} backend, not {backend}: use --backend {stored}, "
            "--overwrite to start it afresh, or another output file"
        )
