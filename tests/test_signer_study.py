"""pipelines/recipes/signer_study.py: its corpora hold out signers 7/1/2, and it writes one row per run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from train_helpers import REPO

from islpose.manifests import read_manifest


@pytest.mark.slow
def test_signer_study_recipe_runs(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "pipelines" / "recipes" / "signer_study.py"),
            "--out",
            tmp_path,
            "--tiny",
            "--epochs",
            "1",
            "--seeds",
            "0",
            "--settings",
            "plain",
            "aug",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    for generator in ("synthetic", "wild"):
        utts = read_manifest(tmp_path / f"{generator}-seed0" / "corpus" / "study.jsonl").utterances
        signers = {s: {u.signer for u in utts if u.split == s} for s in ("train", "dev", "test")}
        assert [len(signers[s]) for s in ("train", "dev", "test")] == [7, 1, 2]
        assert [sum(u.split == s for u in utts) for s in ("train", "dev", "test")] == [14, 4, 4]
        assert not (signers["train"] & signers["dev"]) and not (signers["train"] & signers["test"])
    rows = json.loads((tmp_path / "results.json").read_text())
    assert sorted((r["generator"], r["setting"]) for r in rows) == [
        ("synthetic", "aug"),
        ("synthetic", "plain"),
        ("wild", "aug"),
        ("wild", "plain"),
    ]
    assert all(0.0 <= r[f"{c}_{s}_wer"] for r in rows for c in ("best", "last") for s in ("dev", "test"))
    assert "| generator | model | setting | seed |" in proc.stdout
