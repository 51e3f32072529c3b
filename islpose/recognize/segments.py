"""Gloss segments from CTC posteriors: where in time each recognised gloss was signed.

A decoder (greedy or beam search) gives the labelling; :func:`segment_frames` aligns
exactly that labelling to the frames:

1. The CTC alignment of the labelling (:func:`forced_align`) gives each gloss its spike, the
   frames where its label beats the blank: the model's evidence that the gloss is under way
   there. The gloss's segment must hold its spike (an anchor).
2. A spike is a poor clock for where a sign starts and ends (a BiLSTM may fire anywhere in
   the sign, or before it). The posteriors *among the glosses* (blank left out) say better
   which sign is under way, so the frames are cut, in order, into one run per gloss where
   that gloss wins over its neighbours in the labelling (a monotonic Viterbi segmentation
   through the anchors), with runs of "rest" before the first and after the last gloss where
   no gloss of the labelling is above chance.
3. Signers start and end with their hands at rest. Given the frames in between
   (:func:`islpose.features.signing_span`, from the wrists), the frames outside are rest and
   a spike there is no anchor: a BiLSTM may emit the first gloss on the clip's first frame,
   before the hands have moved.

Equal neighbours, which the posteriors cannot tell apart, share their joint run in equal
parts.

Output frame ``i`` of a model that subsamples time by ``s`` covers input frames
``[i * s, (i + 1) * s)``, so times are in seconds of the input video. Pure numpy (no
torch), so an app running an ONNX model can use it.

Example:
    >>> import numpy as np
    >>> lp = np.log(np.array([[.9, .05, .05], [.1, .8, .1], [.9, .08, .02], [.1, .1, .8]]))
    >>> [(s.gloss, s.start, s.end) for s in gloss_segments(lp, [1, 2], ["<blank>", "A", "B"],
    ...                                                   fps=4, subsample=1, num_frames=4)]
    [('A', 0.25, 0.75), ('B', 0.75, 1.0)]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from islpose.errors import IslposeError


@dataclass(frozen=True)
class Segment:
    """One recognised gloss.

    Attributes:
        gloss: the gloss.
        start, end: seconds from the start of the input (``0 <= start < end <= duration``).
        score: the gloss's highest posterior probability over its frames, in [0, 1].

    Example:
        >>> Segment("GO", 0.4, 0.8, 0.7).to_dict()
        {'gloss': 'GO', 'start': 0.4, 'end': 0.8, 'score': 0.7}
    """

    gloss: str
    start: float
    end: float
    score: float

    def to_dict(self) -> dict:
        """``{"gloss", "start", "end", "score"}``."""
        return asdict(self)


@dataclass(frozen=True)
class Recognition:
    """What a :class:`~islpose.recognize.Recognizer` recognised in one input.

    Attributes:
        id: the input's id (a file's stem unless given).
        source: the input file, or None for landmarks a caller gave.
        duration: seconds of the input.
        segments: the recognised glosses in order, with their times.

    Example:
        >>> rec = Recognition("clip", None, 1.0, (Segment("I", 0.1, 0.4, 0.9), Segment("GO", 0.4, 0.8, 0.7)))
        >>> rec.glosses
        'I GO'
        >>> rec.to_dict()["segments"][1]
        {'gloss': 'GO', 'start': 0.4, 'end': 0.8, 'score': 0.7}
    """

    id: str
    source: str | None
    duration: float
    segments: tuple[Segment, ...] = ()

    @property
    def glosses(self) -> str:
        """The glosses, space-separated."""
        return " ".join(s.gloss for s in self.segments)

    def to_dict(self) -> dict:
        """The JSON record (a line of ``islpose recognize --out``): ``{"id", "source",
        "duration", "glosses", "segments": [{"gloss", "start", "end", "score"}, ...]}``."""
        return {
            "id": self.id,
            "source": self.source,
            "duration": self.duration,
            "glosses": self.glosses,
            "segments": [s.to_dict() for s in self.segments],
        }

    @classmethod
    def from_dict(cls, record: dict) -> Recognition:
        """The recognition of a JSON record (e.g. a line read back from ``islpose recognize --out``)."""
        return cls(
            record["id"],
            record.get("source"),
            float(record["duration"]),
            tuple(Segment(**seg) for seg in record["segments"]),
        )


def forced_align(log_probs: np.ndarray, labels: Sequence[int], blank: int = 0) -> list[tuple[int, int]]:
    """The frames of each label on the most probable CTC path of ``labels`` (Viterbi).

    Args:
        log_probs: (T, V) frame log-probabilities of one utterance.
        labels: L label indices (no blanks).
        blank: index of the CTC blank.

    Returns:
        L (first, last) frame pairs (inclusive), in order and not overlapping.

    Raises:
        IslposeError: the labelling needs more frames than there are.
    """
    lp = np.asarray(log_probs, dtype=np.float64)
    L, T = len(labels), lp.shape[0]
    if L == 0:
        return []
    ext = np.full(2 * L + 1, blank, dtype=np.int64)  # blank, y1, blank, y2, ..., blank
    ext[1::2] = labels
    S = len(ext)
    # A skip from state s-2 to s is allowed into a label that differs from the previous label.
    skip = np.zeros(S, dtype=bool)
    skip[3::2] = ext[3::2] != ext[1:-2:2]
    score = np.full(S, -np.inf)
    score[:2] = lp[0, ext[:2]]
    back = np.zeros((T, S), dtype=np.int8)  # 0 stay, 1 from s-1, 2 from s-2
    for t in range(1, T):
        cand = np.stack(
            [score, np.r_[-np.inf, score[:-1]], np.where(skip, np.r_[-np.inf, -np.inf, score[:-2]], -np.inf)]
        )  # (3, S)
        back[t] = cand.argmax(axis=0)
        score = cand.max(axis=0) + lp[t, ext]
    end = S - 1 if score[S - 1] >= score[S - 2] else S - 2
    if not np.isfinite(score[end]):
        raise IslposeError(f"a labelling of {L} glosses cannot be aligned to {T} output frames")
    spans: dict[int, list[int]] = {}
    s = end
    for t in range(T - 1, -1, -1):
        if s % 2 == 1:
            spans.setdefault(s // 2, [t, t])[0] = t
        s -= int(back[t, s])
    return [tuple(spans[k]) for k in range(L)]


def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    top = x.max(axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    return (top + np.log(np.exp(x - top).sum(axis=axis, keepdims=True))).squeeze(axis)


def _monotonic_runs(emit: np.ndarray) -> list[list[int]] | None:
    """Best left-to-right path over K states (rest, y1 .. yL, rest) where each label state
    holds one run of frames and the rests may be empty. emit (T, K) -> L [first, last] runs,
    or None when no path has a finite score."""
    T, K = emit.shape
    score = np.full(K, -np.inf)
    score[:2] = emit[0, :2]
    moved = np.zeros((T, K), dtype=bool)  # True: came from the state before
    for t in range(1, T):
        before = np.r_[-np.inf, score[:-1]]
        moved[t] = before > score
        score = np.maximum(score, before) + emit[t]
    state = K - 1 if score[K - 1] >= score[K - 2] else K - 2
    if not np.isfinite(score[state]):
        return None
    first = np.zeros(K, dtype=int)
    last = np.full(K, -1)
    for t in range(T - 1, -1, -1):
        if last[state] < 0:
            last[state] = t
        first[state] = t
        state -= int(moved[t, state])
    return [[int(first[k]), int(last[k])] for k in range(1, K - 1)]


def _pinned(emit: np.ndarray, anchors: list[tuple[int, int] | None], signing: tuple[int, int] | None) -> np.ndarray:
    """``emit`` (T, L + 2) with the other states ruled out on each anchor's frames (label k)
    and outside ``signing`` (the rests)."""
    allowed = np.ones(emit.shape, dtype=bool)
    if signing is not None:
        allowed[: signing[0], 1:] = False
        allowed[signing[1] + 1 :, :-1] = False
    for k, anchor in enumerate(anchors):
        if anchor is not None:
            allowed[anchor[0] : anchor[1] + 1] = False
            allowed[anchor[0] : anchor[1] + 1, k + 1] = True
    return np.where(allowed, emit, -np.inf)


def _share_equal_neighbours(
    runs: list[list[int]], labels: Sequence[int], anchors: list[tuple[int, int] | None]
) -> None:
    """Equal neighbours (the posteriors cannot tell them apart) share their joint run in
    equal parts, each keeping its anchor frames. Changes ``runs`` in place."""
    k = 0
    while k < len(labels):
        m = 1
        while k + m < len(labels) and labels[k + m] == labels[k]:
            m += 1
        if m > 1:  # glosses k .. k + m - 1; cut j starts gloss k + j
            a, b = runs[k][0], runs[k + m - 1][1]
            n = b - a + 1
            low = [anchors[k + j - 1][1] + 1 if anchors[k + j - 1] else a + j for j in range(1, m)]
            high = [anchors[k + j][0] if anchors[k + j] else b - m + 1 + j for j in range(1, m)]
            for j in range(1, m - 1):  # cuts strictly increase
                low[j] = max(low[j], low[j - 1] + 1)
            for j in range(m - 3, -1, -1):
                high[j] = min(high[j], high[j + 1] - 1)
            for j in range(1, m):
                cut = min(max(a + (2 * j * n + m) // (2 * m), low[j - 1]), high[j - 1])
                runs[k + j - 1][1], runs[k + j][0] = cut - 1, cut
        k += m


def segment_frames(
    log_probs: np.ndarray, labels: Sequence[int], blank: int = 0, signing: tuple[int, int] | None = None
) -> list[tuple[int, int]]:
    """Cuts the frames into one run per label, in order (see the module docstring).

    Args:
        log_probs: (T, V) frame log-probabilities of one utterance.
        labels: L label indices (no blanks), L <= T.
        blank: index of the CTC blank.
        signing: (first, last) frames (inclusive) between the signer's rests (from
            :func:`islpose.features.signing_span`): frames outside are rest, and a CTC spike
            there is no anchor. Ignored when the labelling does not fit inside.

    Returns:
        L (first, last) frame pairs (inclusive), in order and not overlapping.
    """
    lp = np.asarray(log_probs, dtype=np.float64)
    T, V = lp.shape
    L = len(labels)
    if L == 0:
        return []
    if L > T:
        raise IslposeError(f"a labelling of {L} glosses cannot be aligned to {T} output frames")
    glosses = np.delete(np.arange(V), blank)
    among = lp[:, list(labels)] - _logsumexp(lp[:, glosses], axis=1)[:, None]  # (T, L) log p(label | not blank)
    rest = np.full((T, 1), -np.log(max(1, len(glosses))))  # chance level among the glosses
    emit = np.concatenate([rest, among, rest], axis=1)  # (T, L + 2): rest, y1 .. yL, rest
    spikes = forced_align(lp, labels, blank)
    runs, anchors = None, spikes
    if signing is not None:
        lo, hi = max(0, signing[0]), min(T - 1, signing[1])
        anchors = [(max(a, lo), min(b, hi)) if a <= hi and b >= lo else None for a, b in spikes]
        runs = _monotonic_runs(_pinned(emit, anchors, (lo, hi)))
    if runs is None:  # no bounds, or the labelling does not fit inside them
        anchors = spikes
        runs = _monotonic_runs(_pinned(emit, anchors, None))
    _share_equal_neighbours(runs, labels, anchors)
    return [(a, b) for a, b in runs]


def gloss_segments(
    log_probs: np.ndarray,
    labels: Sequence[int],
    tokens: Sequence[str],
    *,
    fps: float,
    subsample: int,
    num_frames: int,
    blank: int = 0,
    signing: tuple[int, int] | None = None,
) -> list[Segment]:
    """One :class:`Segment` per label of the chosen labelling, in order.

    Args:
        log_probs: (T', V) model output of one utterance (T' = ceil(num_frames / subsample)).
        labels: the decoder's label indices (no blanks).
        tokens: the vocabulary's tokens (index -> gloss).
        fps: frame rate of the input (frames per second, > 0).
        subsample: input frames per output frame of the model.
        num_frames: input frames T (the duration is ``num_frames / fps``).
        blank: index of the CTC blank.
        signing: (first, last) input frames between the signer's rests
            (:func:`islpose.features.signing_span`), or None.

    Returns:
        Segments with start < end inside ``0 .. num_frames / fps`` seconds, not overlapping.
    """
    if not fps > 0:
        raise IslposeError(f"frame rate must be > 0, got {fps!r}")
    lp = np.asarray(log_probs, dtype=np.float64)
    out = []
    if signing is not None:
        signing = (signing[0] // subsample, signing[1] // subsample)
    for (a, b), label in zip(segment_frames(lp, labels, blank, signing), labels):
        start = a * subsample / fps
        end = min((b + 1) * subsample, num_frames) / fps
        score = float(np.exp(lp[a : b + 1, label].max()))
        out.append(Segment(tokens[label], round(start, 4), round(end, 4), min(1.0, score)))
    return out
