"""Helpers of the training tests (tiny configs, the CLI runner, a kill after an epoch)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from islpose.cli.main import cli
from islpose.train.loop import Trainer

REPO = Path(__file__).resolve().parents[1]
TINY = {
    "bilstm_optimized": {"projection_dim": 16, "hidden_dim": 16, "num_layers": 2, "dropout": 0.1},
    "mobilenet_v3_1d": {
        "pose_dim": 8,
        "hands_dim": 8,
        "face_dim": 8,
        "temporal_dim": 8,
        "upsample_dim": 16,
        "lstm_hidden": 16,
        "dropout": 0.1,
    },
}
TINY_TRAIN = {"batch_size": 4, "epochs": 2, "warmup_epochs": 1, "progress": False}


def run(*args, **kwargs):
    return CliRunner().invoke(cli, [str(a) for a in args], **kwargs)


def tiny_config(tmp_path: Path, name: str, **train) -> Path:
    path = tmp_path / f"{name}_tiny.yaml"
    path.write_text(yaml.safe_dump({"model": name, "model_config": TINY[name], "train": {**TINY_TRAIN, **train}}))
    return path


def killed_after(last: int):
    """A ``Trainer._end_epoch`` that ends the run (as a Ctrl-C would) after epoch ``last``."""
    end_epoch = Trainer._end_epoch

    def end(self, epoch, stats):
        end_epoch(self, epoch, stats)
        if epoch == last:
            raise KeyboardInterrupt

    return end


def killed_saving_last(save, meta_arg: int, epoch: int = 2):
    """A checkpoint writer ``save(path, *args)`` that ends the run (as a Ctrl-C would) when it is
    about to write ``last.pt`` of ``epoch`` (read from ``args[meta_arg]["epoch"]``): after
    ``best.pt`` of that epoch, before ``last.pt``."""

    def killed(path, *args, **kwargs):
        if Path(path).name == "last.pt" and args[meta_arg]["epoch"] == epoch:
            raise KeyboardInterrupt
        return save(path, *args, **kwargs)

    return killed


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
