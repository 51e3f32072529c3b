"""Greedy CTC decoding, exact CTC scores and ``islpose decode`` end to end.

Nothing here needs flashlight-text: beam-search tests are in test_decode_beam.py, and the
end-to-end cases with a beam are marked to skip without it."""

from __future__ import annotations

import importlib.util
import itertools
import json
import math
import re
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from islpose import Vocabulary
from islpose.cli.main import cli
from islpose.decode import (
    DecoderConfig,
    build_decoder,
    collapse,
    ctc_log_likelihood,
    greedy_decode,
    greedy_decode_batch,
    load_decoder_config,
    read_glosses,
    write_glosses,
)
from islpose.errors import IslposeError
from islpose.manifests import Utterance, read_manifest, write_manifest

needs_flashlight = pytest.mark.skipif(
    importlib.util.find_spec("flashlight") is None,
    reason="beam search needs flashlight-text (pip install 'islpose[decode]')",
)
WIDE = {"beam_size": 500, "beam_size_token": 0, "beam_threshold": 1e9}


def _vocab(v: int) -> Vocabulary:
    """A vocabulary of v tokens: <blank>, then glosses A, B, ... (no <unk>)."""
    return Vocabulary([chr(ord("A") + i) for i in range(v - 1)], unk=False)


def _emissions(rng: np.random.Generator, T: int, V: int, sharpness: float = 1.5) -> np.ndarray:
    logits = rng.normal(0.0, sharpness, size=(T, V))
    return torch.log_softmax(torch.tensor(logits, dtype=torch.float32), dim=-1).numpy()  # (T, V)


def _labelling_scores(lp: np.ndarray) -> dict[tuple[int, ...], float]:
    """Every labelling's exact log-probability, by summing over all V^T alignments."""
    T, V = lp.shape
    totals: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(V), repeat=T):
        y = tuple(collapse(path))
        totals[y] = np.logaddexp(totals.get(y, -np.inf), float(lp[np.arange(T), path].sum()))
    return totals


def test_greedy_decode_batch_respects_lengths():
    frames = torch.tensor([[1, 1, 0, 1, 2, 2, 0, 0], [3, 0, 3, 3, 0, 0, 0, 0]])  # (B, T) best labels
    log_probs = torch.nn.functional.one_hot(frames, 4).float().log().transpose(0, 1)  # (T, B, V)
    assert greedy_decode_batch(log_probs, torch.tensor([8, 3])) == [[1, 1, 2], [3, 3]]
    assert greedy_decode_batch(log_probs, torch.tensor([8, 8]))[1] == greedy_decode(log_probs[:, 1])


@pytest.mark.parametrize(
    "path, expected",
    [
        ([0, 1, 1, 0, 1, 2, 2, 0], [1, 1, 2]),
        ([1, 1, 1], [1]),
        ([0, 0, 0], []),
        ([], []),
        ([2, 0, 2, 2, 3], [2, 2, 3]),
    ],
)
def test_collapse(path, expected):
    assert collapse(path) == expected


def test_greedy_is_argmax_collapse():
    rng = np.random.default_rng(0)
    lp = _emissions(rng, 30, 6)
    assert greedy_decode(lp) == collapse(lp.argmax(1).tolist())
    assert greedy_decode(torch.from_numpy(lp)) == greedy_decode(lp)


@pytest.mark.parametrize("seed", range(4))
def test_ctc_log_likelihood_matches_enumeration(seed):
    rng = np.random.default_rng(seed)
    lp = _emissions(rng, 4, 3)
    exact = _labelling_scores(lp)
    ys = list(exact)
    assert np.allclose(ctc_log_likelihood(lp, ys), [exact[y] for y in ys], atol=1e-5)
    assert ctc_log_likelihood(lp, [[1, 1, 1, 1, 1]])[0] == -math.inf  # needs 9 frames


def test_missing_flashlight_gives_an_install_hint(monkeypatch):
    for name in ("flashlight", "flashlight.lib.text", "flashlight.lib.text.decoder"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(
        IslposeError,
        match=r"^flashlight-text \(beam search, --beam > 1\) is not installed: "
        r"pip install 'islpose\[decode\]'$",
    ):
        build_decoder(DecoderConfig(beam_size=5), _vocab(4))
    assert build_decoder(DecoderConfig(beam_size=1), _vocab(4)).decode(np.zeros((3, 4), np.float32)) == []


def test_decode_without_flashlight_runs_greedy_with_beam_1_only(monkeypatch, tmp_path, small_corpus):
    from islpose.models import build_model
    from islpose.train import save_checkpoint

    for name in ("flashlight", "flashlight.lib.text", "flashlight.lib.text.decoder"):
        monkeypatch.setitem(sys.modules, name, None)
    vocab = Vocabulary(["G000", "G001"])
    config = {
        "model": "bilstm_optimized",
        "model_config": {"projection_dim": 8, "hidden_dim": 8, "num_layers": 1},
        "train": {},
    }
    ck = save_checkpoint(
        tmp_path / "m.pt",
        build_model("bilstm_optimized", config["model_config"], vocab_size=len(vocab)),
        vocab,
        config,
        {"epoch": 0},
    )
    base = ["decode", "--checkpoint", str(ck), "--features", str(small_corpus.store), "--device", "cpu"]
    greedy = CliRunner().invoke(cli, [*base, "--out", str(tmp_path / "g.tsv"), "--beam", "1"])
    assert greedy.exit_code == 0, greedy.output
    beam = CliRunner().invoke(cli, [*base, "--out", str(tmp_path / "b.tsv"), "--beam", "5"])
    assert beam.exit_code == 1 and not (tmp_path / "b.tsv").exists()
    assert beam.output.strip().splitlines() == [
        "error: flashlight-text (beam search, --beam > 1) is not installed: pip install 'islpose[decode]'"
    ]


# --------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def trained_run(trained_bilstm):
    """(corpus, run folder) of the shared small BiLSTM (conftest)."""
    return trained_bilstm


def _decode(tmp_path, corpus, run, *extra: str, name: str = "dev"):
    out, summary = tmp_path / f"{name}.hyp.tsv", tmp_path / f"{name}.json"
    args = [
        "decode",
        "--checkpoint",
        str(run / "best.pt"),
        "--features",
        str(corpus.store),
        "--out",
        str(out),
        "--json",
        str(summary),
        "--device",
        "cpu",
        "--batch-size",
        "7",
        *extra,
    ]
    result = CliRunner().invoke(cli, args)
    return result, out, summary


@pytest.mark.slow
@pytest.mark.parametrize("beam", ["1", pytest.param("5", marks=needs_flashlight)])
def test_decode_wer_equals_islpose_score_on_its_output(tmp_path, trained_run, beam):
    corpus, run = trained_run
    result, out, summary = _decode(
        tmp_path, corpus, run, "--manifest", str(corpus.manifest), "--split", "dev", "--beam", beam
    )
    assert result.exit_code == 0, result.output
    data = json.loads(summary.read_text())
    dev = list(read_manifest(corpus.manifest).split("dev"))
    assert list(read_glosses(out)) == [u.id for u in dev]  # manifest order
    assert data["utterances"] == len(dev) and data["ref_words"] == sum(len(u.glosses) for u in dev)
    assert data["wer"] < 0.9  # the model learned something: the numbers below are not all trivial

    ref = write_glosses({u.id: u.glosses for u in dev}, tmp_path / "ref.tsv")
    scored = CliRunner().invoke(cli, ["score", str(ref), str(out), "--json", str(tmp_path / "score.json")])
    assert scored.exit_code == 0, scored.output
    wer_line = [line for line in result.output.splitlines() if line.startswith("WER ")]
    assert wer_line == [scored.output.strip()]
    assert json.loads((tmp_path / "score.json").read_text()) == {
        k: data[k] for k in ("wer", "substitutions", "deletions", "insertions", "ref_words", "utterances")
    }


@pytest.mark.slow
@needs_flashlight
def test_decode_with_a_gloss_lm_does_not_raise_dev_wer(tmp_path, trained_run):
    import re

    corpus, run = trained_run
    arpa = tmp_path / "glosses.arpa"
    built = CliRunner().invoke(cli, ["lm", "build", str(corpus.manifest), str(arpa)])
    assert built.exit_code == 0, built.output
    cost = float(re.search(r"LM cost per gloss on that text: ([0-9.]+)", built.output).group(1))
    lm_weight = 0.25
    common = ("--manifest", str(corpus.manifest), "--split", "dev", "--beam", "5")
    plain, _, plain_json = _decode(tmp_path, corpus, run, *common, name="plain")
    with_lm, _, lm_json = _decode(
        tmp_path,
        corpus,
        run,
        *common,
        "--lm",
        str(arpa),
        "--lm-weight",
        str(lm_weight),
        "--word-score",
        str(lm_weight * cost),
        name="lm",
    )
    assert plain.exit_code == 0 and with_lm.exit_code == 0, with_lm.output
    assert json.loads(lm_json.read_text())["decoder"]["lm"] == str(arpa)
    assert json.loads(lm_json.read_text())["wer"] <= json.loads(plain_json.read_text())["wer"]


@pytest.mark.slow
def test_decode_without_manifest_writes_hypotheses_for_every_stored_id(tmp_path, trained_run):
    from islpose.io import FeatureStore

    corpus, run = trained_run
    result, out, summary = _decode(tmp_path, corpus, run, "--beam", "1")
    assert result.exit_code == 0, result.output
    assert "no reference glosses" in result.output
    with FeatureStore(corpus.store) as store:
        assert list(read_glosses(out)) == store.ids()
    assert "wer" not in json.loads(summary.read_text())


@pytest.mark.slow
def test_decode_lists_failures_and_keeps_the_rest(tmp_path, trained_run):
    import shutil

    import h5py

    corpus, run = trained_run
    store = shutil.copy(corpus.store, tmp_path / "store.h5")
    dev = read_manifest(corpus.manifest).split("dev")
    with h5py.File(store, "r+") as f:  # written by another tool: NaN features
        f[f"utterances/{dev[0].id}/pose"][3, 5] = np.nan
    manifest = write_manifest(list(dev) + [Utterance("ghost", glosses=("G000",), split="dev")], tmp_path / "m.jsonl")
    args = [
        "decode",
        "--checkpoint",
        str(run / "best.pt"),
        "--features",
        str(store),
        "--manifest",
        str(manifest),
        "--out",
        str(tmp_path / "h.tsv"),
        "--json",
        str(tmp_path / "s.json"),
        "--beam",
        "1",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert f"failed: {dev[0].id}: NaN or inf in the features" in result.output
    assert "failed: ghost: not in the feature store" in result.output
    assert "error: 2 utterance(s) could not be decoded" in result.output
    assert list(read_glosses(tmp_path / "h.tsv")) == [u.id for u in dev[1:]]
    data = json.loads((tmp_path / "s.json").read_text())
    assert {f["id"] for f in data["failed"]} == {dev[0].id, "ghost"}
    # Every reference counts: the two undecoded utterances are scored as empty hypotheses.
    assert data["utterances"] == len(dev) + 1
    assert data["ref_words"] == sum(len(u.glosses) for u in dev) + 1
    assert data["deletions"] >= len(dev[0].glosses) + 1
    assert "2 utterance(s) not decoded, counted as all deletions" in result.output


@pytest.mark.slow
def test_decode_rejects_a_store_that_does_not_fit_the_model(tmp_path, trained_run):
    from islpose.models import build_model
    from islpose.train import save_checkpoint

    corpus, run = trained_run
    vocab = Vocabulary.load(run / "tokens.txt")
    model = build_model(
        "bilstm_optimized",
        {"input_dim": 10, "projection_dim": 8, "hidden_dim": 8, "num_layers": 1},
        vocab_size=len(vocab),
    )
    config = {
        "model": "bilstm_optimized",
        "model_config": {"input_dim": 10, "projection_dim": 8, "hidden_dim": 8, "num_layers": 1},
        "train": {},
    }
    ck = save_checkpoint(tmp_path / "narrow.pt", model, vocab, config, {"epoch": 0})
    out = tmp_path / "h.tsv"
    out.write_text("keep me\n")
    refused = CliRunner().invoke(
        cli, ["decode", "--checkpoint", str(ck), "--features", str(corpus.store), "--out", str(out), "--beam", "1"]
    )
    assert refused.exit_code == 1 and "h.tsv: already exists; pass --overwrite" in refused.output
    result = CliRunner().invoke(
        cli,
        [
            "decode",
            "--checkpoint",
            str(ck),
            "--features",
            str(corpus.store),
            "--out",
            str(out),
            "--beam",
            "1",
            "--overwrite",
        ],
    )
    assert result.exit_code == 1
    assert "features of" in result.output and "have shape (" in result.output and "needs (T, 10)" in result.output
    assert out.read_text() == "keep me\n"  # nothing written over

    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(b"not a checkpoint")
    result = CliRunner().invoke(
        cli, ["decode", "--checkpoint", str(bogus), "--features", str(corpus.store), "--out", str(out), "--overwrite"]
    )
    assert result.exit_code == 1 and "bogus.pt" in result.output
    result = CliRunner().invoke(
        cli,
        [
            "decode",
            "--checkpoint",
            str(run / "best.pt"),
            "--features",
            str(corpus.store),
            "--out",
            str(out),
            "--beam",
            "1",
            "--lm",
            str(bogus),
            "--overwrite",
        ],
    )
    assert result.exit_code == 1 and "needs beam search" in result.output


@pytest.mark.slow
def test_decode_selection_errors(tmp_path, trained_run):
    from islpose.models import build_model
    from islpose.train import save_checkpoint

    corpus, run = trained_run
    ck, store, out = str(run / "best.pt"), str(corpus.store), str(tmp_path / "h.tsv")
    dev = read_manifest(corpus.manifest).split("dev")
    partial = write_manifest([dev[0], Utterance(dev[1].id, split="dev")], tmp_path / "partial.jsonl")
    unlabelled = write_manifest([Utterance(u.id, split="dev") for u in dev[:3]], tmp_path / "unlabelled.jsonl")
    base = ["decode", "--checkpoint", ck, "--features", store, "--out", out, "--beam", "1", "--overwrite"]
    cases = [
        (["--split", "dev"], "--split needs --manifest"),
        (["--manifest", str(partial)], "1 of 2 utterance(s) have no 'glosses'"),
        (["--manifest", str(corpus.manifest), "--split", "nope"], "no utterances in split 'nope'"),
    ]
    for extra, message in cases:
        result = CliRunner().invoke(cli, base + extra)
        assert result.exit_code == 1 and message in result.output, (extra, result.output)
    result = CliRunner().invoke(cli, base + ["--manifest", str(unlabelled)])
    assert result.exit_code == 0 and "no reference glosses" in result.output
    assert list(read_glosses(out)) == [u.id for u in dev[:3]]

    vocab = Vocabulary.load(run / "tokens.txt")
    mobilenet = save_checkpoint(
        tmp_path / "mn.pt",
        build_model("mobilenet_v3_1d", None, vocab_size=len(vocab)),
        vocab,
        {"model": "mobilenet_v3_1d", "model_config": {}, "train": {}},
        {"epoch": 0},
    )
    result = CliRunner().invoke(
        cli, ["decode", "--checkpoint", str(mobilenet), "--features", store, "--out", out, "--beam", "1", "--overwrite"]
    )
    assert result.exit_code == 1 and "nothing could be decoded" in result.output
    assert "no 'multimodal' features in the store" in result.output


@pytest.mark.slow
@needs_flashlight
def test_tune_writes_the_best_setting_that_decode_reads(tmp_path, trained_run):
    corpus, run = trained_run
    arpa = tmp_path / "glosses.arpa"
    assert CliRunner().invoke(cli, ["lm", "build", str(corpus.manifest), str(arpa)]).exit_code == 0
    best = tmp_path / "decode.yaml"
    args = [
        "tune",
        "--checkpoint",
        str(run / "best.pt"),
        "--features",
        str(corpus.store),
        "--manifest",
        str(corpus.manifest),
        "--lm",
        str(arpa),
        "--beams",
        "5",
        "--lm-weights",
        "0.5,2",
        "--word-scores",
        "-1,0,1",
        "--out",
        str(best),
        "--device",
        "cpu",
        "--top",
        "0",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    # 2 LM weights x 3 word scores at beam 5 (the defaults among them): every setting has the LM
    assert "model run once over" in result.output and "trying 6 settings" in result.output
    lines = result.output.splitlines()
    header = lines.index(next(line for line in lines if line.startswith("beam lm_weight")))
    assert len([line for line in lines[header + 1 :] if line[:4].strip().isdigit()]) == 6
    best_wer = float(re.search(r"best: +WER ([0-9.]+)%", result.output).group(1))
    default_wer = float(re.search(r"defaults: WER ([0-9.]+)%", result.output).group(1))
    assert best_wer <= default_wer
    assert load_decoder_config(best).lm == str(arpa)  # beside the YAML: written relative, read back

    # decode --decode-config reproduces the tuned WER; an option given on the command line overrides the file.
    tuned, _, summary = _decode(
        tmp_path,
        corpus,
        run,
        "--manifest",
        str(corpus.manifest),
        "--split",
        "dev",
        "--decode-config",
        str(best),
        name="tuned",
    )
    assert tuned.exit_code == 0, tuned.output
    assert json.loads(summary.read_text())["decoder"] == vars(load_decoder_config(best))
    assert 100 * json.loads(summary.read_text())["wer"] == pytest.approx(best_wer, abs=0.01)
    wider, _, summary = _decode(
        tmp_path,
        corpus,
        run,
        "--manifest",
        str(corpus.manifest),
        "--split",
        "dev",
        "--decode-config",
        str(best),
        "--beam",
        "7",
        name="wider",
    )
    assert wider.exit_code == 0, wider.output
    assert json.loads(summary.read_text())["decoder"] == {**vars(load_decoder_config(best)), "beam_size": 7}
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 1 and "--overwrite" in again.output
