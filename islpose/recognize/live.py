"""Running a live source through a :class:`~islpose.recognize.stream.StreamingRecognizer`.

:func:`run_live` runs one source: frames from a
:class:`~islpose.recognize.sources.FrameSource` go into a stream, every committed gloss
goes to a callback, and the stream is flushed when the source ends (or on Ctrl-C).
:func:`live_sources`, behind ``islpose live``, runs several sources in turn and writes the
committed glosses as JSON lines.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from islpose.errors import IslposeError
from islpose.io.atomic import Discard, atomic_path, check_output
from islpose.io.jsonl import write_jsonl_line
from islpose.recognize.recognizer import Recognizer
from islpose.recognize.run import find_inputs
from islpose.recognize.sources import FrameSource, camera_index, open_source
from islpose.recognize.stream import LiveEvent, StreamConfig, StreamingRecognizer


@dataclass
class LiveStats:
    """How a live run went (for the display and the benchmark).

    Attributes:
        uid: the source's id.
        frames: frames recognised; dropped: frames the source dropped (cameras).
        media_seconds: media time of the newest frame; wall_seconds: time the run took.
        events: the committed glosses, in order.
        partial: the partial hypothesis after the newest frame.
        interrupted: the run was stopped by Ctrl-C (the stream was still flushed).
    """

    uid: str
    frames: int = 0
    dropped: int = 0
    media_seconds: float = 0.0
    wall_seconds: float = 0.0
    events: list[LiveEvent] = field(default_factory=list)
    partial: list[LiveEvent] = field(default_factory=list)
    interrupted: bool = False

    @property
    def fps(self) -> float:
        """Frames recognised per wall-clock second."""
        return self.frames / self.wall_seconds if self.wall_seconds > 0 else 0.0

    @property
    def realtime_factor(self) -> float:
        """Media seconds per wall-clock second (>= 1: keeps up with real time)."""
        return self.media_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0

    @property
    def latency(self) -> float | None:
        """Commit latency of the newest committed gloss (emitted_at - end, media seconds)."""
        return round(self.events[-1].emitted_at - self.events[-1].end, 4) if self.events else None


def run_live(
    source: FrameSource,
    recognizer: Recognizer,
    config: StreamConfig | None = None,
    *,
    on_events: Callable[[list[LiveEvent], LiveStats], None] | None = None,
    on_frame: Callable[[LiveStats], None] | None = None,
) -> LiveStats:
    """Recognises a source live until it ends; Ctrl-C ends it early (and is not raised).

    Args:
        source: the frames.
        recognizer: the model and decoder.
        config: windows and commit rule of the stream.
        on_events: called with the newly committed glosses (also those of the final flush).
        on_frame: called after every frame (e.g. to refresh a display).

    Returns:
        The run's :class:`LiveStats`; the source is closed.
    """
    stream: StreamingRecognizer = recognizer.stream(source.fps, source.width, source.height, config, uid=source.uid)
    stats = LiveStats(source.uid)
    start = time.perf_counter()

    def commit(events: list[LiveEvent]) -> None:
        if events:
            stats.events.extend(events)
            if on_events is not None:
                on_events(events, stats)

    try:
        for landmarks, t in source.frames():
            events = stream.push(landmarks, t)
            stats.frames, stats.dropped, stats.media_seconds = source.delivered, source.dropped, t + 1 / source.fps
            stats.wall_seconds = time.perf_counter() - start
            stats.partial = stream.partial()
            commit(events)
            if on_frame is not None:
                on_frame(stats)
    except KeyboardInterrupt:
        stats.interrupted = True
    finally:
        source.close()
    stats.partial = []
    commit(stream.flush())
    stats.wall_seconds = time.perf_counter() - start
    stats.dropped = source.dropped
    return stats


@dataclass
class LiveSummary:
    """What :func:`live_sources` did.

    Attributes:
        done: the stats of each source that ran, in order.
        failed: (source, reason) of each source that could not be used.
        written: JSON lines written to ``out``.
    """

    done: list[LiveStats] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    written: int = 0


def find_sources(inputs: Sequence[str]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The sources ``inputs`` name: camera indices, videos, ``.pose`` files, folders of them.

    Returns:
        (uid, source) to run, in order (a camera's uid is ``cam<index>``), and (input,
        reason) of each input that cannot be used.
    """
    todo, failed = [], []
    for item in inputs:
        if camera_index(item) is not None:
            todo.append((f"cam{item}", item))
            continue
        found, bad = find_inputs([item])
        todo += [(it.uid, str(it.path)) for it in found]
        failed += bad
    return todo, failed


@contextlib.contextmanager
def _events_file(out: str | Path | None, summary: LiveSummary) -> Iterator[TextIO | None]:
    """The open JSONL file for the committed glosses (None without ``out``). A new file gets
    each line as it is committed; a file being replaced stays as it was until the run ends;
    a run where no source could be used leaves no file."""
    if out is None:
        yield None
        return
    out = Path(out)
    replacing = out.exists()
    with contextlib.ExitStack() as stack:
        out.parent.mkdir(parents=True, exist_ok=True)
        path = stack.enter_context(atomic_path(out)) if replacing else out
        handle = stack.enter_context(open(path, "w", encoding="utf-8"))
        yield handle  # on an error the lines already committed stay readable
        if not summary.done:
            handle.close()
            if not replacing:
                path.unlink()
                return
            raise Discard


def live_sources(
    inputs: Sequence[str],
    recognizer: Recognizer,
    config: StreamConfig | None = None,
    *,
    out: str | Path | None = None,
    overwrite: bool = False,
    realtime: bool = False,
    max_seconds: float | None = None,
    on_events: Callable[[list[LiveEvent], LiveStats], None] | None = None,
    on_frame: Callable[[LiveStats], None] | None = None,
    on_source: Callable[[LiveStats], None] | None = None,
    on_error: Callable[[str, str], None] | None = None,
) -> LiveSummary:
    """Recognises each source live, in turn, and writes every committed gloss to ``out``.

    Args:
        inputs: camera indices ("0", "1", ...), videos, ``.pose`` files or folders of them.
        recognizer: the model and decoder.
        config: windows and commit rule of the streams.
        out: JSONL file, one :meth:`LiveEvent.to_dict` line per committed gloss (None: none).
        overwrite: replace an existing ``out``.
        realtime: pace files at their frame rate (cameras always run in real time).
        max_seconds: stop a camera after this many seconds.
        on_events, on_frame: see :func:`run_live`.
        on_source: called with each source's stats when it has ended.
        on_error: called with (source, reason) for each source that cannot be used; the
            run goes on with the next.

    Returns:
        The :class:`LiveSummary`.

    Raises:
        IslposeError: ``out`` exists and ``overwrite`` is False, or a bad ``config``.
    """
    (config or StreamConfig()).check()
    if out is not None:
        check_output(out, overwrite)
    todo, failed = find_sources(inputs)
    summary = LiveSummary()

    def fail(name: str, reason: str) -> None:
        summary.failed.append((name, reason))
        if on_error is not None:
            on_error(name, reason)

    for name, reason in failed:
        fail(name, reason)
    with _events_file(out, summary) as handle:

        def committed(events: list[LiveEvent], stats: LiveStats) -> None:
            if handle is not None:
                for event in events:
                    write_jsonl_line(event.to_dict(), handle)
                summary.written += len(events)
            if on_events is not None:
                on_events(events, stats)

        for uid, name in todo:
            try:
                source = open_source(
                    name, realtime=realtime, uid=None if uid.startswith("cam") else uid, max_seconds=max_seconds
                )
                stats = run_live(source, recognizer, config, on_events=committed, on_frame=on_frame)
            except IslposeError as exc:
                fail(name, str(exc) if name in str(exc) else f"{name}: {exc}")
                continue
            summary.done.append(stats)
            if on_source is not None:
                on_source(stats)
    return summary
