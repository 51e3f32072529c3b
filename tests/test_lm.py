"""Gloss n-gram LMs: modified Kneser-Ney estimates, ARPA files, KenLM agreement, decoding gain."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from islpose import Vocabulary
from islpose.cli.main import cli
from islpose.decode import DecoderConfig, build_decoder, build_lm, read_arpa, score_texts, write_arpa
from islpose.decode.lm import BOS, EOS, FALLBACK_DISCOUNTS, UNK, _discounts, arpa_vocabulary
from islpose.errors import IslposeError
from islpose.manifests import Utterance, read_manifest, write_manifest


def _corpus(seed: int, n: int = 150, words: int = 10) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    vocab = [f"G{i}" for i in range(words)]
    return [list(rng.choice(vocab, size=int(rng.integers(1, 7)))) for _ in range(n)]


def _contexts(lm) -> list[tuple[str, ...]]:
    """Every context the model can be asked about: the empty one and every listed n-gram below the top order."""
    return [()] + [g for level in lm.probs[:-1] for g in level]


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("corpus", ["random", "tiny"])
def test_every_context_sums_to_one(tmp_path, order, corpus):
    sentences = _corpus(order) if corpus == "random" else [["I", "GO"], ["I", "GO", "HOME"]]
    lm = read_arpa(write_arpa(build_lm(sentences, order), tmp_path / "lm.arpa"))  # as the file stores it
    assert lm.order == order and BOS not in lm.vocabulary and {EOS, UNK} <= set(lm.vocabulary)
    for h in _contexts(lm):
        assert sum(lm.prob(w, h) for w in lm.vocabulary) == pytest.approx(1.0, abs=1e-5), h


def test_arpa_round_trip(tmp_path):
    lm = build_lm(_corpus(0), 3)
    back = read_arpa(write_arpa(lm, tmp_path / "lm.arpa"))
    for level, level_back in zip(lm.probs, back.probs):
        assert level.keys() == level_back.keys()
        assert np.allclose([level[g] for g in level], [level_back[g] for g in level], atol=1e-6)
    assert arpa_vocabulary(tmp_path / "lm.arpa") == set(lm.vocabulary) | {BOS}


def test_kneser_ney_uses_continuation_counts():
    # FRANCISCO is frequent but only ever follows SAN; DOG is rarer but follows many words.
    sentences = [["SAN", "FRANCISCO"]] * 6 + [[w, "DOG"] for w in ("A", "B", "C", "D")]
    lm = build_lm(sentences, order=2)
    assert lm.prob("FRANCISCO") < lm.prob("DOG")
    assert lm.prob("FRANCISCO", ["SAN"]) > 0.5
    assert lm.prob("UNSEEN") == lm.prob(UNK) > 0


def test_discounts_estimated_or_fallback():
    counts = dict(enumerate([1] * 40 + [2] * 15 + [3] * 8 + [4] * 5 + [9] * 3))
    y = 40 / (40 + 2 * 15)  # Chen & Goodman: Y = n1 / (n1 + 2 n2), D_k = k - (k + 1) Y n_(k+1) / n_k
    assert _discounts(counts) == pytest.approx((1 - 2 * y * 15 / 40, 2 - 3 * y * 8 / 15, 3 - 4 * y * 5 / 8))
    assert _discounts({0: 1, 1: 1}) == FALLBACK_DISCOUNTS


def test_flashlight_kenlm_agrees_with_the_arpa_semantics(tmp_path):
    kenlm = pytest.importorskip("flashlight.lib.text.decoder.kenlm", reason="needs flashlight-text")
    from flashlight.lib.text.dictionary import Dictionary

    sentences = _corpus(1)
    lm = build_lm(sentences, 3)
    path = write_arpa(lm, tmp_path / "lm.arpa")
    tokens = ["<blank>", UNK] + sorted({w for s in sentences for w in s})
    ken = kenlm.KenLM(str(path), Dictionary(tokens))
    for sent in sentences[:20] + [["G1", "NOT_A_GLOSS", "G2"]]:
        state, total = ken.start(False), 0.0
        for w in sent:
            state, s = ken.score(state, tokens.index(w) if w in tokens else 1)
            total += s
        total += ken.finish(state)[1]
        assert total == pytest.approx(lm.sentence_log10_prob(sent), abs=1e-4)


@pytest.mark.parametrize("bad, message", [([], "no gloss sentences"), ([["A", "<s>"]], "may not be")])
def test_bad_lm_input(bad, message):
    with pytest.raises(IslposeError, match=message):
        build_lm(bad, 3)
    with pytest.raises(IslposeError, match="order must be >= 1"):
        build_lm([["A"]], 0)


def _simulated_emissions(glosses, vocab, rng, strength=4.0):
    """Frames where each gloss competes with a random confuser about equally: (T, V) log-probs."""
    V = len(vocab)
    blank = np.zeros(V)
    blank[vocab.blank_id] = strength
    frames = []
    for g in vocab.encode(glosses):
        frames.append(blank + rng.normal(0, 0.5, V))
        confuser, lift = rng.choice([i for i in range(V) if i not in (0, vocab.unk_id, g)]), rng.normal(0, 1.0)
        for _ in range(2):
            f = rng.normal(0, 0.5, V)
            f[g] += strength
            f[confuser] += strength + lift
            frames.append(f)
    frames.append(blank + rng.normal(0, 0.5, V))
    return torch.log_softmax(torch.tensor(np.array(frames), dtype=torch.float32), dim=-1).numpy()


def test_lm_built_on_train_lowers_dev_wer_on_the_synthetic_corpus(tmp_path):
    pytest.importorskip("flashlight.lib.text.decoder", reason="beam search needs flashlight-text")
    from islpose.testing import make_synthetic_corpus

    corpus = make_synthetic_corpus(tmp_path / "c", num_glosses=12, num_signers=3, utterances_per_signer=40, seed=3)
    arpa = tmp_path / "glosses.arpa"
    result = CliRunner().invoke(cli, ["lm", "build", str(corpus.manifest), str(arpa), "--order", "3"])
    assert result.exit_code == 0, result.output
    vocab = Vocabulary.from_manifest(corpus.manifest)
    dev = read_manifest(corpus.manifest).split("dev")
    rng = np.random.default_rng(0)
    emissions = {u.id: _simulated_emissions(u.glosses, vocab, rng) for u in dev}
    refs = {u.id: u.glosses for u in dev}

    def wer(config: DecoderConfig) -> float:
        decoder = build_decoder(config, vocab)
        return score_texts(refs, {u: decoder.glosses(decoder.decode(e)) for u, e in emissions.items()}).wer

    no_lm = wer(DecoderConfig(beam_size=5))
    with_lm = wer(DecoderConfig(beam_size=5, lm=str(arpa)))  # the default LM weight
    assert no_lm > 0.2  # the emissions leave the LM something to fix
    assert with_lm < no_lm


def test_lm_build_cli(tmp_path):
    manifest = write_manifest(
        [
            Utterance("a", glosses=("I", "GO"), split="train"),
            Utterance("b", glosses=("I", "STAY"), split="train"),
            Utterance("c", glosses=("YOU", "GO"), split="dev"),
        ],
        tmp_path / "m.jsonl",
    )
    out = tmp_path / "lm" / "g.arpa"
    result = CliRunner().invoke(cli, ["lm", "build", str(manifest), str(out), "--order", "2"])
    assert result.exit_code == 0, result.output
    assert "2-grams" in result.output
    assert arpa_vocabulary(out) == {BOS, EOS, UNK, "I", "GO", "STAY"}  # the train split only
    refused = CliRunner().invoke(cli, ["lm", "build", str(manifest), str(out), "--split", "all"])
    assert refused.exit_code == 1 and "already exists; pass --overwrite" in refused.output
    assert "YOU" not in arpa_vocabulary(out)  # kept
    result = CliRunner().invoke(cli, ["lm", "build", str(manifest), str(out), "--split", "all", "--overwrite"])
    assert result.exit_code == 0 and "YOU" in arpa_vocabulary(out)

    before = out.read_text()
    result = CliRunner().invoke(cli, ["lm", "build", str(manifest), str(out), "--split", "test", "--overwrite"])
    assert result.exit_code == 1 and "no utterances in split 'test'" in result.output
    assert out.read_text() == before  # a failed build leaves the old file alone
    result = CliRunner().invoke(cli, ["lm", "build", str(manifest), str(out), "--order", "0", "--overwrite"])
    assert result.exit_code == 1 and "order must be >= 1" in result.output
