"""CTC forced alignment and gloss segments (pure numpy)."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from islpose.decode.greedy import collapse, greedy_decode
from islpose.errors import IslposeError
from islpose.recognize.segments import forced_align, gloss_segments


def _emissions(rng: np.random.Generator, T: int, V: int) -> np.ndarray:
    logits = rng.normal(0, 2.0, size=(T, V))
    return logits - np.log(np.exp(logits).sum(1, keepdims=True))  # (T, V) log-softmax


def _best_path(lp: np.ndarray, labels: list[int]) -> tuple[int, ...]:
    """The most probable frame path that collapses to ``labels``, by enumeration."""
    T, V = lp.shape
    paths = [p for p in itertools.product(range(V), repeat=T) if collapse(p) == labels]
    return max(paths, key=lambda p: lp[np.arange(T), list(p)].sum())


@pytest.mark.parametrize("seed", range(6))
def test_forced_align_finds_the_best_path(seed):
    rng = np.random.default_rng(seed)
    lp = _emissions(rng, 6, 3)
    labels = [[1, 2], [2, 2], [1], [2, 1, 2]][seed % 4]
    path = _best_path(lp, labels)
    spans = forced_align(lp, labels)
    # Rebuild the frame path from the spans and compare: the same labels on the same frames.
    rebuilt = np.zeros(6, dtype=int)
    for (a, b), y in zip(spans, labels):
        rebuilt[a:b + 1] = y
    assert tuple(rebuilt) == tuple(path)


def test_forced_align_rejects_a_labelling_that_does_not_fit():
    lp = np.log(np.full((2, 3), 1 / 3))
    with pytest.raises(IslposeError, match="cannot be aligned"):
        forced_align(lp, [1, 1])  # needs 3 frames (a blank between the two)
    assert forced_align(lp, []) == []


@pytest.mark.parametrize("subsample,num_frames", [(1, 40), (2, 79), (2, 80)])
def test_segments_are_ordered_in_range_and_one_per_gloss(subsample, num_frames):
    rng = np.random.default_rng(subsample + num_frames)
    T = -(-num_frames // subsample)
    lp = _emissions(rng, T, 5)
    labels = greedy_decode(lp)
    tokens = ["<blank>", "A", "B", "C", "D"]
    segs = gloss_segments(lp, labels, tokens, fps=25.0, subsample=subsample, num_frames=num_frames)
    assert [s.gloss for s in segs] == [tokens[y] for y in labels]
    duration = num_frames / 25.0
    for prev, seg in zip([None, *segs], segs):
        assert 0 <= seg.start < seg.end <= duration
        assert 0 <= seg.score <= 1
        if prev is not None:
            assert prev.end <= seg.start
    # Each segment holds its label's greedy frames (the frames where that label wins).
    best = lp.argmax(1)
    for seg, y in zip(segs, labels):
        frames = np.flatnonzero(best == y) * subsample / 25.0
        assert any(seg.start <= f < seg.end for f in frames)


def test_segments_are_the_frames_each_label_holds_on_the_best_path():
    p = np.array([[.97, .02, .01]] * 2 + [[.02, .97, .01]] * 2 + [[.90, .08, .02]] * 2 + [[.02, .01, .97]]
                 + [[.97, .02, .01]] * 2)  # (9, 3)
    segs = gloss_segments(np.log(p), [1, 2], ["<blank>", "A", "B"], fps=10.0, subsample=1, num_frames=9)
    assert [(s.gloss, s.start, s.end) for s in segs] == [("A", 0.2, 0.4), ("B", 0.6, 0.7)]
    assert segs[0].score == pytest.approx(0.97)


def test_segment_times_count_subsampled_frames():
    p = np.array([[.9, .1], [.1, .9], [.9, .1]])  # 3 output frames of a 2x model, 5 input frames
    (seg,) = gloss_segments(np.log(p), [1], ["<blank>", "A"], fps=5.0, subsample=2, num_frames=5)
    assert (seg.start, seg.end) == (0.4, 0.8)
    with pytest.raises(IslposeError, match="frame rate"):
        gloss_segments(np.log(p), [1], ["<blank>", "A"], fps=0.0, subsample=2, num_frames=5)
