"""``islpose train``: train a CTC model on a feature store and a manifest."""

from __future__ import annotations

from pathlib import Path

import click


def train_options(command):
    """Adds the options shared by ``islpose train`` and ``islpose distill`` (one definition)."""
    options = [
        click.option(
            "--model", "model_name", metavar="NAME", help="bilstm_optimized or mobilenet_v3_1d (default: the config's)."
        ),
        click.option("--features", type=click.Path(dir_okay=False, path_type=Path), help="HDF5 feature store."),
        click.option(
            "--manifest",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Manifest with glosses and train/dev splits.",
        ),
        click.option(
            "--out", type=click.Path(file_okay=False, path_type=Path), help="Run folder for checkpoints and logs."
        ),
        click.option(
            "--config",
            "config_path",
            type=click.Path(dir_okay=False, path_type=Path),
            help="YAML run config (e.g. configs/bilstm_optimized.yaml); options below override it.",
        ),
        click.option(
            "--epochs",
            type=int,
            help="Maximum epochs (may change when resuming; the LR goes on "
            "without a jump and decays to 0 at the new last epoch).",
        ),
        click.option(
            "--patience",
            type=int,
            help="Stop after this many epochs without a better dev WER (0: never); "
            "may change when resuming, e.g. to extend an early-stopped run.",
        ),
        click.option("--batch-size", type=int, help="Utterances per batch (per process under torchrun)."),
        click.option(
            "--max-frames",
            type=int,
            help="Instead of --batch-size: batches of at most this many padded "
            "frames (utterances x longest; per process), so memory is bounded by frames; 0 = off.",
        ),
        click.option("--lr", type=float, help="Peak learning rate."),
        click.option("--device", help="auto, cpu, cuda or cuda:N."),
        click.option(
            "--threads",
            type=int,
            help="Torch CPU threads per process (default: one per core; 1 is often "
            "faster on a machine that other jobs share); may change when resuming.",
        ),
        click.option("--seed", type=int, help="Random seed."),
        click.option("--resume", is_flag=True, help="Continue the run in --out from its last.pt."),
        click.option("--dry-run", is_flag=True, help="Print the model and its parameter counts, then exit."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def run_config(options: dict, distill: dict | None = None):
    """The resolved run config of the shared options (and ``DistillConfig`` fields): see
    :func:`islpose.train.runs.resolve_run`."""
    from islpose.train.runs import resolve_run

    overrides = {
        k: options[k] for k in ("epochs", "batch_size", "max_frames", "lr", "device", "threads", "seed", "patience")
    }
    fixed = {
        "--batch-size": options["batch_size"],
        "--max-frames": options["max_frames"],
        "--lr": options["lr"],
        "--seed": options["seed"],
    }
    return resolve_run(
        options["model_name"],
        options["config_path"],
        overrides,
        resume=options["resume"],
        out=options["out"],
        fixed=fixed,
        distill=distill,
    )


def required_paths(options: dict, *names: str) -> list[Path]:
    """The values of path options that a run needs; a usage error names the missing ones."""
    missing = [f"--{name}" for name in names if options[name] is None]
    if missing:
        raise click.UsageError(f"missing option(s) {', '.join(missing)}")
    return [options[name] for name in names]


def report(result, out: Path) -> None:
    if result.best_wer is not None:
        click.echo(
            f"best dev WER {100 * result.best_wer:.2f}% at epoch {result.best_epoch}; checkpoint {out / 'best.pt'}"
        )


@click.command("train")
@train_options
def train(**options) -> None:
    """Train a CTC model (bilstm_optimized, mobilenet_v3_1d) on a feature store.

    Trains on the manifest's train split and reports greedy dev WER every epoch; writes
    best.pt (lowest dev WER), last.pt, tokens.txt, config.yaml, metrics.jsonl and
    skipped.tsv (utterances without features or too short for their glosses) into --out.
    Under `torchrun --nproc_per_node N` it trains with DDP.

    \b
    Example:
      islpose train --model bilstm_optimized --features feats.h5 \\
          --manifest corpus.jsonl --out runs/bilstm --config configs/bilstm_optimized.yaml
      islpose train --model bilstm_optimized --features feats.h5 \\
          --manifest corpus.jsonl --out runs/bilstm --resume --epochs 150
      torchrun --nproc_per_node 4 -m islpose.cli.main train --model mobilenet_v3_1d ...
      islpose train --model mobilenet_v3_1d --manifest corpus.jsonl --dry-run
    """
    config = run_config(options)
    if options["dry_run"]:
        dry_run(config, options["manifest"])
        return
    features, manifest, out = required_paths(options, "features", "manifest", "out")
    from islpose.train.loop import train as run

    report(run(config, features, manifest, out, resume=options["resume"]), out)


def dry_run(config, manifest: Path | None) -> None:
    """Prints the model, its parameter counts per part and the resolved config."""
    from islpose.train.runs import model_summary

    if manifest is None:
        raise click.UsageError("--dry-run needs --manifest (the vocabulary sets the output size)")
    click.echo(model_summary(config, manifest), nl=False)
