"""Training under DDP (ranks' shares and seeds, 2 gloo processes) and frame-budget batches."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from train_helpers import TINY, TINY_TRAIN, metrics, run, tiny_config

from islpose.manifests import read_manifest
from islpose.train import load_checkpoint, resolve_config
from islpose.train.config import read_yaml
from islpose.train.loop import Trainer


def test_ddp_ranks_load_their_own_share_and_draw_their_own_dropout(small_corpus, tmp_path, monkeypatch):
    """Two ranks simulated in one process (a gloo group of one carries the collectives)."""
    import torch.distributed as dist

    from islpose.train.distributed import DistContext

    config = resolve_config(
        "bilstm_optimized",
        {"model_config": TINY["bilstm_optimized"], "train": {**TINY_TRAIN, "batch_size": 2, "device": "cpu"}},
    )
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    draws: dict[int, list] = {}

    def step(self, batch):  # the first random numbers of every step: dropout masks and augmentation draw these
        draws.setdefault(self.ctx.rank, []).append(torch.rand(3))
        return torch.zeros(()), True

    monkeypatch.setattr(Trainer, "_step", step)
    try:
        ranks = []
        for r in (0, 1):  # one after the other, each as a fresh process would (both seed alike at first)
            ranks.append(
                Trainer(
                    config,
                    small_corpus.store,
                    small_corpus.manifest,
                    tmp_path / "run",
                    False,
                    DistContext(rank=r, world_size=2),
                    None,
                )
            )
            ranks[-1].train_epoch(1)
    finally:
        dist.destroy_process_group()
    train_ids = [u.id for u in read_manifest(small_corpus.manifest) if u.split == "train"]
    shares = [set(t.train_set.ids) for t in ranks]
    assert shares[0] | shares[1] == set(train_ids) and not shares[0] & shares[1]  # 6 utterances: 3 + 3
    assert all(len(t.train_set._features) == len(train_ids) // 2 for t in ranks)  # only its share in memory
    assert len(ranks[0].sampler) == len(ranks[1].sampler)  # the same number of steps
    assert not torch.equal(draws[0][0], draws[1][0])
    assert ranks[1].dev_set is None  # rank 0 alone evaluates


@pytest.mark.slow
def test_ddp_on_two_cpu_processes(small_corpus, tmp_path):
    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "islpose.cli.main",
        "train",
        "--features",
        str(small_corpus.store),
        "--manifest",
        str(small_corpus.manifest),
        "--out",
        str(out),
        "--config",
        str(tiny_config(tmp_path, "bilstm_optimized")),
        "--device",
        "cpu",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "x 2 processes" in proc.stderr
    rows = metrics(out)
    assert [r["epoch"] for r in rows] == [1, 2]  # rank 0 logs once per epoch
    n_train = sum(u.split == "train" for u in read_manifest(small_corpus.manifest))
    # Both ranks' utterances are counted: every train utterance once, plus at most one padding batch.
    assert n_train <= rows[0]["train_utterances"] <= n_train + TINY_TRAIN["batch_size"]
    assert load_checkpoint(out / "best.pt").meta["epoch"] in (1, 2)


def _train_lengths(corpus) -> list[int]:
    from islpose.io import FeatureStore

    with FeatureStore(corpus.store) as store:
        return [store.shape(u.id, "pose")[0] for u in read_manifest(corpus.manifest) if u.split == "train"]


def test_max_frames_bounds_the_training_batches(small_corpus, tmp_path, monkeypatch):
    lengths = sorted(_train_lengths(small_corpus))
    budget = 6 * lengths[len(lengths) // 2]
    seen, step = [], Trainer._step
    monkeypatch.setattr(
        Trainer, "_step", lambda self, batch: seen.append(tuple(batch["features"].shape[:2])) or step(self, batch)
    )
    out = tmp_path / "run"
    result = run(
        "train",
        "--features",
        small_corpus.store,
        "--manifest",
        small_corpus.manifest,
        "--out",
        out,
        "--config",
        tiny_config(tmp_path, "bilstm_optimized", epochs=1),
        "--max-frames",
        budget,
    )
    assert result.exit_code == 0, result.output
    assert read_yaml(out / "config.yaml")["train"]["max_frames"] == budget
    assert sum(b for b, _ in seen) == len(lengths)
    assert all(b * t <= budget for b, t in seen)  # (B, T): padded frames within the budget
    assert max(b for b, _ in seen) > TINY_TRAIN["batch_size"]  # the budget, not --batch-size, sizes them
    resumed = run("train", "--out", out, "--resume", "--max-frames", budget + 1)
    assert resumed.exit_code == 1 and "--max-frames cannot change when resuming" in resumed.output


@pytest.mark.slow
def test_ddp_with_max_frames_on_two_cpu_processes(small_corpus, tmp_path):
    """Frame-budget batches under `torchrun --nproc_per_node 2` (gloo): the two shards pack into different
    numbers of batches, yet both ranks run the same number of steps (else DDP would hang or fail)."""
    from islpose.data import pack_frames, shard

    lengths = _train_lengths(small_corpus)

    def packed(budget: int) -> list[int]:
        return [len(pack_frames([lengths[i] for i in shard(lengths, 2, r)], budget)) for r in range(2)]

    budget = next(b for b in range(max(lengths), 20 * max(lengths)) if len(set(packed(b))) > 1)
    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "islpose.cli.main",
        "train",
        "--features",
        str(small_corpus.store),
        "--manifest",
        str(small_corpus.manifest),
        "--out",
        str(out),
        "--max-frames",
        str(budget),
        "--config",
        str(tiny_config(tmp_path, "bilstm_optimized")),
        "--device",
        "cpu",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = metrics(out)
    assert [r["epoch"] for r in rows] == [1, 2]
    assert len(lengths) <= rows[0]["train_utterances"] <= len(lengths) + 1  # both shards, one item repeated at most
