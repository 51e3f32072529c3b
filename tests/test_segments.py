"""CTC forced alignment and gloss segments (pure numpy)."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from islpose.decode.greedy import collapse, greedy_decode
from islpose.errors import IslposeError
from islpose.recognize.segments import forced_align, gloss_segments, segment_frames


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


def _best_segmentation(lp: np.ndarray, labels: list[int]) -> list[tuple[int, int]]:
    """By enumeration: rest, one run per label, rest, scored by the posteriors among the glosses."""
    T, V = lp.shape
    among = lp[:, 1:] - np.log(np.exp(lp[:, 1:]).sum(1, keepdims=True))  # (T, V - 1), blank = 0
    rest = -np.log(V - 1)
    best, best_score = None, -np.inf
    L = len(labels)
    for cuts in itertools.combinations(range(T + 1), L + 1):  # run k = frames cuts[k] .. cuts[k + 1] - 1
        if any(b <= a for a, b in zip(cuts, cuts[1:])):
            continue
        score = rest * (cuts[0] + T - cuts[-1])
        score += sum(among[cuts[k]:cuts[k + 1], labels[k] - 1].sum() for k in range(L))
        if score > best_score:
            best, best_score = [(cuts[k], cuts[k + 1] - 1) for k in range(L)], score
    return best


@pytest.mark.parametrize("seed", range(6))
def test_segment_frames_is_the_best_monotonic_segmentation(seed):
    rng = np.random.default_rng(seed)
    lp = _emissions(rng, 7, 4)
    labels = [[1, 2], [3], [1, 2, 3], [2, 1, 3]][seed % 4]
    assert segment_frames(lp, labels) == _best_segmentation(lp, labels)


def test_segments_cover_each_sign_not_just_its_spike():
    # Blank wins everywhere except one spike per gloss; among the glosses, A leads on frames 1-4, B on 5-7.
    among = np.array([[.30, .35, .35]] + [[.8, .1, .1]] * 4 + [[.1, .8, .1]] * 3 + [[.34, .33, .33]] * 2)
    blank = np.full(10, 0.99)
    blank[4] = blank[7] = 0.1  # the spikes, late in each sign
    p = np.concatenate([blank[:, None], (1 - blank)[:, None] * among], axis=1)  # (10, 4)
    segs = gloss_segments(np.log(p), [1, 2], ["<blank>", "A", "B", "C"], fps=10.0, subsample=1, num_frames=10)
    assert [(s.gloss, s.start, s.end) for s in segs] == [("A", 0.1, 0.5), ("B", 0.5, 0.8)]
    assert segs[0].score == pytest.approx(0.9 * 0.8)  # the gloss's peak posterior


def test_equal_neighbours_are_split_between_their_spikes():
    p = np.array([[.1, .8, .1]] * 2 + [[.9, .05, .05]] * 3 + [[.1, .8, .1]] * 3)  # spikes at 0-1 and 5-7
    segs = gloss_segments(np.log(p), [1, 1], ["<blank>", "A", "B"], fps=8.0, subsample=1, num_frames=8)
    assert [(s.start, s.end) for s in segs] == [(0.0, 0.375), (0.375, 1.0)]


def test_segment_times_count_subsampled_frames():
    p = np.array([[.9, .05, .05], [.1, .8, .1], [.9, .05, .05]])  # 3 output frames of a 2x model, 5 input frames
    (seg,) = gloss_segments(np.log(p), [1], ["<blank>", "A", "B"], fps=5.0, subsample=2, num_frames=5)
    assert (seg.start, seg.end) == (0.4, 0.8)
    with pytest.raises(IslposeError, match="frame rate"):
        gloss_segments(np.log(p), [1], ["<blank>", "A"], fps=0.0, subsample=2, num_frames=5)
