"""Resuming ``islpose train``: the same run, a kill between best.pt and last.pt, more epochs, more patience."""

from __future__ import annotations

import pytest
import torch
from train_helpers import killed_after, killed_saving_last, metrics, run, tiny_config

from islpose.models.checkpoint import read_checkpoint
from islpose.train.epochs import LRSchedule, warmup_cosine
from islpose.train.loop import Trainer


def test_resume_continues_the_same_run(small_corpus, tmp_path, monkeypatch):
    args = [
        "train",
        "--features",
        small_corpus.store,
        "--manifest",
        small_corpus.manifest,
        "--config",
        tiny_config(tmp_path, "bilstm_optimized", epochs=3),
    ]
    straight = run(*args, "--out", tmp_path / "straight")
    assert straight.exit_code == 0, straight.output

    monkeypatch.setattr(Trainer, "_end_epoch", killed_after(2))
    assert run(*args, "--out", tmp_path / "resumed").exit_code == 130
    monkeypatch.undo()
    assert run("train", "--resume", "--out", tmp_path / "resumed", "--lr", 1).exit_code == 1  # cannot change
    resumed = run(
        "train",
        "--features",
        small_corpus.store,
        "--manifest",
        small_corpus.manifest,
        "--out",
        tmp_path / "resumed",
        "--resume",
    )
    assert resumed.exit_code == 0, resumed.output
    a, b = metrics(tmp_path / "straight"), metrics(tmp_path / "resumed")
    assert [r["epoch"] for r in b] == [1, 2, 3]
    for ra, rb in zip(a, b):
        assert ra["train_loss"] == pytest.approx(rb["train_loss"], rel=1e-5)
        assert ra["dev_wer"] == rb["dev_wer"] and ra["lr"] == pytest.approx(rb["lr"])
    sa, sb = (read_checkpoint(tmp_path / d / "last.pt")["model_state"] for d in ("straight", "resumed"))
    for key in sa:
        torch.testing.assert_close(sa[key], sb[key], atol=1e-5, rtol=1e-4)

    done = run(
        "train",
        "--features",
        small_corpus.store,
        "--manifest",
        small_corpus.manifest,
        "--out",
        tmp_path / "resumed",
        "--resume",
    )
    assert done.exit_code == 0 and "nothing to do" in done.output
    longer = run(
        "train",
        "--features",
        small_corpus.store,
        "--manifest",
        small_corpus.manifest,
        "--out",
        tmp_path / "resumed",
        "--resume",
        "--epochs",
        4,
    )
    assert longer.exit_code == 0, longer.output
    assert [r["epoch"] for r in metrics(tmp_path / "resumed")] == [1, 2, 3, 4]


def test_a_kill_between_best_and_last_resumes_without_duplicates(small_corpus, tmp_path, monkeypatch):
    """Killed after metrics.jsonl and best.pt of epoch 2 were written, before last.pt."""
    import islpose.train.loop as loop

    out = tmp_path / "run"
    args = [
        "train",
        "--features",
        small_corpus.store,
        "--manifest",
        small_corpus.manifest,
        "--out",
        out,
        "--config",
        tiny_config(tmp_path, "bilstm_optimized", epochs=3),
    ]
    monkeypatch.setattr(
        loop.Trainer,
        "evaluate",
        lambda self: {  # every epoch improves: best.pt is written
            "wer": 1.0 / (1 + len(metrics(out)) if (out / "metrics.jsonl").exists() else 1),
            "substitutions": 0,
            "deletions": 0,
            "insertions": 0,
            "loss": None,
        },
    )
    save = loop.save_checkpoint
    monkeypatch.setattr(loop, "save_checkpoint", killed_saving_last(save, meta_arg=3))
    assert run(*args).exit_code == 130
    assert [r["epoch"] for r in metrics(out)] == [1, 2]
    assert read_checkpoint(out / "best.pt")["meta"]["epoch"] == 2
    assert read_checkpoint(out / "last.pt")["training_state"]["epoch"] == 1
    with (out / "metrics.jsonl").open("a") as handle:
        handle.write('{"epoch": 3, "train_lo')  # and a row cut short
    monkeypatch.setattr(loop, "save_checkpoint", save)
    resumed = run(
        "train", "--features", small_corpus.store, "--manifest", small_corpus.manifest, "--out", out, "--resume"
    )
    assert resumed.exit_code == 0, resumed.output
    assert [r["epoch"] for r in metrics(out)] == [1, 2, 3]
    last, best = read_checkpoint(out / "last.pt"), read_checkpoint(out / "best.pt")
    state = last["training_state"]
    assert state["epoch"] == 3 and state["best_epoch"] == best["meta"]["epoch"]
    assert state["best_wer"] == best["meta"]["dev_wer"]


def test_resuming_with_more_epochs_does_not_jump_the_learning_rate(small_corpus, tmp_path, monkeypatch):
    out = tmp_path / "run"
    lrs: list[float] = []
    step = Trainer._step

    def recorded(self, batch):
        lrs.append(self.optimizer.param_groups[0]["lr"])
        return step(self, batch)

    end_epoch = Trainer._end_epoch
    monkeypatch.setattr(Trainer, "_step", recorded)
    monkeypatch.setattr(Trainer, "_end_epoch", killed_after(2))
    args = ["train", "--features", small_corpus.store, "--manifest", small_corpus.manifest, "--out", out]
    assert run(*args, "--config", tiny_config(tmp_path, "bilstm_optimized", epochs=4)).exit_code == 130
    before = len(lrs)
    monkeypatch.setattr(Trainer, "_end_epoch", end_epoch)
    resumed = run(*args, "--resume", "--epochs", 6)
    assert resumed.exit_code == 0, resumed.output
    steps = before // 2  # per epoch; warmup is the first epoch
    assert len(lrs) == 6 * steps
    assert lrs[before] == pytest.approx(lrs[before - 1])  # the resumed run goes on at the same rate
    decay = lrs[steps:]
    assert all(b <= a * (1 + 1e-9) for a, b in zip(decay, decay[1:]))  # then only decays
    assert 0 < lrs[-1] < 0.05 * lrs[before]


def test_schedule_extended_during_warmup_is_the_longer_schedule():
    s = LRSchedule(10, 50)
    s.extend(5, 100)
    fresh = LRSchedule(10, 100)
    assert [s(i) for i in range(101)] == [fresh(i) for i in range(101)]
    same = LRSchedule(10, 50, LRSchedule(10, 50).state()["segments"])
    same.extend(30, 50)  # the same end: nothing changes
    assert [same(i) for i in range(51)] == [warmup_cosine(10, 50)(i) for i in range(51)]


def test_an_early_stopped_run_goes_on_with_more_patience(small_corpus, tmp_path, monkeypatch):
    import islpose.train.loop as loop

    monkeypatch.setattr(
        loop.Trainer,
        "evaluate",
        lambda self: {  # never better after epoch 1
            "wer": 0.5,
            "substitutions": 0,
            "deletions": 0,
            "insertions": 0,
            "loss": None,
        },
    )
    out = tmp_path / "run"
    args = ["train", "--features", small_corpus.store, "--manifest", small_corpus.manifest, "--out", out]
    first = run(*args, "--config", tiny_config(tmp_path, "bilstm_optimized", epochs=5, patience=1))
    assert first.exit_code == 0 and "early stop" in first.output
    assert [r["epoch"] for r in metrics(out)] == [1, 2]
    again = run(*args, "--resume")
    assert again.exit_code == 0 and "nothing to do" in again.output and "--patience" in again.output
    longer = run(*args, "--resume", "--patience", 2)
    assert longer.exit_code == 0, longer.output
    assert [r["epoch"] for r in metrics(out)] == [1, 2, 3]  # one more epoch without improvement: stops again
    assert read_checkpoint(out / "last.pt")["config"]["train"]["patience"] == 2
