"""``islpose train``: train a CTC model on a feature store and a manifest."""
from __future__ import annotations

from pathlib import Path

import click

from islpose.errors import IslposeError


@click.command("train")
@click.option("--model", "model_name", metavar="NAME", help="bilstm_optimized or mobilenet_v3_1d (default: the config's).")
@click.option("--features", type=click.Path(dir_okay=False, path_type=Path), help="HDF5 feature store.")
@click.option("--manifest", type=click.Path(dir_okay=False, path_type=Path),
              help="Manifest with glosses and train/dev splits.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Run folder for checkpoints and logs.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML run config (e.g. configs/bilstm_optimized.yaml); options below override it.")
@click.option("--epochs", type=int, help="Maximum epochs (may be raised when resuming).")
@click.option("--batch-size", type=int, help="Utterances per batch (per process under torchrun).")
@click.option("--lr", type=float, help="Peak learning rate.")
@click.option("--device", help="auto, cpu, cuda or cuda:N.")
@click.option("--seed", type=int, help="Random seed.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last.pt.")
@click.option("--dry-run", is_flag=True, help="Print the model and its parameter counts, then exit.")
def train(model_name: str | None, features: Path | None, manifest: Path | None, out: Path | None,
          config_path: Path | None, epochs: int | None, batch_size: int | None, lr: float | None,
          device: str | None, seed: int | None, resume: bool, dry_run: bool) -> None:
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
    from islpose.train.config import read_yaml, resolve_config

    overrides = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "device": device, "seed": seed}
    if resume:
        if out is None:
            raise IslposeError("--resume needs --out (the run folder to continue)")
        fixed = {"--model": model_name, "--config": config_path, "--batch-size": batch_size, "--lr": lr,
                 "--seed": seed}
        changed = [name for name, value in fixed.items() if value is not None]
        if changed:
            raise IslposeError(f"{', '.join(changed)} cannot change when resuming; the run's config is "
                               f"{out / 'config.yaml'} (only --epochs and --device may be given)")
        from islpose.train.checkpoint import read_checkpoint

        config = resolve_config(yaml_data=read_checkpoint(out / "last.pt")["config"], overrides=overrides,
                                where=str(out / "last.pt"))
    else:
        yaml_data = read_yaml(config_path) if config_path else None
        config = resolve_config(model_name, yaml_data, overrides, where=str(config_path or "config"))
    if dry_run:
        _dry_run(config, manifest)
        return
    missing = [f"--{name}" for name, value in (("features", features), ("manifest", manifest), ("out", out))
               if value is None]
    if missing:
        raise click.UsageError(f"missing option(s) {', '.join(missing)}")
    from islpose.train.loop import train as run

    result = run(config, features, manifest, out, resume=resume)
    if result.best_wer is not None:
        click.echo(f"best dev WER {100 * result.best_wer:.2f}% at epoch {result.best_epoch}; "
                   f"checkpoint {out / 'best.pt'}")


def _dry_run(config, manifest: Path | None) -> None:
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
