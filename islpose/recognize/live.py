"""Running a live source through a :class:`~islpose.recognize.stream.StreamingRecognizer`.

:func:`run_live` is the loop behind ``islpose live``: frames from a
:class:`~islpose.recognize.sources.FrameSource` go into a stream, every committed gloss
goes to a callback, and the stream is flushed when the source ends (or on Ctrl-C).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from islpose.recognize.recognizer import Recognizer
from islpose.recognize.sources import FrameSource
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


def run_live(source: FrameSource, recognizer: Recognizer, config: StreamConfig | None = None, *,
             on_events: Callable[[list[LiveEvent], LiveStats], None] | None = None,
             on_frame: Callable[[LiveStats], None] | None = None) -> LiveStats:
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
