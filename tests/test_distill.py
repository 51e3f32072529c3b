"""Distillation: the KD loss, resampling, masks, teacher checks, ``islpose distill`` and that it helps."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner

from islpose.cli.main import cli
from islpose.errors import IslposeError
from islpose.io import FeatureStore
from islpose.manifests import read_manifest
from islpose.models import MODELS
from islpose.models.checkpoint import read_checkpoint
from islpose.teacher.export_posteriors import FeatureSource, export_posteriors
from islpose.train import load_checkpoint, resolve_config, train
from islpose.train.distill import distill
from islpose.train.kd_loss import kd_loss, resample_frames
from islpose.vocab import Vocabulary

REPO = Path(__file__).resolve().parents[1]
TINY = {
    "bilstm_optimized": {"projection_dim": 16, "hidden_dim": 16, "num_layers": 2, "dropout": 0.1},
    "lstm_lookahead": {"projection_dim": 16, "hidden_dim": 16, "num_layers": 2, "lookahead": 2},
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
TINY_TRAIN = {"batch_size": 4, "epochs": 2, "warmup_epochs": 1, "progress": False, "device": "cpu"}


def export_pose_teacher(checkpoint: Path, features: Path, out: Path, batch_size: int = 16):
    ckpt = load_checkpoint(checkpoint)
    return export_posteriors(ckpt.model, ckpt.vocab, FeatureSource(features), out, batch_size=batch_size)


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def tiny_config(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"model": name, "model_config": TINY[name], "train": TINY_TRAIN}))
    return path


def teacher_store(path: Path, corpus, *, vocab: Vocabulary | None = None, rate: float = 0.5, skip=(), seed=0) -> Path:
    """Random teacher posteriors for every utterance of ``corpus`` at ``rate`` x its frame rate."""
    vocab = vocab or Vocabulary.from_manifest(corpus.manifest, "train")
    rng = np.random.default_rng(seed)
    meta = {"teacher_vocab": list(vocab.tokens)}
    with FeatureStore(corpus.store) as source, FeatureStore(path, "w", metadata=meta) as out:
        for uid in source.ids():
            if uid not in skip:
                frames = max(1, round(source.num_frames(uid) * rate))
                logits = torch.from_numpy(rng.normal(0, 2, size=(frames, len(vocab))).astype(np.float32))
                out.write(uid, {"teacher_logprobs": logits.log_softmax(-1).numpy()})
    return path


@pytest.fixture(scope="module")
def mm_corpus(tmp_path_factory):
    from islpose.testing import make_synthetic_corpus

    return make_synthetic_corpus(
        tmp_path_factory.mktemp("mm"), num_glosses=6, num_signers=3, utterances_per_signer=3, multimodal=True, seed=2
    )


@pytest.fixture(scope="module")
def posteriors(small_corpus, tmp_path_factory):
    return teacher_store(tmp_path_factory.mktemp("teacher") / "post.h5", small_corpus)


# ---------------------------------------------------------------- resampling and the loss
def test_resample_keeps_equal_lengths_and_interpolates_between_frame_centres():
    x = torch.arange(6, dtype=torch.float32).reshape(1, 6, 1)  # values 0..5
    same = resample_frames(x, torch.tensor([6]), torch.tensor([6]), 6)
    assert torch.equal(same, x)
    half = resample_frames(x, torch.tensor([6]), torch.tensor([3]), 3)[0, :, 0]
    assert torch.allclose(half, torch.tensor([0.5, 2.5, 4.5]))  # centres of frame pairs
    double = resample_frames(x[:, :2], torch.tensor([2]), torch.tensor([4]), 4)[0, :, 0]
    assert torch.allclose(double, torch.tensor([0.0, 0.25, 0.75, 1.0]))  # clamped at the ends


def test_resample_never_reads_padding():
    x = torch.full((2, 5, 3), float("nan"))
    x[0, :5], x[1, :2] = 1.0, 2.0  # utterance 1 has 2 valid frames, then NaN padding
    y = resample_frames(x, torch.tensor([5, 2]), torch.tensor([3, 7]), 7)
    assert torch.isfinite(y).all() and torch.equal(y[1], torch.full((7, 3), 2.0))


@pytest.mark.parametrize("temperature", [1.0, 2.0, 4.0])
def test_kd_loss_is_zero_for_the_teachers_own_distribution_and_positive_otherwise(temperature):
    logp = torch.randn(7, 2, 5).log_softmax(-1)  # (T', B, V)
    lengths = torch.tensor([7, 4])
    teacher = logp.transpose(0, 1).clone()  # same frame count
    assert kd_loss(logp, lengths, teacher, lengths, temperature).abs() < 1e-5
    other = torch.randn(7, 2, 5).log_softmax(-1)
    assert kd_loss(other, lengths, teacher, lengths, temperature) > 0.01


def test_kd_loss_matches_a_frame_by_frame_reference_and_ignores_padding():
    torch.manual_seed(0)
    T = 2.0
    student = torch.randn(6, 2, 4).log_softmax(-1)  # (T', B, V)
    out_lengths = torch.tensor([6, 3])
    teacher = torch.randn(2, 12, 4).log_softmax(-1)  # (B, T_teacher, V): twice the student's rate
    teacher_lengths = torch.tensor([12, 6])
    loss = kd_loss(student, out_lengths, teacher, teacher_lengths, T)
    # reference: frame t of the student reads the mean of teacher frames 2t, 2t+1 (centre alignment)
    total, frames = 0.0, 0
    for b in range(2):
        for t in range(int(out_lengths[b])):
            p = ((teacher[b, 2 * t] / T).softmax(-1) + (teacher[b, 2 * t + 1] / T).softmax(-1)) / 2
            q = (student[t, b] / T).log_softmax(-1)
            total += float((p * (p.log() - q)).sum())
            frames += 1
    assert math.isclose(float(loss), T**2 * total / frames, rel_tol=1e-5)
    garbage_s, garbage_t = student.clone(), teacher.clone()
    garbage_s[3:, 1] = float("nan")  # student padding
    garbage_t[1, 6:] = float("nan")  # teacher padding
    assert math.isclose(
        float(kd_loss(garbage_s, out_lengths, garbage_t, teacher_lengths, T)), float(loss), rel_tol=1e-6
    )


def test_no_gradient_reaches_padded_frames():
    student = torch.randn(5, 2, 4).log_softmax(-1).requires_grad_()
    kd_loss(student, torch.tensor([5, 2]), torch.randn(2, 3, 4), torch.tensor([3, 1]), 2.0).backward()
    assert student.grad[2:, 1].abs().sum() == 0 and student.grad[:2, 1].abs().sum() > 0


# ---------------------------------------------------------------- training runs
def test_alpha_zero_reproduces_plain_training_exactly(small_corpus, posteriors, tmp_path):
    plain_config = resolve_config("bilstm_optimized", {"model_config": TINY["bilstm_optimized"]}, TINY_TRAIN)
    kd_config = resolve_config(
        "bilstm_optimized", {"model_config": TINY["bilstm_optimized"]}, TINY_TRAIN, distill={"alpha": 0.0}
    )
    train(plain_config, small_corpus.store, small_corpus.manifest, tmp_path / "plain")
    distill(kd_config, small_corpus.store, posteriors, small_corpus.manifest, tmp_path / "kd")
    rows = [
        [json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
        for name in ("plain", "kd")
    ]
    keys = ("train_loss", "dev_wer", "lr", "bad_steps")
    assert [[r[k] for k in keys] for r in rows[0]] == [[r[k] for k in keys] for r in rows[1]]
    plain, kd = (read_checkpoint(tmp_path / name / "last.pt")["model_state"] for name in ("plain", "kd"))
    assert all(torch.equal(plain[k], kd[k]) for k in plain)


def test_positive_alpha_changes_training(small_corpus, posteriors, tmp_path):
    config = resolve_config(
        "bilstm_optimized", {"model_config": TINY["bilstm_optimized"]}, TINY_TRAIN, distill={"alpha": 1.0}
    )
    distill(config, small_corpus.store, posteriors, small_corpus.manifest, tmp_path / "kd")
    train(
        resolve_config("bilstm_optimized", {"model_config": TINY["bilstm_optimized"]}, TINY_TRAIN),
        small_corpus.store,
        small_corpus.manifest,
        tmp_path / "plain",
    )
    kd, plain = (read_checkpoint(tmp_path / n / "last.pt")["model_state"] for n in ("kd", "plain"))
    assert not all(torch.equal(plain[k], kd[k]) for k in plain)
    assert read_checkpoint(tmp_path / "kd" / "best.pt")["config"]["distill"]["alpha"] == 1.0


@pytest.mark.parametrize("name", sorted(MODELS))
def test_distill_cli_trains_each_student(name, mm_corpus, tmp_path):
    # Teacher at a third of the frame rate: resampled up to each student's rate (2x subsampled or not).
    post = teacher_store(tmp_path / "post.h5", mm_corpus, rate=1 / 3)
    out = tmp_path / "run"
    result = run(
        "distill",
        "--model",
        name,
        "--features",
        mm_corpus.store,
        "--teacher",
        post,
        "--manifest",
        mm_corpus.manifest,
        "--out",
        out,
        "--config",
        tiny_config(tmp_path, name),
        "--alpha",
        0.5,
        "--temperature",
        3,
    )
    assert result.exit_code == 0, result.output
    assert "best dev WER" in result.output
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["model"] == name and saved["distill"] == {"alpha": 0.5, "temperature": 3.0, "missing_teacher": "error"}
    assert load_checkpoint(out / "best.pt").model_name == name
    decoded = run(
        "decode",
        "--checkpoint",
        out / "best.pt",
        "--features",
        mm_corpus.store,
        "--manifest",
        mm_corpus.manifest,
        "--split",
        "dev",
        "--beam",
        1,
        "--out",
        tmp_path / "dev.tsv",
        "--device",
        "cpu",
    )
    assert decoded.exit_code == 0, decoded.output


def test_teacher_vocabulary_mismatch_is_a_clear_error(small_corpus, tmp_path):
    vocab = Vocabulary.from_manifest(small_corpus.manifest, "train")
    other = Vocabulary([*vocab.tokens[1:], "EXTRA"])
    post = teacher_store(tmp_path / "post.h5", small_corpus, vocab=other)
    result = run(
        "distill",
        "--features",
        small_corpus.store,
        "--teacher",
        post,
        "--manifest",
        small_corpus.manifest,
        "--out",
        tmp_path / "run",
        "--config",
        tiny_config(tmp_path, "bilstm_optimized"),
    )
    assert result.exit_code == 1
    assert "teacher vocabulary" in result.output and str(post) in result.output
    assert not (tmp_path / "run" / "last.pt").exists()


def test_store_without_teacher_vocab_is_a_clear_error(small_corpus, tmp_path):
    result = run(
        "distill",
        "--features",
        small_corpus.store,
        "--teacher",
        small_corpus.store,
        "--manifest",
        small_corpus.manifest,
        "--out",
        tmp_path / "run",
        "--config",
        tiny_config(tmp_path, "bilstm_optimized"),
    )
    assert result.exit_code == 1 and "teacher_vocab" in result.output


def test_posteriors_of_the_wrong_width_are_a_clear_error(small_corpus, tmp_path):
    vocab = Vocabulary.from_manifest(small_corpus.manifest, "train")
    post = tmp_path / "post.h5"
    with FeatureStore(post, "w", metadata={"teacher_vocab": list(vocab.tokens)}) as out:
        for uid in [u.id for u in read_manifest(small_corpus.manifest)]:
            out.write(uid, {"teacher_logprobs": np.zeros((5, len(vocab) + 1), np.float32)})
    with pytest.raises(IslposeError, match=r"teacher_logprobs has shape \(5, \d+\)"):
        distill(
            resolve_config("bilstm_optimized", {"model_config": TINY["bilstm_optimized"]}, TINY_TRAIN, distill={}),
            small_corpus.store,
            post,
            small_corpus.manifest,
            tmp_path / "run",
        )


def test_missing_teacher_posteriors_error_or_listed_skip(small_corpus, tmp_path):
    train_ids = [u.id for u in read_manifest(small_corpus.manifest) if u.split == "train"]
    post = teacher_store(tmp_path / "post.h5", small_corpus, skip=train_ids[:2])
    args = [
        "distill",
        "--features",
        small_corpus.store,
        "--teacher",
        post,
        "--manifest",
        small_corpus.manifest,
        "--config",
        tiny_config(tmp_path, "bilstm_optimized"),
    ]
    result = run(*args, "--out", tmp_path / "strict")
    assert result.exit_code == 1
    assert "2 train utterance(s) have no teacher posteriors" in result.output
    assert "--missing-teacher skip" in result.output
    result = run(*args, "--out", tmp_path / "lenient", "--missing-teacher", "skip")
    assert result.exit_code == 0, result.output
    skipped = (tmp_path / "lenient" / "skipped.tsv").read_text().splitlines()[1:]
    assert sorted(line.split("\t")[:2] for line in skipped) == sorted([uid, "no-teacher"] for uid in train_ids[:2])
    row = json.loads((tmp_path / "lenient" / "metrics.jsonl").read_text().splitlines()[0])
    assert row["train_utterances"] == len(train_ids) - 2


def test_resume_keeps_the_distill_settings(small_corpus, posteriors, tmp_path):
    out = tmp_path / "run"
    args = [
        "--features",
        small_corpus.store,
        "--teacher",
        posteriors,
        "--manifest",
        small_corpus.manifest,
        "--out",
        out,
    ]
    assert run("distill", *args, "--config", tiny_config(tmp_path, "bilstm_optimized"), "--alpha", 0.3).exit_code == 0
    changed = run("distill", *args, "--resume", "--epochs", 3, "--alpha", 0.5)
    assert changed.exit_code == 1 and "--alpha cannot change when resuming" in changed.output
    resumed = run("distill", *args, "--resume", "--epochs", 3)
    assert resumed.exit_code == 0, resumed.output
    assert read_checkpoint(out / "last.pt")["config"]["distill"]["alpha"] == 0.3
    plain = run(
        "train",
        "--features",
        small_corpus.store,
        "--manifest",
        small_corpus.manifest,
        "--out",
        out,
        "--resume",
        "--epochs",
        4,
    )
    assert plain.exit_code == 1 and "islpose distill" in plain.output


def test_distill_needs_a_teacher(small_corpus, tmp_path):
    result = run(
        "distill",
        "--features",
        small_corpus.store,
        "--manifest",
        small_corpus.manifest,
        "--out",
        tmp_path / "run",
        "--config",
        tiny_config(tmp_path, "bilstm_optimized"),
    )
    assert result.exit_code == 2 and "--teacher" in result.output


def test_export_pose_teacher_writes_posteriors_at_the_models_frame_rate(small_corpus, tmp_path):
    run_dir = tmp_path / "teacher"
    assert (
        run(
            "train",
            "--features",
            small_corpus.store,
            "--manifest",
            small_corpus.manifest,
            "--out",
            run_dir,
            "--config",
            tiny_config(tmp_path, "bilstm_optimized"),
        ).exit_code
        == 0
    )
    post = tmp_path / "post.h5"
    report = export_pose_teacher(run_dir / "best.pt", small_corpus.store, post, batch_size=3)
    with FeatureStore(small_corpus.store) as source, FeatureStore(post) as out:
        assert sorted(report.written) == source.ids() == out.ids()
        vocab = Vocabulary.from_manifest(small_corpus.manifest, "train")
        assert json.loads(out.metadata["teacher_vocab"]) == list(vocab.tokens)
        for uid in source.ids():
            logp = out.read(uid, "teacher_logprobs")
            assert logp.shape == (math.ceil(source.num_frames(uid) / 2), len(vocab))
            assert np.allclose(np.exp(logp).sum(-1), 1.0, atol=1e-4)
    again = export_pose_teacher(run_dir / "best.pt", small_corpus.store, post)
    assert again.written == [] and sorted(again.skipped) == sorted(report.written)


def test_a_store_holds_the_posteriors_of_one_teacher(small_corpus, tmp_path):
    from islpose.data.posteriors import IDENTITY_ATTR, weights_sha256
    from islpose.errors import StoreError
    from islpose.models import build_model

    vocab = Vocabulary.from_manifest(small_corpus.manifest, "train")
    first, second = (build_model("bilstm_optimized", TINY["bilstm_optimized"], vocab_size=len(vocab)) for _ in "ab")
    with FeatureStore(small_corpus.store) as store:
        ids = store.ids()
    post = tmp_path / "post.h5"
    report = export_posteriors(first, vocab, FeatureSource(small_corpus.store, ids[:3]), post)
    assert len(report.written) == 3
    with FeatureStore(post) as store:
        assert store.metadata[IDENTITY_ATTR] == weights_sha256(first)
    for overwrite in (False, True):  # another teacher never adds to (or replaces part of) the store
        with pytest.raises(StoreError, match="holds the posteriors of another teacher"):
            export_posteriors(second, vocab, FeatureSource(small_corpus.store, ids), post, overwrite=overwrite)
    with FeatureStore(post) as store:
        assert store.ids() == sorted(ids[:3])
    more = export_posteriors(first, vocab, FeatureSource(small_corpus.store, ids[:5]), post)  # the same teacher
    assert sorted(more.written) == sorted(ids[3:5]) and len(more.skipped) == 3


@pytest.mark.parametrize("attr", ["teacher_vocab", "extractor"])
def test_a_teacher_store_with_corrupt_json_attributes_is_one_line(small_corpus, tmp_path, attr):
    import h5py

    post = tmp_path / "post.h5"
    vocab = Vocabulary.from_manifest(small_corpus.manifest)
    with FeatureStore(post, "a", metadata={"teacher_vocab": list(vocab.tokens)}) as store:
        store.write("x", {"teacher_logprobs": np.zeros((2, len(vocab)), np.float32)})
    with h5py.File(post, "r+") as f:  # damaged by another tool
        f.attrs[attr] = '["<blank>", broken'
    args = [
        "distill",
        "--features",
        small_corpus.store,
        "--teacher",
        post,
        "--manifest",
        small_corpus.manifest,
        "--out",
        tmp_path / "kd",
        "--config",
        tiny_config(tmp_path, "bilstm_optimized"),
    ]
    result = run(*args)
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert f"post.h5: corrupt '{attr}' attribute" in result.output


# ---------------------------------------------------------------- evidence and recipe
@pytest.mark.slow
def test_clean_teacher_improves_a_noisy_student_over_plain_ctc(tmp_path):
    """The teacher (bilstm_optimized, 40 epochs) learns from clean landmarks; both students get the
    same utterances with noise 0.08 and the same budget (15 epochs). About a minute on one thread.
    Measured (seeds 0-2): see the distillation section of the README."""
    from islpose.testing import make_synthetic_corpus

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        kw = {"num_glosses": 12, "num_signers": 5, "utterances_per_signer": 30, "seed": 0}
        clean = make_synthetic_corpus(tmp_path / "clean", noise=0.0, drop_rate=0.0, **kw)
        noisy = make_synthetic_corpus(tmp_path / "noisy", noise=0.08, drop_rate=0.0, **kw)
        assert [(u.id, u.glosses) for u in read_manifest(clean.manifest)] == [
            (u.id, u.glosses) for u in read_manifest(noisy.manifest)
        ]
        yaml_data = {"model_config": {"projection_dim": 64, "hidden_dim": 64, "num_layers": 2}}
        budget = {"batch_size": 8, "lr": 2e-3, "warmup_epochs": 1, "patience": 0, "progress": False, "device": "cpu"}
        teacher = train(
            resolve_config("bilstm_optimized", yaml_data, {**budget, "epochs": 40}),
            clean.store,
            clean.manifest,
            tmp_path / "teacher",
        )
        export_pose_teacher(tmp_path / "teacher" / "best.pt", clean.store, tmp_path / "post.h5")
        student = {**budget, "epochs": 15}
        plain = train(
            resolve_config("bilstm_optimized", yaml_data, student), noisy.store, noisy.manifest, tmp_path / "plain"
        )
        kd = distill(
            resolve_config("bilstm_optimized", yaml_data, student, distill={"alpha": 1.0, "temperature": 2.0}),
            noisy.store,
            tmp_path / "post.h5",
            noisy.manifest,
            tmp_path / "kd",
        )
    finally:
        torch.set_num_threads(threads)
    assert teacher.best_wer < 0.5
    assert kd.best_wer < plain.best_wer - 0.1, (kd.best_wer, plain.best_wer)


@pytest.mark.slow
@pytest.mark.parametrize("teacher", ["video", "pose"])
def test_recipe_runs_the_whole_chain_on_tiny_settings(teacher, tmp_path):
    """pipelines/recipes/distill_synthetic.py --tiny: about 15 s per teacher on one thread."""
    pytest.importorskip("cv2")
    epochs = ["--student-epochs", "3"] if teacher == "pose" else []  # the students' budget (default 2)
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "pipelines" / "recipes" / "distill_synthetic.py"),
            "--tiny",
            "--teacher",
            teacher,
            "--device",
            "cpu",
            "--out",
            str(tmp_path),
            *epochs,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    steps = ["teacher train", "teacher export"] if teacher == "video" else ["train"]
    for step in steps + ["distill", "decode", "score"]:
        assert f"$ islpose {step} " in proc.stdout, step
    manifest = tmp_path / "noisy" / "corpus.jsonl"
    if teacher == "video":
        videos = read_manifest(tmp_path / "videos" / "videos.jsonl")
        assert all((tmp_path / "videos" / u.video).is_file() for u in videos)
    # The teacher exported posteriors of every train and dev utterance over the students' vocabulary.
    from islpose.data.posteriors import teacher_vocab

    with FeatureStore(tmp_path / "posteriors.h5") as store:
        assert teacher_vocab(store) == Vocabulary.load(tmp_path / "teacher" / "tokens.txt")
        assert teacher_vocab(store) == Vocabulary.load(tmp_path / "distilled" / "tokens.txt")
        assert {u.id for u in read_manifest(manifest) if u.split in ("train", "dev")} <= set(store.ids())
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["teacher"] == teacher and set(results["test_wer"]) == {"distilled", "plain"}
    for name, wer in results["test_wer"].items():
        assert (tmp_path / name / "best.pt").is_file()
        assert len((tmp_path / name / "metrics.jsonl").read_text().splitlines()) == (3 if teacher == "pose" else 2)
        # The recipe's numbers are what `islpose score` says about its hypotheses.
        score = run(
            "score", manifest, tmp_path / name / "test.hyp.tsv", "--split", "test", "--json", tmp_path / f"{name}.json"
        )
        assert score.exit_code == 0, score.output
        assert score.output.strip() in proc.stdout
        assert json.loads((tmp_path / f"{name}.json").read_text())["wer"] == wer
        assert f"{name} {100 * wer:.2f}%" in proc.stdout
