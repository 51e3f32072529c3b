"""`islpose tune`: grid search of beam, LM weight and word score on emissions computed once."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from islpose import Vocabulary
from islpose.decode import DecoderConfig, load_decoder_config, write_decoder_config
from islpose.decode.lm import build_lm, write_arpa
from islpose.decode.tune import best, grid, table, tune_decoder
from islpose.errors import IslposeError

pytest.importorskip("flashlight.lib.text.decoder", reason="beam search needs flashlight-text")

GLOSSES = ["I", "YOU", "GO", "COME", "SCHOOL", "HOME", "NOW", "LATER"]


def _sentence(rng: np.random.Generator) -> list[str]:
    """A tiny grammar: SUBJECT VERB PLACE [TIME]."""
    out = [rng.choice(["I", "YOU"]), rng.choice(["GO", "COME"]), rng.choice(["SCHOOL", "HOME"])]
    return out + ([str(rng.choice(["NOW", "LATER"]))] if rng.random() < 0.5 else [])


def _emissions(rng: np.random.Generator, glosses: list[str], vocab: Vocabulary) -> np.ndarray:
    """What a half-trained model emits: blank-dominated frames, each gloss a 2-frame spike; a third of the
    spikes lose to a rival gloss (the LM can fix those), a sixth are weaker than blank (deletions)."""
    V = len(vocab)
    frames = []
    for g in glosses:
        frames.append(np.full(V, -2.0) + np.eye(V)[vocab.blank_id] * 6)
        spike = np.full(V, -2.0)
        gid, rival = vocab[g], vocab[str(rng.choice([x for x in GLOSSES if x != g]))]
        spike[gid] = 4.0
        spike[vocab.blank_id] = 3.0
        u = rng.random()
        if u < 1 / 3:
            spike[rival] = 4.0 + rng.uniform(0.2, 1.0)
        elif u < 1 / 2:
            spike[vocab.blank_id] = 6.0
        frames += [spike, spike]
    frames.append(np.eye(V)[vocab.blank_id] * 6)
    return torch.log_softmax(torch.tensor(np.array(frames), dtype=torch.float32), -1).numpy()  # (T, V)


@pytest.fixture(scope="module")
def dev_set(tmp_path_factory):
    rng = np.random.default_rng(0)
    vocab = Vocabulary(GLOSSES)
    lm = write_arpa(build_lm([_sentence(rng) for _ in range(300)], order=3), tmp_path_factory.mktemp("lm") / "g.arpa")
    refs = {f"u{i}": _sentence(rng) for i in range(40)}
    emissions = [(uid, _emissions(rng, ref, vocab)) for uid, ref in refs.items()]
    return vocab, str(lm), refs, emissions


def test_tune_beats_the_defaults_on_dev(dev_set):
    vocab, lm, refs, emissions = dev_set
    configs = grid(
        DecoderConfig(lm=lm), beams=(1, 5), lm_weights=(0.0, 0.5, 1.0, 2.0, 4.0), word_scores=(0.0, 1.0, 2.0, 3.0)
    )
    assert configs[0] == DecoderConfig(lm=lm) and len(configs) == len(set(map(repr, configs)))
    assert [c for c in configs if c.beam_size == 1] == [DecoderConfig(beam_size=1)]
    rows = tune_decoder(emissions, refs, vocab, configs)
    default, greedy, winner = rows[0], rows[1], best(rows)
    assert greedy.config.beam_size == 1 and greedy.score.wer > 0.2  # the emissions are hard
    assert greedy.search == "greedy" and default.search.startswith("C++")  # greedy was labelled "C++"
    assert winner.score.wer < 0.6 * default.score.wer  # tuning finds a clearly better setting
    assert winner.config.lm_weight > default.config.lm_weight  # the LM fixes the rivals' substitutions
    assert all(r.score.utterances == len(refs) for r in rows)
    text = table(rows, top=3)
    assert len(text.splitlines()) == 4 and f"{100 * winner.score.wer:7.2f}" in text.splitlines()[1]


def test_decoder_config_yaml_round_trip(tmp_path, dev_set):
    _, lm, _, _ = dev_set
    config = DecoderConfig(beam_size=10, lm=lm, lm_weight=1.5, word_score=2.0)
    path = write_decoder_config(config, tmp_path / "d.yaml")
    assert load_decoder_config(path) == config  # an LM elsewhere: absolute path
    local = tmp_path / "run" / "g.arpa"
    local.parent.mkdir()
    local.write_text(open(lm).read())
    path = write_decoder_config(DecoderConfig(lm=str(local)), tmp_path / "run" / "decode.yaml")
    assert "lm: g.arpa" in path.read_text()  # beside the YAML: relative, so the folder can move
    assert load_decoder_config(path).lm == str(local)
    path.write_text("beam_size: 5\nbeam: 3\n")
    with pytest.raises(IslposeError, match="unknown key"):
        load_decoder_config(path)
    path.write_text("beam_size: 0\n")
    with pytest.raises(IslposeError, match="beam size must be >= 1"):
        load_decoder_config(path)
