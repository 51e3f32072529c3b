"""Recipe: the whole distillation chain on the synthetic corpus, through the public CLI.

    generate -> train a teacher -> export its posteriors -> distill -> (plain CTC baseline)
    -> decode -> score

The teacher sees what the student lacks: it is a ``bilstm_optimized`` trained on clean
landmarks (noise 0, no hand drop-outs), while the students get the same utterances (same
seed, same ids and glosses) with landmark noise. The teacher here is a pose model, exported
with :func:`islpose.train.distill.export_pose_teacher`; with a video corpus the two teacher
steps are ``islpose teacher train`` and ``islpose teacher export`` instead, and everything
after them is the same.

Usage::

    python pipelines/recipes/distill_synthetic.py --out runs/recipe            # a few minutes on a CPU
    python pipelines/recipes/distill_synthetic.py --out /tmp/recipe --tiny     # ~20 s (CI)

Every CLI command is printed before it runs, so the steps can be copied.
"""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

# Settings: (corpus size, teacher epochs, student epochs, model size).
FULL = {"corpus": {"num_glosses": 12, "num_signers": 5, "utterances_per_signer": 30},
        "teacher_epochs": 40, "student_epochs": 15,
        "model_config": {"projection_dim": 64, "hidden_dim": 64, "num_layers": 2}}
TINY = {"corpus": {"num_glosses": 6, "num_signers": 3, "utterances_per_signer": 6},
        "teacher_epochs": 2, "student_epochs": 2,
        "model_config": {"projection_dim": 16, "hidden_dim": 16, "num_layers": 2, "dropout": 0.1}}


def islpose(*args) -> None:
    """Runs ``islpose ARGS`` (as ``python -m islpose.cli.main``), echoing the command; stops on failure."""
    args = [str(a) for a in args]
    print("$ islpose " + " ".join(shlex.quote(a) for a in args), flush=True)
    subprocess.run([sys.executable, "-m", "islpose.cli.main", *args], check=True)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="working folder (created)")
    parser.add_argument("--tiny", action="store_true", help="tiny corpus and models (CI)")
    parser.add_argument("--noise", type=float, default=0.08, help="the students' landmark noise (shoulder widths)")
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--temperature", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-baseline", action="store_true", help="skip the plain CTC student")
    args = parser.parse_args(argv)
    settings = TINY if args.tiny else FULL
    out = args.out
    out.mkdir(parents=True, exist_ok=True)

    import yaml

    from islpose.testing import make_synthetic_corpus
    from islpose.train.distill import export_pose_teacher

    # 1. generate: the same utterances twice, clean (teacher) and noisy (students).
    clean = make_synthetic_corpus(out / "clean", noise=0.0, drop_rate=0.0, seed=args.seed, **settings["corpus"])
    noisy = make_synthetic_corpus(out / "noisy", noise=args.noise, drop_rate=0.0, seed=args.seed,
                                  **settings["corpus"])

    def config(name: str, epochs: int) -> Path:
        path = out / f"{name}.yaml"
        train = {"epochs": epochs, "batch_size": 8, "lr": 2e-3, "warmup_epochs": 1, "patience": 0,
                 "progress": False, "device": "cpu", "seed": args.seed}
        path.write_text(yaml.safe_dump({"model": "bilstm_optimized", "model_config": settings["model_config"],
                                        "train": train}))
        return path

    # 2. teacher: a pose model on the clean landmarks.
    islpose("train", "--features", clean.store, "--manifest", clean.manifest, "--out", out / "teacher",
            "--config", config("teacher", settings["teacher_epochs"]))
    # 3. export its frame posteriors (T', V) as teacher_logprobs.
    report = export_pose_teacher(out / "teacher" / "best.pt", clean.store, out / "posteriors.h5")
    print(f"exported teacher posteriors of {len(report.written)} utterances to {out / 'posteriors.h5'}")
    # 4. distill into a student on the noisy landmarks, and (5.) a plain CTC student on the same budget.
    student = config("student", settings["student_epochs"])
    runs = {"distilled": ["distill", "--teacher", out / "posteriors.h5", "--alpha", args.alpha,
                          "--temperature", args.temperature]}
    if not args.no_baseline:
        runs["plain"] = ["train"]
    results = {}
    for name, command in runs.items():
        run_dir = out / name
        islpose(*command, "--features", noisy.store, "--manifest", noisy.manifest, "--out", run_dir,
                "--config", student)
        # 6. decode the held-out test signer (beam search) and 7. score it.
        hyp = run_dir / "test.hyp.tsv"
        islpose("decode", "--checkpoint", run_dir / "best.pt", "--features", noisy.store, "--manifest",
                noisy.manifest, "--split", "test", "--beam", 5, "--device", "cpu", "--out", hyp)
        islpose("score", noisy.manifest, hyp, "--split", "test", "--json", run_dir / "test.score.json")
        results[name] = json.loads((run_dir / "test.score.json").read_text())["wer"]
    print("test WER: " + ", ".join(f"{name} {100 * wer:.1f}%" for name, wer in results.items()))
    (out / "results.json").write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
