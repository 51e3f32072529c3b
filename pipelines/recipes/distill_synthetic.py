"""Recipe: the whole distillation chain on the synthetic corpus, through the public CLI.

    generate -> train a teacher -> export its posteriors -> distill -> (plain CTC baseline)
    -> decode -> score

The teacher sees what the student lacks: it learns from clean landmarks (noise 0, no hand
drop-outs), while the students get the same utterances (same seed, ids, glosses and splits)
with landmark noise. Two teachers:

* ``--teacher video`` (default): the clean landmarks are rendered into small stick-figure
  videos (:func:`islpose.testing.render.render_synthetic_videos`), an RGB ``dense_vit`` is
  trained on them with ``islpose teacher train`` and its train and dev posteriors are
  written by ``islpose teacher export`` -- the GPU stage of a real corpus, in miniature.
* ``--teacher pose``: a ``bilstm_optimized`` trained on the clean landmarks, exported with
  :func:`islpose.teacher.export_posteriors.export_posteriors` (no CLI command). This is the teacher
  that measurably helps (see the distillation section of the README).

Teacher and students share the gloss vocabulary by construction: both build it from the
glosses of the train split of manifests with the same utterances, and ``islpose distill``
checks it against the ``teacher_vocab`` the export recorded.

Usage::

    python pipelines/recipes/distill_synthetic.py --out runs/recipe                   # video teacher
    python pipelines/recipes/distill_synthetic.py --out runs/recipe --teacher pose
    python pipelines/recipes/distill_synthetic.py --out runs/recipe --teacher pose --student-epochs 30
    python pipelines/recipes/distill_synthetic.py --out /tmp/recipe --tiny            # CI settings

Every CLI command is printed before it runs, so the steps can be copied.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

from islpose.io.atomic import write_text_atomic

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
# Corpus size, render size, teacher and student budgets. The tiny video teacher uses
# configs/teacher_dense_vit_tiny.yaml as is; the full one sees more frames per clip.
FULL = {
    "corpus": {"num_glosses": 12, "num_signers": 5, "utterances_per_signer": 30},
    "render": (64, 48),
    "pose_teacher_epochs": 40,
    "video_teacher_epochs": 30,
    "student_epochs": 15,
    "model_config": {"projection_dim": 64, "hidden_dim": 64, "num_layers": 2},
    "video": {"size": 32, "frame_stride": 2, "max_frames": 64, "buckets": [16, 32, 48, 64], "cache_mb": 256},
}
TINY = {
    "corpus": {"num_glosses": 6, "num_signers": 3, "utterances_per_signer": 6},
    "render": (32, 32),
    "pose_teacher_epochs": 2,
    "video_teacher_epochs": 2,
    "student_epochs": 2,
    "video": None,
    "model_config": {"projection_dim": 16, "hidden_dim": 16, "num_layers": 2, "dropout": 0.1},
}


def islpose(*args) -> None:
    """Runs ``islpose ARGS`` (as ``python -m islpose.cli.main``), echoing the command; stops on failure."""
    args = [str(a) for a in args]
    print("$ islpose " + " ".join(shlex.quote(a) for a in args), flush=True)
    subprocess.run([sys.executable, "-m", "islpose.cli.main", *args], check=True)


def video_teacher(out: Path, clean, settings: dict, args: argparse.Namespace) -> Path:
    """Renders ``clean`` to videos, trains a dense_vit on them, exports train + dev posteriors."""
    import yaml

    from islpose.testing.render import render_synthetic_videos

    width, height = settings["render"]
    videos = render_synthetic_videos(clean, out / "videos", width=width, height=height)
    print(f"rendered {sum(clean.splits.values())} videos ({width}x{height}) listed in {videos}", flush=True)
    config = CONFIGS / "teacher_dense_vit_tiny.yaml"
    if settings["video"] is not None:  # the tiny config with a longer view of each clip
        data = yaml.safe_load(config.read_text())
        data["video"].update(settings["video"])
        config = out / "teacher_video.yaml"
        config.write_text(yaml.safe_dump(data))
    islpose(
        "teacher",
        "train",
        "--config",
        config,
        "--manifest",
        videos,
        "--out",
        out / "teacher",
        "--epochs",
        settings["video_teacher_epochs"],
        "--device",
        args.device,
        "--seed",
        args.seed,
    )
    for split in ("train", "dev"):
        islpose(
            "teacher",
            "export",
            "--checkpoint",
            out / "teacher" / "best.pt",
            "--manifest",
            videos,
            "--split",
            split,
            "--device",
            args.device,
            "--out",
            out / "posteriors.h5",
        )
    return out / "posteriors.h5"


def pose_teacher(out: Path, clean, student_config) -> Path:
    """Trains a bilstm_optimized on the clean landmarks and exports its posteriors."""
    from islpose.teacher.export_posteriors import FeatureSource, export_posteriors
    from islpose.train import load_checkpoint

    islpose(
        "train",
        "--features",
        clean.store,
        "--manifest",
        clean.manifest,
        "--out",
        out / "teacher",
        "--config",
        student_config("teacher", "pose_teacher_epochs"),
    )
    ckpt = load_checkpoint(out / "teacher" / "best.pt")
    report = export_posteriors(
        ckpt.model,
        ckpt.vocab,
        FeatureSource(clean.store),
        out / "posteriors.h5",
        batch_size=16,
        teacher={"model": ckpt.model_name, "checkpoint": "teacher/best.pt"},
    )
    print(f"exported teacher posteriors of {len(report.written)} utterances to {out / 'posteriors.h5'}", flush=True)
    return out / "posteriors.h5"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="working folder (created)")
    parser.add_argument(
        "--teacher",
        choices=("video", "pose"),
        default="video",
        help="RGB dense_vit on rendered videos, or a pose model on clean landmarks",
    )
    parser.add_argument("--tiny", action="store_true", help="tiny corpus and models (CI)")
    parser.add_argument("--noise", type=float, default=0.08, help="the students' landmark noise (shoulder widths)")
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--temperature", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--student-epochs", type=int, default=None, help="the students' epochs (default: 15, or 2 with --tiny)"
    )
    parser.add_argument("--device", default="auto", help="the video teacher's device (students run on the CPU)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the plain CTC student")
    args = parser.parse_args(argv)
    settings = dict(TINY if args.tiny else FULL)
    if args.student_epochs is not None:
        if args.student_epochs < 1:
            parser.error("--student-epochs must be at least 1")
        settings["student_epochs"] = args.student_epochs
    out = args.out
    out.mkdir(parents=True, exist_ok=True)

    import yaml

    from islpose.testing import make_synthetic_corpus

    # 1. generate: the same utterances twice, clean (teacher) and noisy (students).
    clean = make_synthetic_corpus(out / "clean", noise=0.0, drop_rate=0.0, seed=args.seed, **settings["corpus"])
    noisy = make_synthetic_corpus(out / "noisy", noise=args.noise, drop_rate=0.0, seed=args.seed, **settings["corpus"])

    def pose_config(name: str, epochs_key: str) -> Path:
        path = out / f"{name}.yaml"
        train = {
            "epochs": settings[epochs_key],
            "batch_size": 8,
            "lr": 2e-3,
            "warmup_epochs": 1,
            "patience": 0,
            "progress": False,
            "device": "cpu",
            "seed": args.seed,
        }
        path.write_text(
            yaml.safe_dump({"model": "bilstm_optimized", "model_config": settings["model_config"], "train": train})
        )
        return path

    # 2.-3. train the teacher and export its frame posteriors (T', V) as teacher_logprobs.
    if args.teacher == "video":
        posteriors = video_teacher(out, clean, settings, args)
    else:
        posteriors = pose_teacher(out, clean, pose_config)
    # 4. distill into a student on the noisy landmarks, and (5.) a plain CTC student on the same budget.
    student = pose_config("student", "student_epochs")
    runs = {"distilled": ["distill", "--teacher", posteriors, "--alpha", args.alpha, "--temperature", args.temperature]}
    if not args.no_baseline:
        runs["plain"] = ["train"]
    results = {"teacher": args.teacher, "test_wer": {}}
    for name, command in runs.items():
        run_dir = out / name
        islpose(
            *command, "--features", noisy.store, "--manifest", noisy.manifest, "--out", run_dir, "--config", student
        )
        # 6. decode the held-out test signer (beam search) and 7. score it.
        hyp = run_dir / "test.hyp.tsv"
        islpose(
            "decode",
            "--checkpoint",
            run_dir / "best.pt",
            "--features",
            noisy.store,
            "--manifest",
            noisy.manifest,
            "--split",
            "test",
            "--beam",
            5,
            "--device",
            "cpu",
            "--out",
            hyp,
        )
        islpose("score", noisy.manifest, hyp, "--split", "test", "--json", run_dir / "test.score.json")
        results["test_wer"][name] = json.loads((run_dir / "test.score.json").read_text())["wer"]
    print(
        f"{args.teacher} teacher, test WER: "
        + ", ".join(f"{name} {100 * wer:.2f}%" for name, wer in results["test_wer"].items()),
        flush=True,
    )
    write_text_atomic(out / "results.json", json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
