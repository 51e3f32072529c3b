"""The GPU figures script in its CPU dry mode: every part runs and one JSON file is written."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "pipelines" / "bench" / "gpu_figures.py"


def test_dry_run_writes_every_figure(tmp_path):
    spec = importlib.util.spec_from_file_location("gpu_figures", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "figures.json"
    module.main(["--dry-run", "--out", str(out)])
    figures = json.loads(out.read_text())
    runs = figures["student"]["runs"]
    assert [(r["amp_bf16"], r["augment_on_device"]) for r in runs] == [(False, False), (True, False), (True, True)]
    assert all(r["epoch_s"] > 0 and r["utt_per_s"] > 0 for r in runs) and runs[2]["augment_s_per_epoch"] > 0
    teacher = figures["teacher"]["runs"][0]
    assert teacher["flops_per_step"] > 0 and 0 < teacher["mfu"] and teacher["step_s"] > 0
    assert figures["teacher_loader"]["frames"] > 0 and figures["teacher_loader"]["frames_per_s_per_core"] > 0
