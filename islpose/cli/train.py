"""``islpose train``: train a CTC model on a feature store and a manifest."""
from __future__ import annotations

from pathlib import Path

import click

from islpose.errors import IslposeError


def train_options(command):
    """Adds the options shared by ``islpose train`` and ``islpose distill`` (one definition)."""
    options = [
        click.option("--model", "model_name", metavar="NAME",
                     help="bilstm_optimized or mobilenet_v3_1d (default: the config's)."),
        click.option("--features", type=click.Path(dir_okay=False, path_type=Path), help="HDF5 feature store."),
        click.option("--manifest", type=click.Path(dir_okay=False, path_type=Path),
                     help="Manifest with glosses and train/dev splits."),
        click.option("--out", type=click.Path(file_okay=False, path_type=Path),
                     help="Run folder for checkpoints and logs."),
        click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
                     help="YAML run config (e.g. configs/bilstm_optimized.yaml); options below override it."),
        click.option("--epochs", type=int, help="Maximum epochs (may change when resuming; the LR goes on "
                     "without a jump and decays to 0 at the new last epoch)."),
        click.option("--patience", type=int, help="Stop after this many epochs without a better dev WER (0: never); "
                     "may change when resuming, e.g. to extend an early-stopped run."),
        click.option("--batch-size", type=int, help="Utterances per batch (per process under torchrun)."),
        click.option("--max-frames", type=int, help="Instead of --batch-size: batches of at most this many padded "
                     "frames (utterances x longest; per process), so memory is bounded by frames; 0 = off."),
        click.option("--lr", type=float, help="Peak learning rate."),
        click.option("--device", help="auto, cpu, cuda or cuda:N."),
        click.option("--threads", type=int, help="Torch CPU threads per process (default: one per core; 1 is often "
                     "faster on a machine that other jobs share); may change when resuming."),
        click.option("--seed", type=int, help="Random seed."),
        click.option("--resume", is_flag=True, help="Continue the run in --out from its last.pt."),
        click.option("--dry-run", is_flag=True, help="Print the model and its parameter counts, then exit."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def run_config(options: dict, distill: dict | None = None):
    """The resolved :class:`RunConfig` of the shared options (and ``DistillConfig`` fields).

    On ``--resume`` the config comes from the run's ``last.pt``; options that would change
    the run (the model, batch size, lr, seed and the given ``distill`` values) are an error.
    """
    from islpose.train.config import read_yaml, resolve_config

    config_path = options["config_path"]
    overrides = {k: options[k] for k in ("epochs", "batch_size", "max_frames", "lr", "device", "threads", "seed",
                                           "patience")}
    if not options["resume"]:
        yaml_data = read_yaml(config_path) if config_path else None
        return resolve_config(options["model_name"], yaml_data, overrides, where=str(config_path or "config"),
                              distill=distill)
    last = resumable(options["out"], {
        "--model": options["model_name"], "--config": config_path, "--batch-size": options["batch_size"],
        "--max-frames": options["max_frames"], "--lr": options["lr"], "--seed": options["seed"],
        **{f"--{k.replace('_', '-')}": v for k, v in (distill or {}).items()}})
    from islpose.models.checkpoint import read_checkpoint

    return resolve_config(yaml_data=read_checkpoint(last)["config"], overrides=overrides, where=str(last),
                          distill=distill)


def resumable(out: Path | None, fixed: dict[str, object]) -> Path:
    """The ``last.pt`` that ``--resume`` continues (students and teachers alike).

    Args:
        out: the run folder (``--out``).
        fixed: option name -> value given (None when not given) of the options that
            would change the run; giving any of them is an error.

    Raises:
        IslposeError: no ``--out``, a fixed option given, or no ``last.pt`` in ``out``.
    """
    if out is None:
        raise IslposeError("--resume needs --out (the run folder to continue)")
    changed = [name for name, value in fixed.items() if value is not None]
    if changed:
        raise IslposeError(f"{', '.join(changed)} cannot change when resuming; the run's config is "
                           f"{out / 'config.yaml'} (only --epochs, --patience, --device and a student's "
                           "--threads may be given)")
    last = out / "last.pt"
    if not last.is_file():
        raise IslposeError(f"{out}: nothing to resume (no last.pt)")
    return last


def required_paths(options: dict, *names: str) -> list[Path]:
    """The values of path options that a run needs; a usage error names the missing ones."""
    missing = [f"--{name}" for name in names if options[name] is None]
    if missing:
        raise click.UsageError(f"missing option(s) {', '.join(missing)}")
    return [options[name] for name in names]


def report(result, out: Path) -> None:
    if result.best_wer is not None:
        click.echo(f"best dev WER {100 * result.best_wer:.2f}% at epoch {result.best_epoch}; "
                   f"checkpoint {out / 'best.pt'}")


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
    import yaml

    from islpose.models import build_model, count_parameters
    from islpose.vocab import Vocabulary

    if manifest is None:
        raise click.UsageError("--dry-run needs --manifest (the vocabulary sets the output size)")
    vocab = Vocabulary.from_manifest(manifest, "train")
    model = build_model(config.model, config.model_config, vocab_size=len(vocab))
    click.echo(model)
    click.echo(f"\nvocabulary: {len(vocab)} tokens; input: {model.feature} features; "
               f"temporal subsampling: {model.subsample}x")
    for name, child in model.named_children():
        click.echo(f"  {name:<22} {count_parameters(child):>12,}")
    click.echo(f"  {'total':<22} {count_parameters(model):>12,} parameters")
    click.echo("\n" + yaml.safe_dump(config.to_dict(), sort_keys=False), nl=False)
