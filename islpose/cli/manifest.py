"""``islpose vocab`` and ``islpose validate``: the commands that read a manifest (its vocabulary, its problems)."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def vocab() -> None:
    """Build and inspect gloss vocabularies (tokens.txt).

    \b
    Example:
      islpose vocab build data_manifests/corpus.jsonl runs/tokens.txt
    """


@vocab.command("build")
@click.argument("manifest", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--split",
    default="train",
    show_default=True,
    help="Split whose glosses form the vocabulary ('all' for every utterance).",
)
@click.option("--unk/--no-unk", default=True, show_default=True, help="Reserve index 1 for <unk>.")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
def vocab_build(manifest: Path, out: Path, split: str, unk: bool, overwrite: bool) -> None:
    """Collect the glosses of MANIFEST's training split into OUT (one token per line).

    \b
    Example:
      islpose vocab build data_manifests/corpus.jsonl tokens.txt
    """
    from islpose.vocab import build_vocabulary

    v = build_vocabulary(manifest, out, split=None if split == "all" else split, unk=unk, overwrite=overwrite)
    click.echo(f"wrote {out}: {len(v)} tokens ({len(v.glosses)} glosses + <blank>{' + <unk>' if unk else ''})")


@click.command()
@click.argument("manifest", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("features", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--model",
    "model_name",
    default=None,
    help="Check CTC lengths at this model's frame rate (e.g. bilstm_optimized subsamples 2x).",
)
@click.option(
    "--subsample",
    type=click.IntRange(min=1),
    default=None,
    help="Temporal subsampling for the CTC length check, when no --model is given [default: 1].",
)
@click.option("--split", "splits", multiple=True, help="Only check these splits (repeatable).")
@click.option(
    "--require",
    multiple=True,
    type=click.Choice(["video", "pose", "glosses", "split", "signer", "text"]),
    help="Fields every utterance must have (repeatable).",
)
@click.option("--limit", type=int, default=50, show_default=True, help="Print at most this many problems.")
def validate(
    manifest: Path,
    features: Path | None,
    model_name: str | None,
    subsample: int | None,
    splits: tuple[str, ...],
    require: tuple[str, ...],
    limit: int,
) -> None:
    """Report everything wrong with MANIFEST (and its FEATURES store, if given).

    Checks duplicate ids, unknown fields and split names, missing videos, and with a
    store: utterances without features and gloss sequences too long for CTC at the
    model's frame rate. Exits 1 when anything is wrong.

    \b
    Example:
      islpose validate data_manifests/corpus.jsonl feats.h5 --model bilstm_optimized
    """
    from rich.console import Console
    from rich.table import Table

    from islpose.errors import IslposeError
    from islpose.manifests.validate import summarize, validate_manifest

    if model_name is not None:
        if subsample is not None:
            raise IslposeError("give --model or --subsample, not both")
        from islpose.models import model_class

        subsample = model_class(model_name).subsample
    m, problems = validate_manifest(
        manifest, features, subsample=subsample or 1, splits=splits or None, require=require
    )
    console = Console(soft_wrap=True, highlight=False)
    if not problems:
        console.print(f"{manifest}: {len(m)} utterances, no problems", markup=False)
        return
    for p in problems[:limit]:
        console.print(f"{manifest}:{p}", markup=False)
    if len(problems) > limit:
        console.print(f"... and {len(problems) - limit} more", markup=False)
    table = Table("problem", "count", title=f"{manifest}: {len(m)} utterances")
    for kind, count in sorted(summarize(problems).items()):
        table.add_row(kind, str(count))
    console.print(table)
    raise IslposeError(f"{manifest}: {len(problems)} problem(s) found")
