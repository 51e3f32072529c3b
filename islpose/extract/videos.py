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

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from islpose._optional import require
from islpose.errors import IslposeError
from islpose.extract import video
from islpose.extract.featurize import featurize
from islpose.extract.holistic import HolisticSettings, mediapipe_version
from islpose.extract.inputs import MANIFEST_EXTENSIONS, VIDEO_EXTENSIONS, find_videos
from islpose.extract.runner import ImportConfig, Progress, Summary, file_sha256, run_items
from islpose.features.compute import DTYPES

__all__ = ["DTYPES", "MANIFEST_EXTENSIONS", "VIDEO_EXTENSIONS", "ExtractConfig", "Progress", "Summary",
           "extract", "featurize", "file_sha256", "find_videos"]


@dataclass(frozen=True)
class ExtractConfig(ImportConfig):
    """Settings of one extraction run: those of :class:`ImportConfig` (workers, executor,
    overwrite, verify, dtype) and of :class:`~islpose.extract.video.VideoOptions`
    (``holistic``, ``quiet_native_logs``)."""

    holistic: HolisticSettings = field(default_factory=HolisticSettings)
    quiet_native_logs: bool = True

    def extractor(self) -> dict[str, Any]:
        """The ``extractor`` root attribute: everything that determines the stored numbers."""
        cv2 = require("cv2", "extract", "OpenCV")
        return {"holistic": self.holistic.to_dict(), "multimodal_dtype": self.dtype,
                "decoder": f"opencv {cv2.__version__}"}

    def metadata(self) -> dict[str, Any]:
        """The root attributes of a store of videos extracted with these settings (``extract``,
        ``recognize --store``), so that either can add to a store the other began."""
        return {"mediapipe_version": mediapipe_version(), "extractor": self.extractor()}


def extract(inputs: Sequence[str | Path], out: str | Path, config: ExtractConfig = ExtractConfig(),
            progress: Progress | None = None) -> Summary:
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
    metadata = config.metadata()
    require("mediapipe", "extract", "MediaPipe")  # once up front, not one failure per video
    items = find_videos(inputs)
    out = Path(out)
    if out.suffix.lower() in VIDEO_EXTENSIONS | MANIFEST_EXTENSIONS:
        raise IslposeError(f"{out}: the last argument is the output store and should end in .h5")
    options = video.VideoOptions(config.holistic, config.quiet_native_logs)
    return run_items(items, out, video.load_video, options, metadata, config, progress)
