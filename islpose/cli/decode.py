"""``islpose decode``, ``islpose lm build`` and ``islpose score``: thin wrappers of :mod:`islpose.decode`."""
from __future__ import annotations

import click

from islpose.decode.config import DecoderConfig
from islpose.errors import IslposeError

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
@click.option("--beam-size-token", default=_DEFAULTS.beam_size_token, show_default=True,
              help="Glosses tried per frame (the most probable); 0 = all.")
@click.option("--beam-threshold", default=_DEFAULTS.beam_threshold, show_default=True,
              help="Prune hypotheses this far (log) below the best.")
@click.option("--lm", type=_FILE, help="Gloss n-gram LM (ARPA or KenLM binary), see `islpose lm build`.")
@click.option("--lm-weight", default=_DEFAULTS.lm_weight, show_default=True, help="Weight of the LM's log10 score.")
@click.option("--word-score", default=_DEFAULTS.word_score, show_default=True,
              help="Score added per emitted gloss (insertion bonus/penalty).")
@click.option("--batch-size", default=16, show_default=True, help="Utterances per forward pass.")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when available), cpu, cuda, cuda:N.")
@click.option("--overwrite", is_flag=True, help="Replace --out and --json when they exist.")
def decode(checkpoint: str, features: str, manifest: str | None, split: str | None, out: str,
           json_out: str | None, beam: int, beam_size_token: int, beam_threshold: float, lm: str | None,
           lm_weight: float, word_score: float, batch_size: int, device: str, overwrite: bool) -> None:
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
    """
    from islpose.decode import decode_store, write_glosses, write_json
    from islpose.io.atomic import check_output

    for path in (out, json_out):
        if path:
            check_output(path, overwrite)
    config = DecoderConfig(beam_size=beam, beam_size_token=beam_size_token, beam_threshold=beam_threshold,
                           lm=lm, lm_weight=lm_weight, word_score=word_score)
    result = decode_store(checkpoint, features, manifest=manifest, split=split, config=config,
                          batch_size=batch_size, device=device)
    write_glosses(result.hypotheses, out)
    n = len(result.hypotheses)
    seconds = result.forward_seconds + result.search_seconds
    method = "greedy" if config.method == "greedy" else f"beam {beam}" + (", LM" if lm else "")
    click.echo(f"decoded {n} utterances ({method}) in {seconds:.2f} s: model "
               f"{result.forward_seconds:.2f} s, search {result.search_seconds:.2f} s; wrote {out}")
    summary = {"checkpoint": checkpoint, "features": features, "manifest": manifest, "split": split,
               "decoder": vars(config), "hypotheses": out, "decoded": n,
               "failed": [{"id": u, "reason": r} for u, r in result.failed],
               "forward_seconds": result.forward_seconds, "search_seconds": result.search_seconds}
    if result.score is not None:
        undecoded = f"; {len(result.failed)} utterance(s) not decoded, counted as all deletions" \
            if result.failed else ""
        click.echo(result.score.summary() + undecoded)
        summary.update(result.score.to_dict())
    else:
        click.echo("no reference glosses: wrote hypotheses only")
    if json_out:
        write_json(summary, json_out)
    if result.failed:
        for uid, reason in result.failed:
            click.echo(f"failed: {uid}: {reason}", err=True)
        raise IslposeError(f"{len(result.failed)} utterance(s) could not be decoded (listed above)")


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
@click.option("--split", default="train", show_default=True, help="Manifest split to learn from ('all' = every utterance).")
@click.option("--overwrite", is_flag=True, help="Replace OUT when it exists.")
def lm_build(manifest: str, out: str, order: int, split: str, overwrite: bool) -> None:
    """Build an ARPA gloss LM (interpolated modified Kneser-Ney) from a manifest's training split.

    \b
    Example:
      islpose lm build data_manifests/corpus.jsonl glosses.arpa --order 3
      islpose decode ... --beam 10 --lm glosses.arpa
    """
    from islpose.decode.lm import build_lm, manifest_sentences, write_arpa
    from islpose.io.atomic import check_output

    check_output(out, overwrite)
    sentences = manifest_sentences(manifest, None if split == "all" else split)
    model = build_lm(sentences, order)
    write_arpa(model, out)
    counts = ", ".join(f"{k + 1}-grams: {len(p)}" for k, p in enumerate(model.probs))
    click.echo(f"wrote {out} (order {order}, {len(sentences)} sentences; {counts})")
    cost = model.cost_per_gloss(sentences)
    click.echo(f"LM cost per gloss on that text: {cost:.3f} (log10); `decode --word-score` of about "
               f"{cost:.3f} x --lm-weight cancels its pull towards short hypotheses")


@click.command("score")
@click.argument("ref", type=_FILE)
@click.argument("hyp", type=_FILE)
@click.option("--split", help="When REF is a manifest: score only this split.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Also write the numbers as JSON.")
@click.option("--overwrite", is_flag=True, help="Replace --json when it exists.")
def score(ref: str, hyp: str, split: str | None, json_out: str | None, overwrite: bool) -> None:
    """Score a hypothesis file against references: WER with S/D/I (jiwer).

    Both files hold `id<TAB>glosses` lines (REF may also be a manifest); every
    reference id needs exactly one hypothesis, and extra ids are an error.

    \b
    Example:
      islpose score ref.tsv dev.hyp.tsv
      islpose score data_manifests/corpus.jsonl dev.hyp.tsv --split dev --json wer.json
    """
    from islpose.decode import read_glosses, read_references, score_texts, write_json
    from islpose.io.atomic import check_output

    if json_out:
        check_output(json_out, overwrite)
    result = score_texts(read_references(ref, split), read_glosses(hyp), ref_name=ref, hyp_name=hyp)
    click.echo(result.summary())
    if json_out:
        write_json(result.to_dict(), json_out)
