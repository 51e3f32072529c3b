"""The extraction runner behind ``islpose extract`` and ``islpose featurize``.

``extract`` finds the videos (files, folders searched recursively, manifests), runs
MediaPipe Holistic on each in a worker (see :mod:`islpose.features.executors`), and
writes every finished video as one complete utterance into the feature store from the
main process, the only writer. A rerun skips utterances whose source file is unchanged
(same size and SHA-256); a video that cannot be used is reported with its reason and
the run goes on.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol, Sequence

import numpy as np

from islpose.errors import IslposeError, StoreError
from islpose.features.compute import compute_features
from islpose.features.holistic import (
    HolisticSettings, VideoError, extract_landmarks, mediapipe_version, silenced_stderr,
)

VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg",
                              ".wmv", ".flv", ".3gp", ".ts", ".mts"})
MANIFEST_EXTENSIONS = frozenset({".jsonl", ".ndjson", ".csv"})
DTYPES = {"float16": np.float16, "float32": np.float32}


# --------------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class VideoItem:
    """One video to extract: its utterance id, path, and where it was named (for messages)."""

    uid: str
    path: Path
    origin: str


def find_videos(inputs: Sequence[str | Path]) -> list[VideoItem]:
    """Turns the command-line inputs into a list of videos.

    Args:
        inputs: video files (any extension), folders (searched recursively for files
            with a video extension) and manifests (``.jsonl``/``.ndjson``/``.csv`` with
            ``id`` and ``video``).

    Returns:
        Videos in input order (folders sorted); the id is the manifest's or the file stem.

    Raises:
        IslposeError: an input does not exist, a folder holds no video, a manifest is
            invalid, or two different files would get the same id (both are named).
    """
    from islpose.manifests import check_manifest, read_manifest
    from islpose.manifests.validate import raise_problems

    items: list[VideoItem] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
            if not found:
                raise IslposeError(f"{path}: no video files in this folder "
                                   f"(looked for {', '.join(sorted(VIDEO_EXTENSIONS))})")
            items += [VideoItem(p.stem, p.resolve(), str(p)) for p in found]
        elif path.suffix.lower() in MANIFEST_EXTENSIONS:
            manifest = read_manifest(path)
            raise_problems(path, check_manifest(manifest, require=("video",)))
            items += [VideoItem(u.id, Path(u.video), f"{path}:{u.line}") for u in manifest]
        elif path.is_file():
            items.append(VideoItem(path.stem, path.resolve(), str(path)))
        else:
            raise IslposeError(f"{path}: no such file or folder")
    if not items:
        raise IslposeError("no videos given")
    unique: dict[str, VideoItem] = {}
    for item in items:
        first = unique.setdefault(item.uid, item)
        if first.path != item.path:
            raise IslposeError(f"utterance id {item.uid!r} would be used twice: {first.origin} and "
                               f"{item.origin} (rename one, or give ids in a manifest)")
    return list(unique.values())


# --------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class ExtractConfig:
    """Settings of one extraction run.

    Attributes:
        workers: worker processes (None: all cores).
        executor: ``local`` or ``ray`` (see :mod:`islpose.features.executors`).
        overwrite: start OUT afresh and redo every video.
        dtype: dtype of the stored multimodal features, ``float16`` or ``float32``.
        holistic: MediaPipe Holistic options.
        quiet_native_logs: silence MediaPipe's C++ log lines while a video is processed.
    """

    workers: int | None = None
    executor: str = "local"
    overwrite: bool = False
    dtype: str = "float16"
    holistic: HolisticSettings = field(default_factory=HolisticSettings)
    quiet_native_logs: bool = True

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise IslposeError(f"dtype must be one of {', '.join(DTYPES)}, not {self.dtype!r}")

    def extractor(self) -> dict[str, Any]:
        """The ``extractor`` root attribute: everything that determines the stored numbers."""
        import cv2

        return {"holistic": self.holistic.to_dict(), "multimodal_dtype": self.dtype,
                "decoder": f"opencv {cv2.__version__}"}


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------- per-video task
@dataclass(frozen=True)
class VideoTask:
    item: VideoItem
    holistic: HolisticSettings
    dtype: str
    quiet_native_logs: bool


@dataclass
class VideoResult:
    """What a worker sends back: the arrays and attributes of one utterance, or why not."""

    uid: str
    arrays: dict[str, np.ndarray] | None = None
    attrs: dict[str, Any] | None = None
    error: str | None = None

    @property
    def num_frames(self) -> int:
        return 0 if self.arrays is None else len(self.arrays["landmarks"])


def run_task(task: VideoTask, on_frames: Callable[[int], None] | None = None) -> VideoResult:
    """Extracts one video in a worker: landmarks, presence and both feature sets."""
    path = task.item.path
    try:
        if not path.is_file():
            raise VideoError(f"{path}: file not found")
        size, sha = path.stat().st_size, file_sha256(path)
        with silenced_stderr(task.quiet_native_logs):
            video = extract_landmarks(path, task.holistic, on_frames)
        if not (video.presence[:, 0] & video.presence[:, 3]).any():  # a signer shows body and face
            raise VideoError(f"{path}: nobody detected (no frame out of {video.num_frames} has both "
                             "a body pose and a face)")
        arrays = {"landmarks": video.landmarks, "presence": video.presence,
                  **compute_features(video.landmarks, video.presence, video.width, video.height,
                                     DTYPES[task.dtype])}
        attrs = {"fps": video.fps, "width": video.width, "height": video.height, "source": str(path),
                 "source_size": size, "source_sha256": sha}
        return VideoResult(task.item.uid, arrays, attrs)
    except VideoError as exc:
        return VideoResult(task.item.uid, error=str(exc))
    except Exception as exc:  # noqa: BLE001 - one bad video must not stop the run
        return VideoResult(task.item.uid, error=f"{path}: failed: {type(exc).__name__}: {exc}")


# --------------------------------------------------------------------------- the run
class Progress(Protocol):
    """What a run reports as it goes (the CLI draws it; the default ignores it)."""

    def start(self, videos: int) -> None: ...
    def frames(self, n: int) -> None: ...
    def video(self, uid: str, status: str, frames: int, error: str | None) -> None: ...


class _NoProgress:
    def start(self, videos: int) -> None:
        pass

    def frames(self, n: int) -> None:
        pass

    def video(self, uid: str, status: str, frames: int, error: str | None) -> None:
        pass


@dataclass
class Summary:
    """The outcome of a run: ids done and skipped, ``(id, message)`` failures, frames
    processed in this run and the wall time."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    frames: int = 0
    seconds: float = 0.0

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def _check_settings(store, out: Path, extractor: dict, version: str) -> None:
    """A store that already holds utterances must have been made with the same settings."""
    meta = store.metadata
    if len(store) == 0:
        store.set_metadata(mediapipe_version=version, extractor=extractor)
        return
    old = {"mediapipe_version": meta.get("mediapipe_version"), **meta["extractor"]}
    new = {"mediapipe_version": version, **extractor}
    diff = [f"{k} {old.get(k)!r} (now {new.get(k)!r})" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    if diff:
        raise StoreError(f"{out}: was extracted with other settings: {'; '.join(diff)}. Use the same "
                         "options, --overwrite to start it afresh, or another output file")


def _unchanged(store, item: VideoItem) -> bool:
    """True when ``item`` is stored and its source has the stored size and SHA-256."""
    if item.uid not in store:
        return False
    attrs = store.attrs(item.uid)
    try:
        if item.path.stat().st_size != attrs.get("source_size"):
            return False
        return file_sha256(item.path) == attrs.get("source_sha256")
    except OSError:
        return False


def extract(inputs: Sequence[str | Path], out: str | Path, config: ExtractConfig = ExtractConfig(),
            progress: Progress | None = None) -> Summary:
    """Extracts landmarks and features of every video into the feature store ``out``.

    Args:
        inputs: video files, folders and manifests (see :func:`find_videos`).
        out: the HDF5 feature store (created, or resumed when it exists).
        config: the run's settings.
        progress: receives progress events (e.g. the CLI's progress bar).

    Returns:
        The run's :class:`Summary`; failed videos are listed there, never raised.

    Raises:
        IslposeError: bad inputs (see :func:`find_videos`), or an ``out`` that is not a
            feature store or was made with other settings.
    """
    from islpose.features.executors import default_workers, make_executor
    from islpose.io.store import FeatureStore

    progress = progress or _NoProgress()
    items = find_videos(inputs)
    out = Path(out)
    if out.suffix.lower() in VIDEO_EXTENSIONS | MANIFEST_EXTENSIONS:
        raise IslposeError(f"{out}: the last argument is the output store and should end in .h5")
    extractor, version = config.extractor(), mediapipe_version()
    summary = Summary()
    start = time.perf_counter()
    with FeatureStore(out, "w" if config.overwrite else "a") as store:
        _check_settings(store, out, extractor, version)
        workers = config.workers
        if config.executor == "local":  # no more processes than videos
            workers = min(workers or default_workers(), len(items))
        progress.start(len(items))

        def pending() -> Iterator[VideoTask]:
            for item in items:
                if _unchanged(store, item):
                    summary.skipped.append(item.uid)
                    progress.video(item.uid, "skipped", 0, None)
                    continue
                yield VideoTask(item, config.holistic, config.dtype, config.quiet_native_logs)

        with make_executor(config.executor, workers) as executor:
            for task, result in executor.map_unordered(run_task, pending(), progress.frames):
                uid = task.item.uid
                if isinstance(result, BaseException):
                    result = VideoResult(uid, error=f"{task.item.path}: {result}")
                if result.error is None:
                    store.write(uid, result.arrays, result.attrs, overwrite=True)
                    summary.done.append(uid)
                    summary.frames += result.num_frames
                    if not executor.streams_frames:
                        progress.frames(result.num_frames)
                    progress.video(uid, "done", result.num_frames, None)
                else:
                    summary.failed.append((uid, result.error))
                    progress.video(uid, "failed", 0, result.error)
    summary.seconds = time.perf_counter() - start
    return summary


def featurize(store_path: str | Path, out: str | Path | None = None, dtype: str = "float16",
              progress: Progress | None = None) -> Summary:
    """Recomputes ``pose`` and ``multimodal`` from the stored ``landmarks`` (no MediaPipe).

    Args:
        store_path: the feature store.
        out: write the result to this new store (replaced if it exists); None: in place.
            In place, each utterance is rewritten atomically; HDF5 does not give the
            old space back, so ``out`` also compacts the file.
        dtype: dtype of the multimodal features, ``float16`` or ``float32``.
        progress: receives progress events.

    Returns:
        The :class:`Summary` (an utterance without landmarks or image size fails).
    """
    from islpose.io.store import FeatureStore

    if dtype not in DTYPES:
        raise IslposeError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    progress = progress or _NoProgress()
    store_path = Path(store_path)
    in_place = out is None or Path(out).resolve() == store_path.resolve()
    summary = Summary()
    start = time.perf_counter()
    with FeatureStore(store_path, "a" if in_place else "r") as src:
        meta = src.metadata
        extractor = {**meta["extractor"], "multimodal_dtype": dtype}
        root = {"mediapipe_version": meta.get("mediapipe_version", ""), "extractor": extractor}
        dst = src if in_place else FeatureStore(out, "w", metadata=root)
        try:
            progress.start(len(src))
            for uid in src.ids():
                try:
                    attrs = src.attrs(uid)
                    arrays = {name: src.read(uid, name) for name in src.datasets(uid)}
                    if "landmarks" not in arrays or "presence" not in arrays:
                        raise StoreError(f"{store_path}: {uid}: no landmarks/presence stored")
                    if "width" not in attrs or "height" not in attrs:
                        raise StoreError(f"{store_path}: {uid}: no width/height attributes")
                    arrays.update(compute_features(arrays["landmarks"], arrays["presence"], attrs["width"],
                                                   attrs["height"], DTYPES[dtype]))
                    dst.write(uid, arrays, attrs, overwrite=True)
                except (StoreError, ValueError) as exc:
                    summary.failed.append((uid, str(exc)))
                    progress.video(uid, "failed", 0, str(exc))
                    continue
                frames = len(arrays["landmarks"])
                summary.done.append(uid)
                summary.frames += frames
                progress.frames(frames)
                progress.video(uid, "done", frames, None)
            dst.set_metadata(**root)
        finally:
            if dst is not src:
                dst.close()
    summary.seconds = time.perf_counter() - start
    return summary
