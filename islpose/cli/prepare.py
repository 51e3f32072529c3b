"""``islpose prepare CORPUS ROOT OUT.jsonl``: manifests from downloaded corpora (thin
commands over :mod:`islpose.manifests.corpora`)."""

from __future__ import annotations

from pathlib import Path

import click


def _report(result, out: Path) -> None:
    """Prints what was written per split and what was skipped, grouped by reason."""
    from rich.console import Console
    from rich.table import Table

    console = Console(soft_wrap=True, highlight=False)
    glosses = {g for u in result.utterances for g in u.glosses}
    counts = result.split_counts()
    console.print(
        f"wrote {out}: {len(result.utterances)} utterances ("
        + ", ".join(f"{s} {counts.get(s, 0)}" for s in ("train", "dev", "test"))
        + f"), {len(glosses)} distinct glosses",
        markup=False,
    )
    if result.skipped:
        table = Table("skipped", "count", "first example", title=f"{len(result.skipped)} skipped")
        for reason, n in result.skip_reasons().most_common():
            table.add_row(reason, str(n), next(what for what, why in result.skipped if why == reason))
        console.print(table)


def _signers(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise click.BadParameter(f"{text!r}: give signer variant numbers like 1 or 1,2") from None


@click.group()
def prepare() -> None:
    """Build a manifest from a downloaded corpus (videos stay where they are).

    \b
    Example:
      islpose prepare isl-csltr ~/data/ISL_CSLRT_Corpus data_manifests/isl_csltr.jsonl
      islpose prepare include ~/data/INCLUDE data_manifests/include50.jsonl --subset include50
    """


@prepare.command("isl-csltr")
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--test-signers", default="1", show_default=True, help="Signer variants held out for test.")
@click.option("--dev-signers", default="2", show_default=True, help="Signer variants held out for dev.")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
def isl_csltr(root: Path, out: Path, test_signers: str, dev_signers: str, overwrite: bool) -> None:
    """ISL-CSLTR (Mendeley Data kcmpdxky7p): sentence videos with their gloss sequences.

    ROOT holds the released ISL_CSLRT_Corpus (Videos_Sentence_Level/ and
    corpus_csv_files/ISL Corpus sign glosses.csv). The signer is the recording's variant
    number in its sentence folder; test = variant 1, dev = variant 2, train = the rest.

    \b
    Example:
      islpose prepare isl-csltr ~/data/ISL_CSLRT_Corpus isl_csltr.jsonl
      islpose extract isl_csltr.jsonl isl_csltr.h5
    """
    from islpose.manifests.corpora import prepare_isl_csltr, write_prepared

    result = prepare_isl_csltr(root, _signers(test_signers), _signers(dev_signers))
    _report(result, write_prepared(result, out, overwrite))


@prepare.command("include")
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--subset",
    type=click.Choice(["include", "include50"]),
    default="include",
    show_default=True,
    help="All 263 signs, or the INCLUDE-50 subset.",
)
@click.option(
    "--lists",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder with the official split lists (train_test_paths/ of github.com/AI4Bharat/INCLUDE); "
    "default: found under ROOT.",
)
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
def include(root: Path, out: Path, subset: str, lists: Path | None, overwrite: bool) -> None:
    """INCLUDE / INCLUDE-50 (Zenodo 4010759): isolated words, one gloss per clip.

    ROOT holds the extracted category zips (<Category>/<N. word>/<clip>.MOV); the split
    is the official one (include_train/val/test.txt, or `include50_*.txt`).

    \b
    Example:
      islpose prepare include ~/data/INCLUDE include50.jsonl --subset include50 \\
          --lists ~/src/INCLUDE/train_test_paths
    """
    from islpose.manifests.corpora import prepare_include, write_prepared

    result = prepare_include(root, subset, lists)
    _report(result, write_prepared(result, out, overwrite))
