"""`islpose teacher train` / `teacher export` on rendered synthetic videos, on the CPU."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from train_helpers import killed_saving_last, metrics

from islpose.cli.main import cli
from islpose.data.posteriors import check_teacher_vocab
from islpose.io import FeatureStore
from islpose.manifests import read_manifest, write_manifest
from islpose.teacher.checkpoint import load_teacher_checkpoint
from islpose.teacher.config import load_teacher_config
from islpose.teacher.models import TEACHERS
from islpose.testing import make_synthetic_corpus
from islpose.vocab import Vocabulary

cv2 = pytest.importorskip("cv2")
CONFIGS = Path(__file__).resolve().parents[1] / "configs"
TINY = {name: CONFIGS / f"teacher_{name}_tiny.yaml" for name in TEACHERS}


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """12 rendered clips (4 train, 4 dev, 4 test) and their manifest."""
    from islpose.testing.render import render_synthetic_videos

    out = tmp_path_factory.mktemp("videos")
    corpus = make_synthetic_corpus(out, num_glosses=5, num_signers=3, utterances_per_signer=4, seed=0)
    return corpus, render_synthetic_videos(corpus, out, width=64, height=48)


def invoke(*args: str):
    return CliRunner().invoke(cli, ["teacher", *map(str, args)])


def train_args(manifest, out, config=TINY["dense_vit"], epochs=2):
    return ["train", "--config", config, "--manifest", manifest, "--out", out, "--epochs", epochs]


def test_render_draws_every_frame_of_the_landmarks(videos):
    corpus, manifest = videos
    utts = read_manifest(manifest).utterances
    assert len(utts) == sum(corpus.splits.values())
    with FeatureStore(corpus.store) as store:
        for utt in utts[:2]:
            assert utt.text == " ".join(utt.glosses).lower()
            cap = cv2.VideoCapture(utt.video)
            frames = []
            while True:
                ok, img = cap.read()
                if not ok:
                    break
                frames.append(img)
            assert len(frames) == store.num_frames(utt.id) and frames[0].shape == (48, 64, 3)
            # The figure is drawn (not a blank background) and moves: the hands change between frames.
            assert np.abs(frames[0].astype(int) - 235).max() > 60
            assert np.abs(frames[0].astype(int) - frames[len(frames) // 2].astype(int)).max() > 60


@pytest.mark.parametrize("arch", sorted(TEACHERS))
def test_train_then_export_through_the_cli(videos, tmp_path, arch):
    _, manifest = videos
    run = tmp_path / "run"
    result = invoke(*train_args(manifest, run, TINY[arch]))
    assert result.exit_code == 0, result.output
    assert "epoch 2/2" in result.output and "best dev WER" in result.output
    records = metrics(run)
    assert [r["epoch"] for r in records] == [1, 2]
    assert all(np.isfinite(r["train_loss"]) and 0 <= r["dev_wer"] for r in records)
    assert records[0]["train_ctc"] > 0 and records[0]["train_ce"] > 0  # both parts of the hybrid loss train

    ckpt = load_teacher_checkpoint(run / "best.pt")
    vocab = Vocabulary.load(run / "tokens.txt")
    assert ckpt.config.model == arch and ckpt.vocab == vocab and ckpt.text_vocab is not None
    train_glosses = {g for u in read_manifest(manifest) if u.split == "train" for g in u.glosses}
    assert vocab.glosses == tuple(sorted(train_glosses)) and not ckpt.model.training

    out = tmp_path / "posteriors.h5"
    result = invoke(
        "export",
        "--checkpoint",
        run / "best.pt",
        "--manifest",
        manifest,
        "--split",
        "dev",
        "--out",
        out,
        "--device",
        "cpu",
    )
    assert result.exit_code == 0, result.output
    dev = [u for u in read_manifest(manifest) if u.split == "dev"]
    with FeatureStore(out) as store:
        check_teacher_vocab(store, vocab)
        assert sorted(store.ids()) == sorted(u.id for u in dev)
        lp = store.read(dev[0].id, "teacher_logprobs")
        assert lp.shape[1] == len(vocab) and lp.shape[0] > 0
        np.testing.assert_allclose(np.logaddexp.reduce(lp, axis=1), 0, atol=1e-4)
        assert json.loads(store.metadata["teacher"])["arch"] == arch


def test_resume_continues_exactly_where_the_run_stopped(videos, tmp_path):
    from islpose.teacher.train import TeacherTrainer
    from islpose.train.distributed import DistContext

    _, manifest = videos
    assert invoke(*train_args(manifest, tmp_path / "full", epochs=3)).exit_code == 0
    config = load_teacher_config(TINY["dense_vit"])
    config.train = replace(config.train, epochs=3)
    killed = TeacherTrainer(config, manifest, tmp_path / "cut", False, None, DistContext(), None)
    killed._end_epoch(1, killed.train_epoch(1))  # the run dies after its first epoch
    result = invoke("train", "--manifest", manifest, "--out", tmp_path / "cut", "--resume")
    assert result.exit_code == 0, result.output
    assert "epoch 1/" not in result.output and "epoch 3/3" in result.output
    full, cut = metrics(tmp_path / "full"), metrics(tmp_path / "cut")
    assert [r["epoch"] for r in cut] == [1, 2, 3]
    # Same batches, learning rates and RNG: the resumed run ends with the same weights.
    assert [r["train_loss"] for r in cut] == pytest.approx([r["train_loss"] for r in full], rel=1e-5)
    a = torch.load(tmp_path / "full" / "last.pt", weights_only=True)["model_state"]
    b = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)["model_state"]
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)

    again = invoke("train", "--manifest", manifest, "--out", tmp_path / "cut", "--resume", "--epochs", 3)
    assert again.exit_code == 0 and "nothing to do" in again.output


def test_a_kill_between_best_and_last_resumes_without_duplicates(videos, tmp_path, monkeypatch):
    import islpose.teacher.train as teacher_train

    _, manifest = videos
    out = tmp_path / "run"
    monkeypatch.setattr(
        teacher_train.TeacherTrainer,
        "evaluate",
        lambda self: {  # every epoch improves
            "wer": 1.0 / (1 + len(metrics(out))) if (out / "metrics.jsonl").exists() else 1.0,
            "bleu": None,
            "substitutions": 0,
            "deletions": 0,
            "insertions": 0,
        },
    )
    save = teacher_train.save_teacher_checkpoint
    monkeypatch.setattr(teacher_train, "save_teacher_checkpoint", killed_saving_last(save, meta_arg=4))
    assert invoke(*train_args(manifest, out, epochs=3)).exit_code == 130
    assert [r["epoch"] for r in metrics(out)] == [1, 2]
    monkeypatch.setattr(teacher_train, "save_teacher_checkpoint", save)
    resumed = invoke("train", "--manifest", manifest, "--out", out, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert [r["epoch"] for r in metrics(out)] == [1, 2, 3]
    last = torch.load(out / "last.pt", weights_only=True)
    best = torch.load(out / "best.pt", weights_only=True)
    assert last["training_state"]["best_epoch"] == best["meta"]["epoch"] == 3
    assert last["training_state"]["best_wer"] == best["meta"]["dev_wer"]


def test_bleu_is_reported_with_sacrebleu(videos, tmp_path, monkeypatch):
    """A stand-in sacrebleu module checks the call that the trainer makes (the real one is optional)."""
    _, manifest = videos
    calls = []

    class FakeSacrebleu:
        @staticmethod
        def corpus_bleu(hypotheses, references):
            calls.append((hypotheses, references))
            return type("Score", (), {"score": 12.5})()

    monkeypatch.setitem(sys.modules, "sacrebleu", FakeSacrebleu)
    result = invoke(*train_args(manifest, tmp_path / "run", epochs=1))
    assert result.exit_code == 0 and "BLEU 12.5" in result.output
    hyps, (refs,) = calls[0]
    dev = [u for u in read_manifest(manifest) if u.split == "dev"]
    assert refs == [u.text for u in dev] and len(hyps) == len(dev)
    assert metrics(tmp_path / "run")[0]["dev_bleu"] == 12.5


def test_without_sacrebleu_bleu_is_skipped_with_one_notice(videos, tmp_path, monkeypatch):
    _, manifest = videos
    monkeypatch.setitem(sys.modules, "sacrebleu", None)  # import fails
    result = invoke(*train_args(manifest, tmp_path / "run"))
    assert result.exit_code == 0, result.output
    assert result.output.count("pip install sacrebleu") == 1
    assert all(r["dev_bleu"] is None for r in metrics(tmp_path / "run"))


def test_ctc_only_run_needs_no_text(videos, tmp_path):
    _, manifest = videos
    utts = [u.__class__(**{**u.__dict__, "text": None}) for u in read_manifest(manifest)]
    no_text = write_manifest(utts, Path(manifest).with_name("no_text.jsonl"))
    result = invoke(*train_args(no_text, tmp_path / "a", epochs=1))
    assert result.exit_code == 1 and "have no 'text'" in result.output and "ce_weight: 0" in result.output
    cfg = tmp_path / "ctc.yaml"
    cfg.write_text(TINY["dense_vit"].read_text().replace("ce_weight: 0.5", "ce_weight: 0.0"))
    result = invoke(*train_args(no_text, tmp_path / "b", cfg, epochs=1))
    assert result.exit_code == 0, result.output
    ckpt = load_teacher_checkpoint(tmp_path / "b" / "best.pt")
    assert ckpt.text_vocab is None and ckpt.model.decoder is None


def test_unreadable_videos_are_listed_and_training_goes_on(videos, tmp_path):
    _, manifest = videos
    utts = read_manifest(manifest).utterances
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    first = next(u for u in utts if u.split == "train")
    utts = [u.__class__(**{**u.__dict__, "video": str(broken)}) if u is first else u for u in utts]
    path = write_manifest(utts, tmp_path / "m.jsonl")
    result = invoke(*train_args(path, tmp_path / "run", epochs=1))
    assert result.exit_code == 0, result.output
    assert "1 unreadable video(s)" in result.output
    assert first.id in (tmp_path / "run" / "failures.tsv").read_text()

    result = invoke(
        "export",
        "--checkpoint",
        tmp_path / "run" / "best.pt",
        "--manifest",
        path,
        "--out",
        tmp_path / "p.h5",
        "--device",
        "cpu",
    )
    assert result.exit_code == 1 and f"failed: {first.id}" in result.output
    assert "1 of 12 video(s) could not be exported" in result.output
    with FeatureStore(tmp_path / "p.h5") as store:
        assert len(store) == 11  # the others are written


@pytest.mark.parametrize(
    "case, args, message",
    [
        ("no_config", ["train", "--manifest", "{m}", "--out", "{o}"], "give --arch or --config"),
        ("unknown_arch", ["train", "--arch", "nope", "--manifest", "{m}", "--out", "{o}"], "unknown teacher 'nope'"),
        ("bad_yaml_key", ["train", "--config", "{bad}", "--manifest", "{m}", "--out", "{o}"], "unknown key"),
        ("no_last", ["train", "--manifest", "{m}", "--out", "{o}", "--resume"], "nothing to resume"),
        (
            "resume_with_config",
            ["train", "--config", "{tiny}", "--manifest", "{m}", "--out", "{o}", "--resume"],
            "--config cannot change when resuming",
        ),
        (
            "missing_weights",
            ["train", "--config", "{tiny}", "--manifest", "{m}", "--out", "{o}", "--init-weights", "{o}/none.pt"],
            "weights file not found",
        ),
        (
            "bad_epochs",
            ["train", "--config", "{tiny}", "--manifest", "{m}", "--out", "{o}", "--epochs", "0"],
            "epochs=0",
        ),
        (
            "no_dev",
            ["train", "--config", "{tiny}", "--manifest", "{nodev}", "--out", "{o}"],
            "no utterances in split 'dev'",
        ),
        (
            "export_missing",
            ["export", "--checkpoint", "{o}/best.pt", "--manifest", "{m}", "--out", "{o}/p.h5"],
            "checkpoint not found",
        ),
        (
            "export_garbage",
            ["export", "--checkpoint", "{garbage}", "--manifest", "{m}", "--out", "{o}/p.h5"],
            "cannot be read as a teacher checkpoint",
        ),
    ],
)
def test_bad_input_gives_one_clear_error(videos, tmp_path, case, args, message):
    _, manifest = videos
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY["dense_vit"].read_text() + "optimizer: sgd\n")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00" * 100)
    nodev = write_manifest([u for u in read_manifest(manifest) if u.split != "dev"], tmp_path / "nodev.jsonl")
    fill = {
        "m": manifest,
        "o": tmp_path / "run",
        "bad": bad,
        "tiny": TINY["dense_vit"],
        "garbage": garbage,
        "nodev": nodev,
    }
    result = invoke(*(a.format(**fill) for a in args))
    assert result.exit_code in (1, 2) and message in result.output, result.output
    assert "Traceback" not in result.output


def test_existing_run_is_not_overwritten_and_student_checkpoints_are_refused(videos, tmp_path):
    from islpose.models.checkpoint import save_checkpoint

    _, manifest = videos
    run = tmp_path / "run"
    assert invoke(*train_args(manifest, run, epochs=1)).exit_code == 0
    before = (run / "last.pt").read_bytes()
    result = invoke(*train_args(manifest, run, epochs=1))
    assert result.exit_code == 1 and "already holds a run" in result.output
    assert (run / "last.pt").read_bytes() == before

    student = save_checkpoint(
        tmp_path / "student.pt", torch.nn.Linear(2, 2), Vocabulary(["A"]), {"model": "bilstm_optimized"}, {}
    )
    result = invoke("export", "--checkpoint", student, "--manifest", manifest, "--out", tmp_path / "p.h5")
    assert result.exit_code == 1 and "a student checkpoint" in result.output


@pytest.mark.slow
def test_ddp_on_two_cpu_processes(videos, tmp_path):
    """`torchrun --nproc_per_node 2` (gloo): both ranks train, rank 0 logs and checkpoints once per epoch."""
    import os
    import subprocess

    _, manifest = videos
    run = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "islpose.cli.main",
        "teacher",
        *map(str, train_args(manifest, run)),
        "--device",
        "cpu",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if proc.returncode != 0 and "SIGABRT" in proc.stdout + proc.stderr:
        # Seen in about 1 of 4 full-suite runs on the 2-core machine, never alone: a rank
        # aborts (cause not found yet). Run once more, and say so in the test summary.
        import shutil
        import warnings

        warnings.warn(
            "torchrun teacher run aborted (SIGABRT); retried once:\n" + (proc.stdout + proc.stderr)[-2000:],
            stacklevel=2,
        )
        shutil.rmtree(run, ignore_errors=True)
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"}
        )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "x 2 processes" in output, output
    assert [r["epoch"] for r in metrics(run)] == [1, 2], output
    assert load_teacher_checkpoint(run / "best.pt").meta["epoch"] in (1, 2)
