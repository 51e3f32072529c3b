"""Orchestration of a per-item extraction into a feature store (generic over the source).

:func:`run_items` runs a *loader* (a module-level function that turns one source file
into :class:`~islpose.features.layout.Landmarks`) over every item on an executor (see
:mod:`islpose.extract.executors`); the worker also computes the features. Each finished
item is written as one complete utterance from the main process, the only writer. The
same run serves every kind of source: ``islpose extract`` plugs in MediaPipe over videos
(:func:`islpose.extract.video.load_video`); an importer of other files plugs in its own
loader and shares resume, writing, the summary, progress and the failure list.

Data safety:

* Resume: an item already stored whose source file has the stored size and modification
  time is skipped without reading the file; when only the time changed (or
  ``verify``), the file is hashed and skipped if its SHA-256 is the stored one.
* A source that cannot be used, or whose result cannot be stored (NaN, an id the store
  refuses), is that item's failure, listed in the :class:`Summary`; the run goes on.
* A new OUT where no item succeeded is removed: a failed run leaves no empty store.
* ``overwrite``: the new store is built beside OUT and renamed over it once the run
  has finished with at least one item done; a killed or failed run, or one where every
  item failed, leaves OUT exactly as it was. OUT must be an islpose store (or absent).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from islpose.errors import IslposeError, SourceError, StoreError
from islpose.extract.inputs import SourceItem
from islpose.features.compute import DTYPES, compute_features
from islpose.features.layout import Landmarks

OnFrames = Callable[[int], None]
#: ``load(path, options, on_frames) -> Landmarks``; must be picklable (a module-level function).
Loader = Callable[[Path, Any, OnFrames | None], Landmarks]


@dataclass(frozen=True)
class ImportConfig:
    """How a run that writes sources into a store goes (``import-pose``; ``extract`` adds the
    video settings of :class:`~islpose.extract.videos.ExtractConfig`).

    Attributes:
        workers: worker processes (None: all cores).
        executor: ``local`` or ``ray`` (see :mod:`islpose.extract.executors`).
        overwrite: build OUT afresh (beside it, replacing it at the end) and redo every item.
        verify: hash every stored item's source on a rerun, even when its size and
            modification time are unchanged.
        dtype: dtype of the stored multimodal features, ``float16`` or ``float32``.
    """

    workers: int | None = None
    executor: str = "local"
    overwrite: bool = False
    verify: bool = False
    dtype: str = "float16"

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise IslposeError(f"dtype must be one of {', '.join(DTYPES)}, not {self.dtype!r}")


# --------------------------------------------------------------------------- worker side
def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def source_attrs(path: Path) -> dict[str, Any]:
    """What a rerun compares: ``source``, ``source_size``, ``source_mtime_ns``, ``source_sha256``."""
    stat = path.stat()  # before hashing: a file changed meanwhile gets a newer time and is redone
    return {
        "source": str(path),
        "source_size": stat.st_size,
        "source_mtime_ns": stat.st_mtime_ns,
        "source_sha256": file_sha256(path),
    }


def utterance_record(
    data: Landmarks, source: Mapping[str, Any], dtype: str = "float16"
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """What a feature store keeps of one utterance, as ``extract``, ``import-pose`` and
    ``recognize --store`` write it: the landmarks, presence and both feature sets
    (multimodal in ``dtype``), and the attributes (fps, size, the loader's ``attrs`` and
    ``source``, the :func:`source_attrs` taken before the file was read)."""
    arrays = {
        "landmarks": data.landmarks,
        "presence": data.presence,
        **compute_features(data.landmarks, data.presence, data.width, data.height, DTYPES[dtype]),
    }
    return arrays, {"fps": data.fps, "width": data.width, "height": data.height, **data.attrs, **source}


@dataclass(frozen=True)
class Job:
    """One item for a worker: the source, the loader and its options, the feature dtype."""

    item: SourceItem
    load: Loader
    options: Any
    dtype: str


@dataclass
class ItemResult:
    """What a worker sends back: the arrays and attributes of one utterance, or why not."""

    uid: str
    arrays: dict[str, np.ndarray] | None = None
    attrs: dict[str, Any] | None = None
    error: str | None = None

    @property
    def num_frames(self) -> int:
        return 0 if self.arrays is None else len(self.arrays["landmarks"])


def run_job(job: Job, on_frames: OnFrames | None = None) -> ItemResult:
    """Loads one item's landmarks in a worker and computes both feature sets."""
    path, uid = job.item.path, job.item.uid
    try:
        if not path.is_file():
            raise SourceError(f"{path}: file not found")
        source = source_attrs(path)
        arrays, attrs = utterance_record(job.load(path, job.options, on_frames), source, job.dtype)
        return ItemResult(uid, arrays, attrs)
    except SourceError as exc:
        return ItemResult(uid, error=str(exc))
    except Exception as exc:  # noqa: BLE001 - one bad item must not stop the run
        return ItemResult(uid, error=f"{path}: failed: {type(exc).__name__}: {exc}")


# --------------------------------------------------------------------------- main process
class Progress(Protocol):
    """What a run reports as it goes (the CLI draws it; the default ignores it)."""

    def start(self, videos: int) -> None: ...
    def frames(self, n: int) -> None: ...
    def video(self, uid: str, status: str, frames: int, error: str | None) -> None: ...


class NoProgress:
    """A :class:`Progress` that ignores everything."""

    def start(self, videos: int) -> None:
        pass

    def frames(self, n: int) -> None:
        pass

    def video(self, uid: str, status: str, frames: int, error: str | None) -> None:
        pass


@dataclass
class Summary:
    """The outcome of a run: ids done and skipped, ``(id, message)`` failures, frames
    processed in this run, the wall time, and notes for the user (e.g. an old store kept)."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    frames: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def record(self, progress: Progress, uid: str, frames: int = 0, error: str | None = None) -> None:
        """Counts one finished item (done, or failed with ``error``) and tells ``progress``."""
        if error is None:
            self.done.append(uid)
            self.frames += frames
        else:
            self.failed.append((uid, error))
        progress.video(uid, "done" if error is None else "failed", frames, error)


def check_settings(store: Any, out: Path, metadata: Mapping[str, Any]) -> None:
    """A store that already holds utterances must have been made with the same settings
    (``metadata``: root attributes, ``extractor`` a dict); an empty one takes them."""
    if len(store) == 0:
        store.set_metadata(**metadata)
        return
    old, new = _settings(store.metadata, metadata), _settings(metadata, metadata)
    made_by, this_run = _made_by(old), _made_by(new)
    if made_by != this_run:
        raise StoreError(
            f"{out}: made by {made_by}, which {this_run} cannot add to; write to another store "
            "(or pass --overwrite to replace this one)"
        )
    diff = [
        f"{k} {old.get(k, 'unset')} (now {new.get(k, 'unset')})"
        for k in sorted(set(old) | set(new))
        if old.get(k) != new.get(k)
    ]
    if diff:
        raise StoreError(
            f"{out}: was made with other settings: {', '.join(diff)}; use the same options, "
            "--overwrite to start it afresh, or another output file"
        )


def _settings(meta: Mapping[str, Any], keys: Mapping[str, Any]) -> dict[str, Any]:
    """The root attributes named in ``keys`` and the ``extractor`` entries, nested ones as
    ``holistic.model_complexity``: one flat mapping of plain values to compare and print."""
    flat: dict[str, Any] = {k: meta.get(k) for k in keys if k != "extractor"}
    for key, value in (meta.get("extractor") or {}).items():
        if isinstance(value, Mapping):
            flat.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    return {k: v for k, v in flat.items() if v not in (None, "")}


def _made_by(settings: Mapping[str, Any]) -> str:
    """The command whose stores have these settings (see :func:`_settings`)."""
    if "importer" in settings:
        return "`islpose import-pose`"
    if any(k == "mediapipe_version" or k.startswith("holistic") for k in settings):
        return "`islpose extract`"
    return "another kind of run"


def unchanged(store: Any, item: SourceItem, verify: bool = False) -> bool:
    """True when the stored ``item``'s source is the one stored: same size, and the same
    modification time (no read) or, when that changed or ``verify``, the same SHA-256 (then
    the new time is stored, so the next rerun does not read the file again)."""
    attrs = store.attrs(item.uid, ("source_size", "source_mtime_ns", "source_sha256"))
    try:
        stat = item.path.stat()
        if stat.st_size != attrs.get("source_size"):
            return False
        if stat.st_mtime_ns == attrs.get("source_mtime_ns") and not verify:
            return True
        if file_sha256(item.path) != attrs.get("source_sha256"):
            return False
    except OSError:
        return False
    if stat.st_mtime_ns != attrs.get("source_mtime_ns"):
        store.update_attrs(item.uid, {"source_mtime_ns": stat.st_mtime_ns})
    return True


def _write_results(
    store: Any, jobs: Iterator[tuple[Job, Any]], summary: Summary, progress: Progress, count_frames: bool
) -> None:
    """Writes each finished item into ``store``; an item that cannot be stored fails alone."""
    for job, result in jobs:
        uid, path = job.item.uid, job.item.path
        if isinstance(result, BaseException):
            result = ItemResult(uid, error=f"{path}: {result}")
        if result.error is None:
            try:
                store.write(uid, result.arrays, result.attrs, overwrite=True)
            except (StoreError, ValueError, TypeError) as exc:
                result.error = f"{path}: cannot be stored: {exc}"
        if result.error is None and count_frames:
            progress.frames(result.num_frames)
        summary.record(progress, uid, result.num_frames if result.error is None else 0, result.error)


def _run_into(
    path: Path,
    mode: str,
    items: Sequence[SourceItem],
    load: Loader,
    options: Any,
    metadata: Mapping[str, Any],
    config: ImportConfig,
    progress: Progress,
    summary: Summary,
    out: Path,
) -> None:
    from islpose.extract.executors import default_workers, make_executor
    from islpose.io.store import FeatureStore

    with FeatureStore(path, mode) as store:
        check_settings(store, out, metadata)
        workers = config.workers
        if config.executor == "local":  # no more processes than items
            workers = min(workers or default_workers(), len(items))
        progress.start(len(items))

        def pending() -> Iterator[Job]:
            stored = set(store.ids())
            for item in items:
                if item.uid in stored and unchanged(store, item, config.verify):
                    summary.skipped.append(item.uid)
                    progress.video(item.uid, "skipped", 0, None)
                else:
                    yield Job(item, load, options, config.dtype)

        with make_executor(config.executor, workers) as executor:
            results = executor.map_unordered(run_job, pending(), progress.frames)
            _write_results(store, results, summary, progress, count_frames=not executor.streams_frames)


def run_items(
    items: Sequence[SourceItem],
    out: str | Path,
    load: Loader,
    options: Any,
    metadata: Mapping[str, Any],
    config: ImportConfig = ImportConfig(),
    progress: Progress | None = None,
) -> Summary:
    """Loads every item with ``load`` and writes landmarks and features into the store ``out``.

    Args:
        items: the sources (see :mod:`islpose.extract.inputs`).
        out: the HDF5 feature store (created, resumed when it exists, or rebuilt with
            ``config.overwrite``).
        load: the loader, ``load(path, options, on_frames) -> Landmarks``, picklable.
        options: its options (picklable), handed to every call.
        metadata: root attributes, e.g. ``{"mediapipe_version": ..., "extractor": {...}}``;
            a store made with other ones is refused.
        config: workers, executor, overwrite, verify, dtype.
        progress: receives progress events (e.g. the CLI's progress bar).

    Returns:
        The run's :class:`Summary`; failed items are listed there, never raised.

    Raises:
        IslposeError: ``out`` is not a feature store or was made with other settings.

    Example (another kind of source; ``load_pose`` is a module-level function):
        >>> items = find_sources(["poses/"], {".pose"}, "pose file")       # doctest: +SKIP
        >>> summary = run_items(items, "feats.h5", load_pose, None,        # doctest: +SKIP
        ...                     {"extractor": {"source": "pose-format"}})
    """
    from islpose.io.atomic import Discard, atomic_path
    from islpose.io.store import FeatureStore

    progress = progress or NoProgress()
    out = Path(out)
    summary = Summary()
    start = time.perf_counter()
    if not config.overwrite:
        new = not out.exists()
        try:
            _run_into(out, "a", items, load, options, metadata, config, progress, summary, out)
        finally:
            if new and not summary.done and out.exists():  # a run that stored nothing leaves no empty store
                out.unlink()
                summary.notes.append(f"{out}: no item succeeded, so no store was written")
    else:
        if out.exists():
            FeatureStore(out, "r").close()  # refuses a file that is not an islpose store
        with atomic_path(out) as tmp:
            _run_into(tmp, "w", items, load, options, metadata, config, progress, summary, out)
            if not summary.done:
                summary.notes.append(
                    f"{out}: no item succeeded, so the old store was kept as it was"
                    if out.exists()
                    else f"{out}: no item succeeded, so no store was written"
                )
                raise Discard
    summary.seconds = time.perf_counter() - start
    return summary
