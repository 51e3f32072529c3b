"""``islpose decode``, ``islpose tune``, ``islpose lm build`` and ``islpose score``: thin wrappers of
:mod:`islpose.decode`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from islpose.decode.config import DecoderConfig
from islpose.decode.tune import BEAMS, LM_WEIGHTS, WORD_SCORES
from islpose.errors import IslposeError

if TYPE_CHECKING:
    from islpose.decode.run import DecodeOutput

_DEFAULTS = DecoderConfig()
_FILE = click.Path(exists=True, dir_okay=False)


@click.command("decode")
@click.option("--checkpoint", required=True, type=_FILE, help="Checkpoint written by `islpose train` (best.pt).")
@click.option("--features", required=True, type=_FILE, help="HDF5 feature store.")
@click.option("--manifest", type=_FILE, help="Manifest selecting utterances (and giving references for WER).")
@click.option("--split", help="Decode only this split of the manifest (train/dev/test).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Hypotheses file (id<TAB>glosses).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Also write a JSON summary here.")
@click.option("--beam", default=_DEFAULTS.beam_size, show_default=True, help="Beam size; 1 = greedy decoding.")
@click.option(
    "--beam-size-token",
    default=_DEFAULTS.beam_size_token,
    show_default=True,
    help="Glosses tried per frame (the most probable); 0 = all.",
)
@click.option(
    "--beam-threshold",
    default=_DEFAULTS.beam_threshold,
    show_default=True,
    help="Prune hypotheses this far (log) below the best.",
)
@click.option("--lm", type=_FILE, help="Gloss n-gram LM (ARPA or KenLM binary), see `islpose lm build`.")
@click.option("--lm-weight", default=_DEFAULTS.lm_weight, show_default=True, help="Weight of the LM's log10 score.")
@click.option(
    "--word-score",
    default=_DEFAULTS.word_score,
    show_default=True,
    help="Score added per emitted gloss (insertion bonus/penalty).",
)
@click.option(
    "--decode-config",
    type=_FILE,
    help="Decoder settings from a YAML file (as `islpose tune` writes); options given here override it.",
)
@click.option("--batch-size", default=16, show_default=True, help="Utterances per forward pass.")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when available), cpu, cuda, cuda:N.")
@click.option("--overwrite", is_flag=True, help="Replace --out and --json when they exist.")
@click.pass_context
def decode(
    ctx: click.Context,
    checkpoint: str,
    features: str,
    manifest: str | None,
    split: str | None,
    out: str,
    json_out: str | None,
    beam: int,
    beam_size_token: int,
    beam_threshold: float,
    lm: str | None,
    lm_weight: float,
    word_score: float,
    decode_config: str | None,
    batch_size: int,
    device: str,
    overwrite: bool,
) -> None:
    """Decode utterances with a trained checkpoint (greedy or beam search) and score WER.

    Writes one `id<TAB>glosses` line per utterance to --out. With a manifest whose
    utterances have glosses it also prints WER with substitutions, deletions and
    insertions (and writes them to --json). Utterances that cannot be decoded are
    listed at the end (exit code 1) and count in the WER as hypotheses without a gloss
    (all their glosses are deletions); the others are still written. Existing --out and
    --json files are kept unless --overwrite.

    \b
    Example:
      islpose decode --checkpoint runs/bilstm/best.pt --features feats.h5 \\
          --manifest data_manifests/corpus.jsonl --split dev --beam 5 \\
          --out dev.hyp.tsv --json dev.summary.json
      islpose decode ... --beam 20 --lm glosses.arpa --lm-weight 0.5 --word-score 1.0
      islpose decode ... --decode-config runs/bilstm/decode.yaml
    """
    from islpose.decode.config import resolve_decoder_config
    from islpose.decode.run import decode_to_files

    options = {
        "beam_size": beam,
        "beam_size_token": beam_size_token,
        "beam_threshold": beam_threshold,
        "lm": lm,
        "lm_weight": lm_weight,
        "word_score": word_score,
    }
    config = resolve_decoder_config(decode_config, options, _given(ctx, options, beam_size="beam"))
    result = decode_to_files(
        checkpoint,
        features,
        out,
        json_out=json_out,
        manifest=manifest,
        split=split,
        config=config,
        batch_size=batch_size,
        device=device,
        overwrite=overwrite,
    )
    _report(result, config, out)
    if result.failed:
        for uid, reason in result.failed:
            click.echo(f"failed: {uid}: {reason}", err=True)
        raise IslposeError(f"{len(result.failed)} utterance(s) could not be decoded (listed above)")


def _report(result: DecodeOutput, config: DecoderConfig, out: str) -> None:
    """Prints what was decoded (and the WER when there are references)."""
    n = len(result.hypotheses)
    seconds = result.forward_seconds + result.search_seconds
    method = "greedy" if config.method == "greedy" else f"beam {config.beam_size}" + (", LM" if config.lm else "")
    click.echo(
        f"decoded {n} utterances ({method}) in {seconds:.2f} s: model "
        f"{result.forward_seconds:.2f} s, search {result.search_seconds:.2f} s; wrote {out}"
    )
    if result.score is not None:
        undecoded = (
            f"; {len(result.failed)} utterance(s) not decoded, counted as all deletions" if result.failed else ""
        )
        click.echo(result.score.summary() + undecoded)
    else:
        click.echo("no reference glosses: wrote hypotheses only")


def _given(ctx: click.Context, options: dict, **names: str) -> set[str]:
    """The keys of ``options`` whose option (named ``names[key]``, else the key) was typed on the command line."""
    from click.core import ParameterSource

    return {k for k in options if ctx.get_parameter_source(names.get(k, k)) == ParameterSource.COMMANDLINE}


@click.command("tune")
@click.option("--checkpoint", required=True, type=_FILE, help="Checkpoint written by `islpose train` (best.pt).")
@click.option("--features", required=True, type=_FILE, help="HDF5 feature store.")
@click.option("--manifest", required=True, type=_FILE, help="Manifest with glosses.")
@click.option("--split", default="dev", show_default=True, help="Split to tune on (never tune on test).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="YAML file for the best settings.")
@click.option("--lm", type=_FILE, help="Gloss n-gram LM (ARPA or KenLM binary) to tune the weight of.")
@click.option("--beams", default=",".join(map(str, BEAMS)), show_default=True, help="Beam sizes to try.")
@click.option(
    "--lm-weights", default=",".join(map(str, LM_WEIGHTS)), show_default=True, help="LM weights to try (with --lm)."
)
@click.option(
    "--word-scores",
    default=",".join(map(str, WORD_SCORES)),
    show_default=True,
    help="Word scores (per emitted gloss) to try.",
)
@click.option(
    "--beam-size-token",
    default=_DEFAULTS.beam_size_token,
    show_default=True,
    help="Glosses tried per frame (fixed while tuning); 0 = all.",
)
@click.option(
    "--beam-threshold",
    default=_DEFAULTS.beam_threshold,
    show_default=True,
    help="Pruning threshold (fixed while tuning).",
)
@click.option("--top", default=20, show_default=True, help="Rows of the table to print (0: all).")
@click.option("--batch-size", default=16, show_default=True, help="Utterances per forward pass.")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when available), cpu, cuda, cuda:N.")
@click.option("--overwrite", is_flag=True, help="Replace --out when it exists.")
def tune(
    checkpoint: str,
    features: str,
    manifest: str,
    split: str,
    out: str,
    lm: str | None,
    beams: str,
    lm_weights: str,
    word_scores: str,
    beam_size_token: int,
    beam_threshold: float,
    top: int,
    batch_size: int,
    device: str,
    overwrite: bool,
) -> None:
    """Search beam, LM weight and word score on dev; write the best settings for `decode`.

    The model runs once; every combination of the lists decodes the same outputs, and the
    defaults of `islpose decode` (with --lm, at its default weight) are tried too. Prints
    the settings by WER (S/D/I, search time, and whether the search ran in C++) and writes
    the best one (ties: the smaller beam, word score and LM weight) to --out, a YAML file
    of decoder settings that `islpose decode --decode-config` reads.

    \b
    Example:
      islpose tune --checkpoint runs/bilstm/best.pt --features feats.h5 \\
          --manifest data_manifests/corpus.jsonl --lm glosses.arpa --out runs/bilstm/decode.yaml
      islpose decode ... --split test --decode-config runs/bilstm/decode.yaml
    """
    from islpose.decode.tune import table, tune_store

    found = tune_store(
        checkpoint,
        features,
        manifest,
        out,
        split=split,
        base=DecoderConfig(beam_size_token=beam_size_token, beam_threshold=beam_threshold, lm=lm),
        beams=_numbers(beams, int, "--beams"),
        lm_weights=_numbers(lm_weights, float, "--lm-weights"),
        word_scores=_numbers(word_scores, float, "--word-scores"),
        batch_size=batch_size,
        device=device,
        overwrite=overwrite,
        on_model_run=lambda n, seconds, settings: click.echo(
            f"model run once over {n} {split} utterances ({seconds:.2f} s); trying {settings} settings"
        ),
    )
    click.echo(table(found.rows, top))
    click.echo(f"defaults: {found.rows[0].score.summary()}")
    click.echo(f"best:     {found.best.score.summary()}; wrote {out}")
    for uid, reason in found.failed:
        click.echo(f"failed: {uid}: {reason} (counted as all deletions)", err=True)


def _numbers(text: str, kind: type, option: str) -> list:
    try:
        values = [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise IslposeError(f"{option}: expected comma-separated numbers, got {text!r}") from None
    if not values:
        raise IslposeError(f"{option}: no values")
    return values


@click.group()
def lm() -> None:
    """Build gloss n-gram language models for beam search.

    \b
    Example:
      islpose lm build data_manifests/corpus.jsonl glosses.arpa --order 3
    """


@lm.command("build")
@click.argument("manifest", type=_FILE)
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--order", default=3, show_default=True, help="n-gram order.")
@click.option(
    "--split", default="train", show_default=True, help="Manifest split to learn from ('all' = every utterance)."
)
@click.option("--overwrite", is_flag=True, help="Replace OUT when it exists.")
def lm_build(manifest: str, out: str, order: int, split: str, overwrite: bool) -> None:
    """Build an ARPA gloss LM (interpolated modified Kneser-Ney) from a manifest's training split.

    \b
    Example:
      islpose lm build data_manifests/corpus.jsonl glosses.arpa --order 3
      islpose decode ... --beam 10 --lm glosses.arpa
    """
    from islpose.decode.lm import build_lm_file

    model, sentences = build_lm_file(manifest, out, order, None if split == "all" else split, overwrite=overwrite)
    counts = ", ".join(f"{k + 1}-grams: {len(p)}" for k, p in enumerate(model.probs))
    click.echo(f"wrote {out} (order {order}, {len(sentences)} sentences; {counts})")
    cost = model.cost_per_gloss(sentences)
    click.echo(
        f"LM cost per gloss on that text: {cost:.3f} (log10); `decode --word-score` of about "
        f"{cost:.3f} x --lm-weight cancels its pull towards short hypotheses"
    )


@click.command("score")
@click.argument("ref", type=_FILE)
@click.argument("hyp", type=_FILE)
@click.option("--split", help="When REF is a manifest: score only this split.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Also write the numbers as JSON.")
@click.option(
    "--details",
    type=click.Path(dir_okay=False),
    help="Print per-utterance alignments (S/D/I marked) and the most frequent errors; write them here.",
)
@click.option("--top", default=20, show_default=True, help="With --details: how many of each kind of error to list.")
@click.option("--overwrite", is_flag=True, help="Replace --json and --details when they exist.")
def score(
    ref: str, hyp: str, split: str | None, json_out: str | None, details: str | None, top: int, overwrite: bool
) -> None:
    """Score a hypothesis file against references: WER with S/D/I (jiwer).

    Both files hold `id<TAB>glosses` lines (REF may also be a manifest); every
    reference id needs exactly one hypothesis, and extra ids are an error. With
    --details it also prints, and writes to that file, each utterance with errors as a
    REF / HYP alignment with S, D and I under the glosses, then the most frequent
    substitutions, deletions and insertions.

    \b
    Example:
      islpose score ref.tsv dev.hyp.tsv
      islpose score data_manifests/corpus.jsonl dev.hyp.tsv --split dev --json wer.json
      islpose score data_manifests/corpus.jsonl dev.hyp.tsv --split dev --details dev.errors.txt
    """
    from islpose.decode.score import score_files

    result, report = score_files(
        ref, hyp, split=split, json_out=json_out, details=details, top=top, overwrite=overwrite
    )
    if report is not None:
        click.echo(report, nl=False)
    click.echo(result.summary())
