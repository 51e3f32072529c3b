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
        rebuilt[a : b + 1] = y
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


def _best_segmentation(lp: np.ndarray, labels: list[int], signing=None) -> list[tuple[int, int]]:
    """By enumeration: rest, one run per label holding its CTC spike, rest, scored by the
    posteriors among the glosses; rest outside ``signing`` (and spikes there no anchors)
    when some segmentation fits inside it."""
    T, V = lp.shape
    among = lp[:, 1:] - np.log(np.exp(lp[:, 1:]).sum(1, keepdims=True))  # (T, V - 1), blank = 0
    rest = -np.log(V - 1)
    spikes = forced_align(lp, labels)
    L = len(labels)
    for lo, hi in ([signing] if signing else []) + [(0, T - 1)]:
        best, best_score = None, -np.inf
        for cuts in itertools.combinations(range(lo, hi + 2), L + 1):  # run k = frames cuts[k] .. cuts[k + 1] - 1
            if not all(
                cuts[k] <= max(a, lo) and min(b, hi) < cuts[k + 1]
                for k, (a, b) in enumerate(spikes)
                if a <= hi and b >= lo
            ):
                continue
            score = rest * (cuts[0] + T - cuts[-1])
            score += sum(among[cuts[k] : cuts[k + 1], labels[k] - 1].sum() for k in range(L))
            if score > best_score:
                best, best_score = [(cuts[k], cuts[k + 1] - 1) for k in range(L)], score
        if best is not None:
            return best
    raise AssertionError("no segmentation")


@pytest.mark.parametrize("seed", range(8))
def test_segment_frames_is_the_best_monotonic_segmentation_through_the_spikes(seed):
    rng = np.random.default_rng(seed)
    lp = _emissions(rng, 7, 4)
    labels = [[1, 2], [3], [1, 2, 3], [2, 1, 3]][seed % 4]
    signing = [None, (2, 5)][seed // 4]
    assert segment_frames(lp, labels, signing=signing) == _best_segmentation(lp, labels, signing)


def test_a_run_of_equal_glosses_shares_the_frames_and_each_keeps_its_spike():
    # A A A: the posteriors among the glosses cannot tell the three apart; spikes at 1, 5 and 9.
    p = np.tile([0.9, 0.08, 0.02], (12, 1))
    p[[1, 5, 9]] = [0.1, 0.8, 0.1]
    assert segment_frames(np.log(p), [1, 1, 1]) == [(0, 3), (4, 7), (8, 11)]  # 12 frames in three equal parts
    p[[5, 9]], p[[3, 10]] = [0.9, 0.08, 0.02], [0.1, 0.8, 0.1]  # spikes at 1, 3 and 10
    assert segment_frames(np.log(p), [1, 1, 1]) == [(0, 2), (3, 7), (8, 11)]  # the first cut yields to a spike


def test_frames_outside_the_signing_are_rest_and_hold_no_spike():
    # A fires on the very first frame (as a BiLSTM may), B at 6; among the glosses A leads up to 4.
    among = np.array([[0.8, 0.1, 0.1]] * 5 + [[0.1, 0.8, 0.1]] * 3 + [[0.34, 0.33, 0.33]] * 2)
    blank = np.full(10, 0.99)
    blank[0] = blank[6] = 0.1
    p = np.concatenate([blank[:, None], (1 - blank)[:, None] * among], axis=1)  # (10, 4)
    assert segment_frames(np.log(p), [1, 2]) == [(0, 4), (5, 7)]
    assert segment_frames(np.log(p), [1, 2], signing=(2, 7)) == [(2, 4), (5, 7)]
    assert segment_frames(np.log(p), [1, 2], signing=(3, 3)) == [(0, 4), (5, 7)]  # 2 glosses do not fit in 1 frame
    segs = gloss_segments(
        np.log(p), [1, 2], ["<blank>", "A", "B", "C"], fps=10.0, subsample=2, num_frames=20, signing=(5, 15)
    )  # input frames 5 .. 15 = output frames 2 .. 7
    assert [(s.start, s.end) for s in segs] == [(0.4, 1.0), (1.0, 1.6)]


def test_segments_cover_each_sign_not_just_its_spike():
    # Blank wins everywhere except one spike per gloss; among the glosses, A leads on frames 1-4, B on 5-7.
    among = np.array([[0.30, 0.35, 0.35]] + [[0.8, 0.1, 0.1]] * 4 + [[0.1, 0.8, 0.1]] * 3 + [[0.34, 0.33, 0.33]] * 2)
    blank = np.full(10, 0.99)
    blank[4] = blank[7] = 0.1  # the spikes, late in each sign
    p = np.concatenate([blank[:, None], (1 - blank)[:, None] * among], axis=1)  # (10, 4)
    segs = gloss_segments(np.log(p), [1, 2], ["<blank>", "A", "B", "C"], fps=10.0, subsample=1, num_frames=10)
    assert [(s.gloss, s.start, s.end) for s in segs] == [("A", 0.1, 0.5), ("B", 0.5, 0.8)]
    assert segs[0].score == pytest.approx(0.9 * 0.8)  # the gloss's peak posterior


def test_equal_neighbours_share_their_frames():
    p = np.array([[0.1, 0.8, 0.1]] * 2 + [[0.9, 0.05, 0.05]] * 3 + [[0.1, 0.8, 0.1]] * 3)  # spikes at 0-1 and 5-7
    segs = gloss_segments(np.log(p), [1, 1], ["<blank>", "A", "B"], fps=8.0, subsample=1, num_frames=8)
    assert [(s.start, s.end) for s in segs] == [(0.0, 0.5), (0.5, 1.0)]


def test_segment_times_count_subsampled_frames():
    p = np.array(
        [[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.9, 0.05, 0.05]]
    )  # 3 output frames of a 2x model, 5 input frames
    (seg,) = gloss_segments(np.log(p), [1], ["<blank>", "A", "B"], fps=5.0, subsample=2, num_frames=5)
    assert (seg.start, seg.end) == (0.4, 0.8)
    with pytest.raises(IslposeError, match="frame rate"):
        gloss_segments(np.log(p), [1], ["<blank>", "A"], fps=0.0, subsample=2, num_frames=5)


@pytest.mark.parametrize("seed", range(4))
def test_ctc_likelihood_without_torch_matches_torch(seed, monkeypatch):
    import sys

    from islpose.decode.greedy import ctc_log_likelihood

    rng = np.random.default_rng(seed)
    lp = _emissions(rng, 12, 5)
    labellings = [[1, 2, 2], [3], [], [4, 1, 4, 1], [2] * 7]  # the last needs 13 frames: -inf
    with_torch = ctc_log_likelihood(lp, labellings)
    monkeypatch.setitem(sys.modules, "torch", None)
    without = ctc_log_likelihood(lp, labellings)
    assert np.isneginf(with_torch[-1]) and np.isneginf(without[-1])
    assert np.allclose(without[:-1], with_torch[:-1], atol=1e-4)
