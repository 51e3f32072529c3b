"""Beam-search CTC decoding (flashlight-text), checked against exact enumeration of all alignments."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_decode import WIDE, _emissions, _labelling_scores, _vocab

from islpose.decode import DecoderConfig, build_decoder, ctc_log_likelihood, greedy_decode
from islpose.decode.lm import build_lm, write_arpa
from islpose.errors import IslposeError

pytest.importorskip("flashlight.lib.text.decoder", reason="beam search needs flashlight-text")


@pytest.mark.parametrize("T, V", [(3, 3), (4, 3), (5, 3), (4, 4), (6, 3)])
def test_wide_beam_finds_the_most_probable_labelling(T, V):
    vocab = _vocab(V)
    decoder = build_decoder(DecoderConfig(**WIDE), vocab)
    greedy_differs = 0
    for seed in range(8):
        rng = np.random.default_rng(100 * T + 10 * V + seed)
        lp = _emissions(rng, T, V)
        exact = _labelling_scores(lp)
        best = max(exact, key=exact.get)
        found = tuple(decoder.decode(lp))
        assert exact[found] == pytest.approx(exact[best], abs=1e-6)
        greedy = tuple(greedy_decode(lp))
        assert exact[found] >= exact[greedy] - 1e-9
        greedy_differs += exact[greedy] < exact[best] - 1e-6
    if T >= 4:  # the cases are not all ones where greedy is already optimal
        assert greedy_differs > 0


@pytest.mark.parametrize("beam", [2, 3, 5])
@pytest.mark.parametrize("tokens", [1, 2, 0])
def test_narrow_beam_never_scores_below_greedy(beam, tokens):
    decoder = build_decoder(DecoderConfig(beam_size=beam, beam_size_token=tokens, beam_threshold=5.0), _vocab(4))
    rng = np.random.default_rng(beam * 10 + tokens)
    for _ in range(25):
        lp = _emissions(rng, int(rng.integers(1, 12)), 4, sharpness=1.0)
        beam_y, greedy_y = decoder.decode(lp), greedy_decode(lp)
        b, g = ctc_log_likelihood(lp, [beam_y, greedy_y])
        assert b >= g - 1e-6


@pytest.mark.parametrize("word_score", [-3.0, -0.5, 0.7, 3.0])
def test_word_score_is_exact_per_gloss(word_score):
    decoder = build_decoder(DecoderConfig(**WIDE, word_score=word_score), _vocab(3))
    for seed in range(4):
        lp = _emissions(np.random.default_rng(seed), 5, 3)
        exact = {y: s + word_score * len(y) for y, s in _labelling_scores(lp).items()}
        found = tuple(decoder.decode(lp))
        assert exact[found] == pytest.approx(max(exact.values()), abs=1e-6)


@pytest.mark.parametrize("lm_weight, word_score", [(1.0, 0.0), (3.0, 0.0), (2.0, 1.0)])
def test_beam_with_lm_maximises_the_combined_score(tmp_path, lm_weight, word_score):
    vocab = _vocab(3)
    lm = build_lm([["A", "B"], ["A", "B", "A"], ["B", "B"], ["A"]], order=2)
    path = write_arpa(lm, tmp_path / "lm.arpa")
    decoder = build_decoder(DecoderConfig(**WIDE, lm=str(path), lm_weight=lm_weight, word_score=word_score), vocab)
    for seed in range(4):
        lp = _emissions(np.random.default_rng(seed), 5, 3)
        exact = {
            y: s + lm_weight * lm.sentence_log10_prob(vocab.decode(y)) + word_score * len(y)
            for y, s in _labelling_scores(lp).items()
        }
        found = tuple(decoder.decode(lp))
        assert exact[found] == pytest.approx(max(exact.values()), abs=1e-4)


@pytest.mark.parametrize("beam", [1, 5])
def test_decode_batch_matches_single_utterances(beam):
    vocab = _vocab(6)
    decoder = build_decoder(DecoderConfig(beam_size=beam), vocab)
    rng = np.random.default_rng(3)
    lengths = [7, 12, 1, 9]
    batch = torch.from_numpy(_emissions(rng, 12 * 4, 6).reshape(12, 4, 6))  # (T, B, V)
    got = decoder.decode_batch(batch, torch.tensor(lengths))
    assert got == [decoder.decode(batch[:n, b]) for b, n in enumerate(lengths)]
    assert decoder.decode(np.zeros((0, 6), np.float32)) == []


def test_decoder_rejects_emissions_of_another_vocabulary():
    with pytest.raises(IslposeError, match="do not fit a vocabulary of 4"):
        build_decoder(DecoderConfig(beam_size=3), _vocab(4)).decode(np.zeros((5, 7), np.float32))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"beam_size": 0}, "beam size must be >= 1"),
        ({"beam_size_token": -1}, "beam_size_token"),
        ({"beam_threshold": 0.0}, "beam_threshold"),
        ({"beam_size": 1, "word_score": 1.0}, "needs beam search"),
        ({"beam_size": 5, "lm": "/nonexistent/lm.arpa"}, "not found"),
    ],
)
def test_bad_settings_are_clear_errors(kwargs, message):
    with pytest.raises(IslposeError, match=message):
        build_decoder(DecoderConfig(**kwargs), _vocab(4))


def test_bad_lm_files_are_clear_errors(tmp_path):
    garbage = tmp_path / "garbage.arpa"
    garbage.write_text("not an lm\n")
    with pytest.raises(IslposeError, match="garbage.arpa: cannot load language model"):
        build_decoder(DecoderConfig(lm=str(garbage)), _vocab(4))
    other = write_arpa(build_lm([["X", "Y"]], order=2), tmp_path / "other.arpa")
    with pytest.raises(IslposeError, match="shares no gloss"):
        build_decoder(DecoderConfig(lm=str(other)), _vocab(4))


def test_search_itself_sums_over_alignments():
    """With a wide beam the raw n-best (before rescoring) holds every labelling with its exact score."""
    decoder = build_decoder(DecoderConfig(**WIDE), _vocab(3))
    for seed in range(4):
        lp = _emissions(np.random.default_rng(seed), 6, 3)
        exact = _labelling_scores(lp)
        nbest = decoder.nbest(lp)
        assert max(exact, key=exact.get) == tuple(nbest[0][0])
        for y, score in nbest:
            assert score == pytest.approx(exact[tuple(y)], abs=1e-4)


def _random_lm(rng: np.random.Generator, vocab, n: int = 60, order: int = 3):
    glosses = list(vocab.glosses)
    return build_lm([list(rng.choice(glosses, size=int(rng.integers(1, 6)))) for _ in range(n)], order=order)


@pytest.mark.parametrize(
    "lm_weight, word_score, beam",
    [(0.5, -0.3, 3), (2.0, -1.0, 5), (1.0, -0.05, 8), (0.0, -0.5, 4), (0.0, 1.0, 4), (1.5, 0.0, 5)],
)
def test_word_score_folded_into_the_lm_equals_the_python_callback(tmp_path, lm_weight, word_score, beam):
    """The C++ search on the folded LM finds what the Python callback finds, with the same scores."""
    from islpose.decode.decoders import BeamSearchDecoder

    rng = np.random.default_rng(int(10 * lm_weight + 100 * beam))
    vocab = _vocab(7)
    path = str(write_arpa(_random_lm(rng, vocab), tmp_path / "lm.arpa"))
    config = DecoderConfig(
        beam_size=beam, beam_size_token=4, beam_threshold=10.0, lm=path, lm_weight=lm_weight, word_score=word_score
    )
    native, callback = BeamSearchDecoder(config, vocab), BeamSearchDecoder(config, vocab, fold=False)
    assert native.native and callback.native == (word_score == 0)
    differs = 0
    for _ in range(20):
        lp = _emissions(rng, int(rng.integers(1, 25)), 7, sharpness=1.0)
        got, want = native.nbest(lp), callback.nbest(lp)
        assert got[0][0] == want[0][0]
        assert got[0][1] == pytest.approx(want[0][1], abs=1e-4)
        assert native.decode(lp) == callback.decode(lp)
        y = native.decode(lp)
        assert native.lm_score(y) == pytest.approx(callback.lm_score(y), abs=1e-4)
        differs += y != greedy_decode(lp)
    assert differs > 0  # the LM and word score changed some labellings: the searches had choices to make


@pytest.mark.parametrize("word_score", [-2.0, 1.5])
def test_word_score_without_lm_runs_in_cpp_either_sign(word_score):
    from islpose.decode.decoders import BeamSearchDecoder

    rng = np.random.default_rng(5)
    config = DecoderConfig(beam_size=4, beam_size_token=0, beam_threshold=20.0, word_score=word_score)
    native, callback = BeamSearchDecoder(config, _vocab(5)), BeamSearchDecoder(config, _vocab(5), fold=False)
    assert native.native and not callback.native
    for _ in range(20):
        lp = _emissions(rng, int(rng.integers(1, 20)), 5, sharpness=1.0)
        (y1, s1), (y2, s2) = native.nbest(lp)[0], callback.nbest(lp)[0]
        assert y1 == y2 and s1 == pytest.approx(s2, abs=1e-4)


def _exact_objective(decoder, lp, labellings):
    """CTC log-likelihood over all alignments + weighted LM + word scores, per labelling (K,)."""
    return ctc_log_likelihood(lp, labellings) + np.array([decoder.lm_score(y) for y in labellings])


def test_word_score_that_cannot_be_folded_runs_in_cpp_on_a_clamped_lm(tmp_path):
    """KenLM holds no positive log-probability: where lm_weight * log10 P + word score > 0 the
    fold is clamped to 0, the search stays in C++ and its n-best is rescored exactly. With a
    beam wide enough to keep every labelling that finds the exact optimum."""
    from islpose.decode.decoders import BeamSearchDecoder
    from islpose.decode.lm import clamped_fold, fold_scores

    vocab = _vocab(4)
    lm = build_lm([["A", "B"], ["A", "B", "C"], ["A", "B"]], order=2)
    path = str(write_arpa(lm, tmp_path / "lm.arpa"))
    assert fold_scores(lm, 1.0, 0.5) is None and fold_scores(lm, 1.0, -0.01) is not None
    clamped = fold_scores(lm, 1.0, 0.5, clamp=True)
    assert max(p for level in clamped.probs for p in level.values()) == 0.0
    assert clamped_fold(lm, 1.0, 0.5)[1] == 1.0  # few positive n-grams: clamp them, run at weight 1
    flipped, weight = clamped_fold(lm, 1.0, 10.0)  # all gloss n-grams positive: hold -f, run at weight -1
    assert weight == -1.0 and flipped.probs[1][("A", "B")] == pytest.approx(-(lm.probs[1][("A", "B")] + 10.0))
    assert flipped.probs[0][("</s>",)] == 0.0  # f < 0 there: clamped
    decoder = BeamSearchDecoder(DecoderConfig(**WIDE, lm=path, lm_weight=1.0, word_score=0.5), vocab)
    assert decoder.native and decoder.rescored
    callback = BeamSearchDecoder(DecoderConfig(**WIDE, lm=path, lm_weight=1.0, word_score=0.5), vocab, fold=False)
    assert not callback.native and not callback.rescored
    for seed in range(6):
        lp = _emissions(np.random.default_rng(seed), 5, 4)
        exact = {
            y: s + lm.sentence_log10_prob(vocab.decode(y)) + 0.5 * len(y) for y, s in _labelling_scores(lp).items()
        }
        found = tuple(decoder.decode(lp))
        assert exact[found] == pytest.approx(max(exact.values()), abs=1e-4)
        assert found == tuple(callback.decode(lp))
        assert decoder.lm_score(found) == pytest.approx(callback.lm_score(found), abs=1e-4)


@pytest.mark.parametrize("lm_weight, word_score, min_same", [(1.0, 0.5, 0.85), (0.5, 1.0, 0.95)])
def test_clamped_search_with_a_narrow_beam_is_as_good_as_the_python_callback(tmp_path, lm_weight, word_score, min_same):
    """With a narrow beam the clamped C++ search keeps other hypotheses than the exact callback.
    Measured on ambiguous random emissions: it never returns a labelling scoring below greedy's;
    where the two differ, its labelling scores higher (LM + word score + CTC over all alignments)
    at least as often as lower. First case: 4 of 148 n-grams clamped, they agree on nearly
    every utterance. Second: every folded gloss n-gram is positive, the fold is run at weight
    -1 and only the end-of-sentence n-grams are clamped."""
    from islpose.decode.decoders import BeamSearchDecoder
    from islpose.decode.lm import fold_scores

    rng = np.random.default_rng(11)
    vocab = _vocab(7)
    lm = _random_lm(rng, vocab)
    assert fold_scores(lm, lm_weight, word_score) is None
    path = str(write_arpa(lm, tmp_path / "lm.arpa"))
    config = DecoderConfig(
        beam_size=3, beam_size_token=4, beam_threshold=10.0, lm=path, lm_weight=lm_weight, word_score=word_score
    )
    native, callback = BeamSearchDecoder(config, vocab), BeamSearchDecoder(config, vocab, fold=False)
    assert native.rescored and native.native
    same = better = worse = differs_from_greedy = 0
    for _ in range(100):
        lp = _emissions(rng, int(rng.integers(1, 25)), 7, sharpness=1.0)
        got, want, greedy = native.decode(lp), callback.decode(lp), greedy_decode(lp)
        g, w, gr = _exact_objective(native, lp, [got, want, greedy])
        assert g >= gr - 1e-6
        same, better, worse = same + (got == want), better + (g > w + 1e-6), worse + (g < w - 1e-6)
        differs_from_greedy += want != greedy
    assert differs_from_greedy > 10
    assert same >= 100 * min_same and worse <= better, (same, better, worse)
