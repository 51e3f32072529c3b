"""``islpose distill``: train a pose student with CTC plus distillation from a teacher's posteriors."""

from __future__ import annotations

from pathlib import Path

import click

from islpose.cli.train import dry_run, report, required_paths, run_config, train_options


@click.command("distill")
@train_options
@click.option(
    "--teacher",
    type=click.Path(dir_okay=False, path_type=Path),
    help="HDF5 store with teacher_logprobs (from `islpose teacher export` or any teacher).",
)
@click.option("--alpha", type=float, help="Weight of the distillation term (config default 1.0; 0 = plain CTC).")
@click.option("--temperature", type=float, help="Softmax temperature of teacher and student (config default 2.0).")
@click.option(
    "--missing-teacher",
    type=click.Choice(["error", "skip"]),
    help="Train utterances without teacher posteriors: stop with an error (default) or skip "
    "them (listed in skipped.tsv).",
)
def distill(
    teacher: Path | None, alpha: float | None, temperature: float | None, missing_teacher: str | None, **options
) -> None:
    """Train a pose student with CTC plus distillation from a teacher's frame posteriors.

    The loss is `CTC + alpha * T^2 * KL(teacher_T || student_T)` on the student's output
    frames; the teacher's posteriors are resampled to the student's frame count (linear
    interpolation of the probabilities) and padding never enters the loss. The teacher
    store's vocabulary (root attribute teacher_vocab) must equal the student's (built
    from the manifest's train split). Takes every option of `islpose train`; the run
    folder is the same (config.yaml gets a `distill` section), so `islpose decode`
    reads its checkpoints as usual.

    \b
    Example:
      islpose distill --model bilstm_optimized --features feats.h5 \\
          --teacher posteriors.h5 --manifest corpus.jsonl --out runs/kd \\
          --alpha 1.0 --temperature 2.0
      islpose distill --out runs/kd --teacher posteriors.h5 --features feats.h5 \\
          --manifest corpus.jsonl --resume --epochs 150
    """
    config = run_config(
        options, distill={"alpha": alpha, "temperature": temperature, "missing_teacher": missing_teacher}
    )
    if options["dry_run"]:
        dry_run(config, options["manifest"])
        return
    features, manifest, out, teacher = required_paths(
        {**options, "teacher": teacher}, "features", "manifest", "out", "teacher"
    )
    from islpose.train.distill import distill as run

    report(run(config, features, teacher, manifest, out, resume=options["resume"]), out)
