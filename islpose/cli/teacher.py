"""``islpose teacher``: train RGB video teachers and export their frame posteriors."""

from __future__ import annotations

from pathlib import Path

import click

from islpose.errors import IslposeError

PathOpt = click.Path(dir_okay=False, path_type=Path)


@click.group("teacher")
def teacher() -> None:
    """The GPU stage: train RGB video teachers and export their frame posteriors for distill.

    \b
    Example:
      islpose teacher train --arch dense_vit --config configs/teacher_dense_vit.yaml \\
          --manifest corpus.jsonl --out runs/teacher
      islpose teacher export --checkpoint runs/teacher/best.pt --manifest corpus.jsonl \\
          --out posteriors.h5
    """


@teacher.command("train")
@click.option("--arch", metavar="NAME", help="dense_vit, cnn_transformer or timesformer (default: the config's).")
@click.option(
    "--config",
    "config_path",
    type=PathOpt,
    help="YAML run config (`configs/teacher_*.yaml`); the options below override it.",
)
@click.option(
    "--manifest", required=True, type=PathOpt, help="Manifest with video, glosses, split (train, dev) and text."
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Run folder for checkpoints and logs.",
)
@click.option("--epochs", type=int, help="Maximum epochs (may change when resuming; the LR goes on without a jump).")
@click.option(
    "--patience",
    type=int,
    help="Early stopping after this many epochs without a better dev WER (0: never); may change when resuming.",
)
@click.option("--batch-size", type=int, help="Clips per step (per process under torchrun).")
@click.option("--device", help="auto, cpu, cuda or cuda:N.")
@click.option("--seed", type=int, help="Random seed.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last.pt.")
@click.option("--init-weights", type=PathOpt, help="Local pretrained weights (.pt or .safetensors) for a new run.")
def train(
    arch: str | None,
    config_path: Path | None,
    manifest: Path,
    out: Path,
    epochs: int | None,
    patience: int | None,
    batch_size: int | None,
    device: str | None,
    seed: int | None,
    resume: bool,
    init_weights: Path | None,
) -> None:
    """Train a video teacher (dense_vit, cnn_transformer, timesformer) on RGB videos.

    Trains the CTC gloss head and the text decoder (hybrid loss) on the manifest's train
    split with separate encoder/decoder learning rates; reports dev WER (CTC, greedy) and
    BLEU (text, needs sacrebleu) every epoch; writes best.pt (lowest dev WER), last.pt,
    tokens.txt, text_tokens.txt, config.yaml, metrics.jsonl and failures.tsv into --out.
    bf16 and fused AdamW on CUDA; DDP under `torchrun --nproc_per_node N`.

    \b
    Example:
      islpose teacher train --arch dense_vit --config configs/teacher_dense_vit.yaml \\
          --manifest corpus.jsonl --out runs/teacher
      islpose teacher train --out runs/teacher --manifest corpus.jsonl --resume --epochs 300
      torchrun --nproc_per_node 8 -m islpose.cli.main teacher train --arch dense_vit ...
    """
    from islpose.teacher.runs import resolve_teacher_run

    config = resolve_teacher_run(
        arch,
        config_path,
        {"epochs": epochs, "patience": patience, "batch_size": batch_size, "device": device, "seed": seed},
        resume=resume,
        out=out,
        fixed={"--batch-size": batch_size, "--seed": seed, "--init-weights": init_weights},
    )
    from islpose.teacher.train import train_teacher

    result = train_teacher(config, manifest, out, resume=resume, init_weights=init_weights)
    if result.best_wer is not None:
        click.echo(
            f"best dev WER {100 * result.best_wer:.2f}% at epoch {result.best_epoch}; checkpoint {out / 'best.pt'}"
        )


@teacher.command("export")
@click.option("--checkpoint", required=True, type=PathOpt, help="Teacher checkpoint (RUN/best.pt).")
@click.option("--manifest", required=True, type=PathOpt, help="Manifest with the videos to export.")
@click.option("--split", help="Only this split (default: every utterance with a video).")
@click.option("--out", required=True, type=PathOpt, help="HDF5 store for teacher_logprobs (created or extended).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--batch-size", default=4, show_default=True, type=click.IntRange(min=1), help="Clips per forward pass.")
@click.option("--overwrite", is_flag=True, help="Recompute utterances already in --out (same teacher only).")
def export(
    checkpoint: Path, manifest: Path, split: str | None, out: Path, device: str, batch_size: int, overwrite: bool
) -> None:
    """Write a teacher's frame-level CTC log-posteriors for `islpose distill`.

    Each utterance gets /utterances/<id>/teacher_logprobs (T, V) in --out, whose root
    attribute teacher_vocab lets distill check that teacher and student share the gloss
    vocabulary. Re-running skips what is written; a store that holds another teacher's
    posteriors (other weights, attribute teacher_sha256) is refused; unreadable videos
    are listed at the end (exit code 1) without stopping the run.

    \b
    Example:
      islpose teacher export --checkpoint runs/teacher/best.pt \\
          --manifest corpus.jsonl --split train --out posteriors.h5
    """
    from islpose.teacher.export_posteriors import export_teacher

    report, total = export_teacher(
        checkpoint, manifest, out, split=split, device=device, batch_size=batch_size, overwrite=overwrite
    )
    click.echo(
        f"{out}: wrote {len(report.written)}, skipped {len(report.skipped)} already there, "
        f"{len(report.failures)} failed"
    )
    if report.failures:
        for uid, message in report.failures:
            click.echo(f"failed: {uid}: {message}", err=True)
        raise IslposeError(f"{len(report.failures)} of {total} video(s) could not be exported")
