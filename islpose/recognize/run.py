"""Recognising many inputs into files: what ``islpose recognize`` runs.

Example:
    >>> rec = Recognizer.from_checkpoint("runs/bilstm/best.pt")  # doctest: +SKIP
    >>> summary = recognize_files(rec, ["clips/"], "out.jsonl", eaf_dir="eaf")  # doctest: +SKIP
    >>> summary.done, summary.failed  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from islpose.errors import IslposeError
from islpose.io.atomic import Discard, atomic_path, check_output
from islpose.io.jsonl import write_jsonl_line
from islpose.io.pose import POSE_EXTENSIONS
from islpose.recognize.recognizer import Recognizer, read_input
from islpose.recognize.segments import Recognition
from islpose.recognize.writers import write_eaf, write_srt

# plot(model, recognition, log_probs (T', V), fps, path): draws one recognised input
Plotter = Callable[[Any, Recognition, Any, float, Path], None]

if TYPE_CHECKING:
    from islpose.extract.video import VideoOptions
    from islpose.extract.videos import ExtractConfig


@dataclass(frozen=True)
class InputItem:
    """One input: its id (file stem or manifest id) and path."""

    uid: str
    path: Path


@dataclass
class RecognizeSummary:
    """Ids recognised, and (input, reason) of those that failed."""

    done: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def find_inputs(inputs: Sequence[str | Path]) -> tuple[list[InputItem], list[tuple[str, str]]]:
    """Videos and ``.pose`` files named by ``inputs`` (files, folders searched recursively, manifests).

    Returns:
        The inputs in order (folders sorted), and (input, reason) for every input that
        cannot be used (missing, an empty folder, a second file with an id already taken).
    """
    from islpose.extract.inputs import VIDEO_EXTENSIONS, find_sources

    items: dict[str, InputItem] = {}
    failed: list[tuple[str, str]] = []
    for raw in inputs:
        try:
            found = find_sources([raw], VIDEO_EXTENSIONS | POSE_EXTENSIONS, "video or .pose")
        except IslposeError as exc:
            failed.append((str(raw), str(exc)))
            continue
        for source in found:
            first = items.setdefault(source.uid, InputItem(source.uid, source.path))
            if first.path.resolve() != source.path.resolve():
                failed.append(
                    (source.origin, f"{source.origin}: id {source.uid!r} is already used by {first.path} (rename one)")
                )
    return list(items.values()), failed


def _outputs(
    items: list[InputItem],
    jsonl: str | Path,
    store: str | Path | None,
    eaf_dir: str | Path | None,
    srt_dir: str | Path | None,
    plot_dir: str | Path | None,
    overwrite: bool,
) -> dict[str, list[tuple[Callable, Path]]]:
    """uid -> (writer, path) of its EAF and SRT files; refuses existing files (the JSONL,
    the store and the pictures too) unless ``overwrite``, and a missing [viz] extra for
    pictures, before any work."""
    if plot_dir is not None:
        from islpose._optional import require

        require("matplotlib", "viz")  # a missing [viz] extra is one line before any work
    check_output(jsonl, overwrite)
    if store is not None:
        check_output(store, overwrite, "feature store")
    out: dict[str, list[tuple[Callable, Path]]] = {item.uid: [] for item in items}
    for folder, suffix, writer in (
        (eaf_dir, ".eaf", write_eaf),
        (srt_dir, ".srt", write_srt),
        (plot_dir, ".png", None),
    ):
        if folder is None:
            continue
        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise IslposeError(f"{folder}: not a folder")
        for item in items:
            path = check_output(folder / f"{item.uid}{suffix}", overwrite)
            if writer is not None:
                out[item.uid].append((writer, path))
    for folder in (eaf_dir, srt_dir, plot_dir):
        if folder is not None:
            Path(folder).mkdir(parents=True, exist_ok=True)
    return out


def recognize_files(
    recognizer: Recognizer,
    inputs: Sequence[str | Path],
    out: str | Path,
    *,
    eaf_dir: str | Path | None = None,
    srt_dir: str | Path | None = None,
    store: str | Path | None = None,
    plot_dir: str | Path | None = None,
    overwrite: bool = False,
    on_start: Callable[[int], None] | None = None,
    on_done: Callable[[str, Recognition | None, str | None], None] | None = None,
    plot: Plotter | None = None,
    extract: ExtractConfig | None = None,
) -> RecognizeSummary:
    """Recognises every input and writes one JSON line per recognised input to ``out``.

    Args:
        recognizer: the model and decoder.
        inputs: videos, ``.pose`` files, folders of them, or manifests with ``id`` and ``video``.
        out: the JSONL file (lines are flushed as they are written).
        eaf_dir, srt_dir: also write ``<id>.eaf`` / ``<id>.srt`` there.
        plot_dir: also draw ``<id>.png`` there with ``plot`` (e.g.
            :func:`islpose.viz.plot_recognition`: the posteriorgram with the recognised
            segments, needs ``islpose[viz]``).
        store: also keep each input's landmarks and features in this new feature store.
        overwrite: replace existing output files (otherwise they are refused before any work).
        on_start: called with the number of inputs found.
        on_done: called per input with (id or input, recognition, None) or (id or input, None, reason).
        plot: draws one input's picture: ``plot(model, recognition, log_probs, fps, path)``
            (required with ``plot_dir``).
        extract: how videos are extracted (backend, model, Holistic options); None: the defaults.

    Returns:
        What was done and what failed; failures never stop the run.
    """
    if plot_dir is not None and plot is None:
        raise IslposeError("plot_dir needs a plot function (e.g. islpose.viz.plot_recognition)")
    items, failed = find_inputs(inputs)
    writers = _outputs(items, out, store, eaf_dir, srt_dir, plot_dir, overwrite)
    summary = RecognizeSummary(failed=list(failed))
    notify = on_done or (lambda *args: None)
    for origin, reason in failed:
        notify(origin, None, reason)
    if on_start is not None:
        on_start(len(items))
    from islpose.extract.videos import ExtractConfig

    extract = extract or ExtractConfig(workers=1)
    videos = any(item.path.suffix.lower() not in POSE_EXTENSIONS for item in items)
    video_options = extract.video_options() if videos else None  # a missing model fails here, once
    new_store = store is not None and not Path(store).exists()
    feature_store = _new_store(store, items, extract)
    # A new file appears with the first recognised input and gets each line as it is
    # recognised (a killed run keeps them); a file being replaced (--overwrite) stays as it
    # was until the new one is complete. A run that recognises nothing writes nothing.
    replacing = Path(out).exists()
    target = atomic_path(out) if replacing else contextlib.nullcontext(Path(out))
    try:
        with target as path, contextlib.ExitStack() as files:
            handle = None
            for item in items:
                try:
                    record = _recognize_one(
                        recognizer, item, writers[item.uid], feature_store, plot_dir, plot, video_options
                    )
                except Exception as exc:  # noqa: BLE001 - one bad input must not stop the run
                    reason = str(exc) if isinstance(exc, IslposeError) else f"{type(exc).__name__}: {exc}"
                    if not reason.startswith(str(item.path)):
                        reason = f"{item.path}: {reason}"
                    summary.failed.append((str(item.path), reason))
                    notify(item.uid, None, reason)
                    continue
                if handle is None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    handle = files.enter_context(open(path, "w", encoding="utf-8"))
                write_jsonl_line(record.to_dict(), handle)
                summary.done.append(item.uid)
                notify(item.uid, record, None)
            if handle is None and replacing:
                raise Discard  # nothing recognised: an existing --out stays as it was
    finally:
        if feature_store is not None:
            feature_store.close()
            if new_store and not summary.done:
                Path(store).unlink(missing_ok=True)
    return summary


def _new_store(store: str | Path | None, items: Sequence[InputItem], extract: ExtractConfig):
    """The new feature store that keeps what was recognised, or None. Its root attributes
    are those ``extract`` writes (``import-pose`` when every input is a ``.pose`` file), so
    that command can add to it."""
    if store is None:
        return None
    from islpose.extract.import_pose import import_metadata
    from islpose.io import FeatureStore

    videos = any(item.path.suffix.lower() not in POSE_EXTENSIONS for item in items)
    return FeatureStore(store, "w", metadata=extract.metadata() if videos else import_metadata())


def _recognize_one(
    recognizer: Recognizer,
    item: InputItem,
    writers: list[tuple[Callable, Path]],
    feature_store,
    plot_dir: str | Path | None,
    plot: Plotter | None,
    video_options: VideoOptions | None = None,
) -> Recognition:
    """Recognises one input, keeps it in ``feature_store`` and writes its EAF, SRT and
    picture; returns its record (raises on any failure)."""
    from islpose.extract.runner import source_attrs, utterance_record

    source = source_attrs(item.path) if feature_store is not None else None  # before reading, as extract
    data = read_input(item.path, video_options)
    record, log_probs = recognizer.decode_input(data, uid=item.uid)
    if feature_store is not None:
        feature_store.write(item.uid, *utterance_record(data, source))
    for writer, path in writers:
        writer(record, path)
    if plot_dir is not None and plot is not None:
        plot(recognizer.model, record, log_probs, data.fps, Path(plot_dir) / f"{item.uid}.png")
    return record
