"""Options removed from the product: configs that still name them are refused, stored configs
(a resumed run's ``last.pt``, an old checkpoint) that hold them still load; the study recipe
runs without them."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import pytest
import torch
from train_helpers import REPO, TINY, TINY_TRAIN

from islpose.errors import IslposeError
from islpose.train import resolve_config


@pytest.mark.parametrize(
    "section, key", [("train", "viterbi_epochs"), ("train", "viterbi_weight"), ("model_config", "head_lr_scale")]
)
def test_a_new_config_with_a_removed_option_is_an_error(section, key):
    with pytest.raises(IslposeError, match=key):
        resolve_config("mobilenet_v3_1d", {section: {key: 1}})


def test_drop_removed_keys_warns_only_where_the_option_changed_training():
    from islpose.train.runs import drop_removed_keys

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet = drop_removed_keys({"model": "m", "train": {"lr": 1e-3, "viterbi_epochs": 0, "viterbi_weight": 0.5}})
    assert quiet == {"model": "m", "train": {"lr": 1e-3}}
    with pytest.warns(UserWarning, match="train.viterbi_epochs is no longer supported"):
        assert drop_removed_keys({"train": {"viterbi_epochs": 3}}, "x.pt") == {"train": {}}


def test_an_old_run_with_removed_options_resumes_and_its_checkpoint_loads(tmp_path):
    """A last.pt whose stored config has the removed options (as earlier versions wrote them)
    resumes, and its model loads for decoding."""
    from islpose.models.checkpoint import load_checkpoint
    from islpose.testing import make_synthetic_corpus
    from islpose.train import train
    from islpose.train.runs import resolve_run

    small_corpus = make_synthetic_corpus(
        tmp_path / "corpus", num_glosses=4, num_signers=3, utterances_per_signer=3, multimodal=True, seed=0
    )
    config = resolve_config(
        "mobilenet_v3_1d",
        {
            "model_config": TINY["mobilenet_v3_1d"],
            "augment": {"enabled": False},
            "train": {**TINY_TRAIN, "epochs": 1, "device": "cpu", "amp": False},
        },
    )
    run = tmp_path / "run"
    train(config, small_corpus.store, small_corpus.manifest, run)
    for name in ("last.pt", "best.pt"):  # the config main stored, with the options at their defaults
        data = torch.load(run / name, weights_only=True)
        data["config"]["train"].update(viterbi_epochs=0, viterbi_weight=1.0)
        data["config"]["model_config"]["head_lr_scale"] = 1.0
        torch.save(data, run / name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resumed = resolve_run(overrides={"epochs": 2}, resume=True, out=run)
        assert resumed.train.epochs == 2
        result = train(resumed, small_corpus.store, small_corpus.manifest, run, resume=True)
        assert result.best_epoch in (1, 2)
        assert load_checkpoint(run / "best.pt").model_name == "mobilenet_v3_1d"
    data = torch.load(run / "best.pt", weights_only=True)
    data["config"]["model_config"]["head_lr_scale"] = 4.0
    torch.save(data, tmp_path / "scaled.pt")
    with pytest.warns(UserWarning, match="model_config.head_lr_scale is no longer supported"):
        load_checkpoint(tmp_path / "scaled.pt")


def test_plateau_study_recipe_runs(tmp_path):
    """pipelines/recipes/plateau_study.py on a tiny corpus: one row per run, and the table."""
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "pipelines" / "recipes" / "plateau_study.py"),
            "--out",
            tmp_path,
            "--model",
            "bilstm_optimized",
            "--signers",
            "4",
            "--utterances",
            "3",
            "--epochs",
            "2",
            "--setting",
            "base:warmup_epochs=1",
            "--setting",
            "other:warmup_epochs=0,model_config.dropout=0.1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [r["setting"] for r in rows] == ["base", "other"]
    assert rows[1]["train"] == {"warmup_epochs": 0} and rows[1]["model_config"] == {"dropout": 0.1}
    assert all(len(r["dev_wer"]) == len(r["dev_loss"]) == 2 for r in rows)
    assert "other: leaves within 3 epochs in" in proc.stdout
