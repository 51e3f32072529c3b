"""Live recognition: landmarks go in frame by frame, committed glosses come out while the signer signs.

A :class:`StreamingRecognizer` wraps a :class:`~islpose.recognize.Recognizer` (a PyTorch
student or an ONNX export). Every ``hop`` seconds of new media it re-decodes the most recent
``window`` seconds (overlapping windows, as streaming speech recognisers with full-context
encoders do) and compares the hypothesis with what it has already committed:

* glosses of the hypothesis after the committed ones are *candidates* (the committed
  glosses are aligned to the start of the hypothesis by edit distance, so a gloss whose
  segment moved a little is not committed twice);
* a candidate is **committed** (final) once its segment ends at least ``right_context``
  seconds before the newest frame, candidates after it waiting their turn: the model has
  then seen enough of what follows the sign for its decision to be stable;
* the other candidates are the **partial** hypothesis (``final=False``), which may change.

:meth:`StreamingRecognizer.flush` ends the stream: it decodes everything the stream has
seen in one piece (the offline decode, up to ``max_flush`` seconds) and commits the
glosses of that decode after the ones already committed, found by aligning the committed
glosses to it (least edit distance). So whenever the committed glosses are a prefix of the
offline result, committed plus flushed glosses *are* the offline result of the same model on
the same input, with the offline times for the flushed ones; where an early commit
disagreed with the later decode, the committed gloss stands (a commit is never withdrawn).
A causal or limited-lookahead student (``lstm_lookahead``) decides each frame after its
lookahead, so it needs less right context than a BiLSTM for the same agreement.

Times are media seconds (the ``times`` given to :meth:`~StreamingRecognizer.push`, by
default frame index / fps); ``emitted_at`` is the time of the newest frame seen when the
gloss was committed, so ``emitted_at - end`` is the commit latency in media time.

Example:
    >>> from islpose import Recognizer
    >>> rec = Recognizer.from_checkpoint("runs/lstm_lookahead/best.pt", beam=1)  # doctest: +SKIP
    >>> stream = rec.stream(fps=25, width=640, height=480, uid="cam0")  # doctest: +SKIP
    >>> for landmarks, t in frames:  # (543, 4) Holistic landmarks and media seconds  # doctest: +SKIP
    ...     for event in stream.push(landmarks, t):
    ...         print(event.gloss, event.start, event.end)
    ...     print([e.gloss for e in stream.partial()])
    >>> final = stream.flush()  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from islpose.errors import IslposeError
from islpose.features.layout import NUM_LANDMARKS, Landmarks, presence_of

if TYPE_CHECKING:
    from islpose.recognize.recognizer import Recognizer


@dataclass
class LiveEvent:
    """One gloss of a live stream.

    Attributes:
        id: the stream's id (e.g. the source's stem).
        gloss: the gloss.
        start, end: media seconds of the sign.
        score: the gloss's highest posterior probability over its frames, in [0, 1].
        emitted_at: media time of the newest frame seen when the event was made.
        final: True for a committed gloss, False for part of the partial hypothesis.
    """

    id: str
    gloss: str
    start: float
    end: float
    score: float
    emitted_at: float
    final: bool = True

    def to_dict(self) -> dict:
        """``{"id", "gloss", "start", "end", "score", "emitted_at"}``, plus ``"final": false`` for a partial."""
        out = {
            "id": self.id,
            "gloss": self.gloss,
            "start": self.start,
            "end": self.end,
            "score": self.score,
            "emitted_at": self.emitted_at,
        }
        if not self.final:
            out["final"] = False
        return out


@dataclass
class StreamConfig:
    """How a :class:`StreamingRecognizer` cuts the stream and when it commits.

    Attributes:
        hop: seconds of new media between two decodes (the stride of the windows).
        window: seconds of the most recent media each decode reads (0: everything since
            the start, up to ``max_flush``).
        right_context: seconds that must follow a gloss's end before it is committed.
        max_flush: seconds of media kept for the final decode of :meth:`~StreamingRecognizer.flush`;
            frames older than this (and than the window) are let go.
    """

    hop: float = 0.25
    window: float = 12.0
    right_context: float = 0.4
    max_flush: float = 300.0

    def check(self) -> None:
        """Raises IslposeError on a value out of range."""
        if not self.hop > 0:
            raise IslposeError(f"hop must be > 0 seconds, got {self.hop!r}")
        if not self.window >= 0:
            raise IslposeError(f"window must be >= 0 seconds (0: all), got {self.window!r}")
        if self.window and self.window < 2 * self.right_context + self.hop:
            raise IslposeError(
                f"window ({self.window} s) must be at least 2 x right_context + hop "
                f"({2 * self.right_context + self.hop} s)"
            )
        if not self.right_context >= 0:
            raise IslposeError(f"right_context must be >= 0 seconds, got {self.right_context!r}")
        if not self.max_flush > 0:
            raise IslposeError(f"max_flush must be > 0 seconds, got {self.max_flush!r}")


def _edit_distance(a: Sequence[str], b: Sequence[str]) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


def committed_prefix(committed: Sequence[str], hypothesis: Sequence[str], limit: int | None = None) -> int:
    """How many glosses at the start of ``hypothesis`` the ``committed`` glosses stand for:
    the ``k <= limit`` whose ``hypothesis[:k]`` is closest (edit distance) to ``committed``,
    the largest such ``k`` on a tie. When ``committed`` is a prefix of ``hypothesis`` (and
    ``limit`` allows) this is ``len(committed)``."""
    top = len(hypothesis) if limit is None else min(limit, len(hypothesis))
    costs = [_edit_distance(committed, hypothesis[:k]) for k in range(top + 1)]
    return top - int(np.argmin(costs[::-1]))


class StreamingRecognizer:
    """Landmarks in, frame by frame; committed glosses out (see the module docstring).

    Args:
        recognizer: the model and decoder (the offline result this stream converges to).
        fps: the media's frame rate (frames per second, > 0).
        width, height: image size in pixels (the landmarks are normalised to it).
        config: windows and the commit rule.
        uid: the events' ``id``.
    """

    def __init__(
        self,
        recognizer: Recognizer,
        fps: float,
        width: int,
        height: int,
        config: StreamConfig | None = None,
        *,
        uid: str = "live",
    ) -> None:
        if not fps > 0:
            raise IslposeError(f"frame rate must be > 0, got {fps!r}")
        if not (width > 0 and height > 0):
            raise IslposeError(f"image size must be positive, got {width}x{height}")
        self.recognizer, self.fps, self.width, self.height = recognizer, float(fps), int(width), int(height)
        self.config = config or StreamConfig()
        self.config.check()
        self.uid = uid
        self._frames: list[np.ndarray] = []  # (543, 4) float32 each
        self._times: list[float] = []
        self._first = 0  # index (since the start) of self._frames[0]
        self._committed: list[LiveEvent] = []
        self._partial: list[LiveEvent] = []
        self._decoded_at = -np.inf
        self._done = False

    @property
    def committed(self) -> list[LiveEvent]:
        """All glosses committed so far, in order."""
        return list(self._committed)

    @property
    def num_frames(self) -> int:
        """Frames pushed since the start."""
        return self._first + len(self._frames)

    @property
    def newest(self) -> float:
        """Media time of the newest frame (-inf before the first)."""
        return self._times[-1] if self._times else -np.inf

    def push(self, landmarks: np.ndarray, times: float | Sequence[float] | np.ndarray | None = None) -> list[LiveEvent]:
        """Adds frames; returns the glosses this commits (often none).

        Args:
            landmarks: (543, 4) one frame or (T, 543, 4) frames of Holistic landmarks
                (x, y normalised to the image; NaN where missing).
            times: media seconds of the frames (a number for one frame, (T,) for several),
                increasing; default: frame index / fps.
        """
        if self._done:
            raise IslposeError("the stream was flushed; start a new one")
        lm = np.asarray(landmarks, dtype=np.float32)
        if lm.shape == (NUM_LANDMARKS, 4):
            lm = lm[None]
        if lm.ndim != 3 or lm.shape[1:] != (NUM_LANDMARKS, 4):
            raise IslposeError(f"landmarks must be ({NUM_LANDMARKS}, 4) or (T, {NUM_LANDMARKS}, 4), got {lm.shape}")
        if times is None:
            t = (self.num_frames + np.arange(len(lm))) / self.fps
        else:
            t = np.atleast_1d(np.asarray(times, dtype=np.float64))
            if t.shape != (len(lm),):
                raise IslposeError(f"{len(lm)} frames need {len(lm)} times, got shape {t.shape}")
        if not np.isfinite(t).all() or (np.diff(t) <= 0).any() or (len(t) and t[0] <= self.newest):
            raise IslposeError("frame times must be finite and increasing")
        self._frames.extend(lm)
        self._times.extend(t.tolist())
        self._forget()
        if self._frames and self.newest - self._decoded_at >= self.config.hop:
            return self._step()
        return []

    def partial(self) -> list[LiveEvent]:
        """The uncommitted rest of the newest hypothesis (``final=False``); it may change."""
        return list(self._partial)

    def flush(self) -> list[LiveEvent]:
        """Ends the stream: decodes all kept media at once and commits its glosses after
        the committed ones (see the module docstring). Further pushes are an error."""
        if self._done:
            return []
        self._done = True
        self._partial = []
        if not self._frames:
            return []
        hypothesis = self._decode(0)
        events = hypothesis[self._matched(hypothesis, self._times[0], limit=False) :]
        self._committed.extend(events)
        return events

    def _forget(self) -> None:
        """Lets go of frames older than both the window and ``max_flush``."""
        keep = max(self.config.window, self.config.max_flush)
        old = int(np.searchsorted(self._times, self.newest - keep, side="left"))
        if old > 0:
            del self._frames[:old], self._times[:old]
            self._first += old

    def _step(self) -> list[LiveEvent]:
        self._decoded_at = self.newest
        window = self.config.window
        begin = 0 if not window else int(np.searchsorted(self._times, self.newest - window, side="left"))
        hypothesis = self._decode(begin)
        candidates = hypothesis[self._matched(hypothesis, self._times[begin], limit=True) :]
        new: list[LiveEvent] = []
        for event in candidates:
            if event.end > self.newest - self.config.right_context:
                break
            new.append(event)
        self._committed.extend(new)
        self._partial = [
            LiveEvent(e.id, e.gloss, e.start, e.end, e.score, e.emitted_at, final=False) for e in candidates[len(new) :]
        ]
        return new

    def _matched(self, hypothesis: list[LiveEvent], since: float, limit: bool) -> int:
        """How many glosses at the start of ``hypothesis`` (decoded from media time ``since``
        on) are already committed: the committed glosses that end after ``since`` aligned to
        it (:func:`committed_prefix`); with ``limit``, only glosses that start before the
        last committed gloss's end can be matched."""
        held = [e.gloss for e in self._committed if e.end > since]
        if not held:
            return 0
        top = None
        if limit:
            frontier = self._committed[-1].end
            top = next((i for i, e in enumerate(hypothesis) if e.start >= frontier), len(hypothesis))
        return committed_prefix(held, [e.gloss for e in hypothesis], top)

    def _decode(self, begin: int) -> list[LiveEvent]:
        """The hypothesis of the kept frames from ``begin`` on, as events in media time
        (none where nobody is in view)."""
        lm = np.stack(self._frames[begin:])  # (T, 543, 4)
        data = Landmarks(lm, presence_of(lm), self.fps, self.width, self.height, source=self.uid)
        try:
            result = self.recognizer.decode_input(data, uid=self.uid)[0]
        except IslposeError:  # nobody detected in these frames yet
            return []
        times = self._times[begin:]
        events = []
        for seg in result.segments:
            first = min(int(round(seg.start * self.fps)), len(times) - 1)
            last = min(max(int(round(seg.end * self.fps)), first + 1), len(times)) - 1  # inclusive
            start, end = times[first], times[last] + 1.0 / self.fps
            events.append(
                LiveEvent(self.uid, seg.gloss, round(start, 4), round(end, 4), seg.score, round(self.newest, 4))
            )
        return events
