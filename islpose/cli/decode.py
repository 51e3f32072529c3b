"""``islpose decode``: placeholder until issue #5 lands."""
import click

from islpose.errors import IslposeError


@click.command('decode', context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def decode() -> None:
    """Decode a split with a trained checkpoint (greedy or beam search) and score WER.

    \b
    Example:
      islpose decode --checkpoint runs/bilstm/best.pt --features feats.h5 --manifest m.jsonl --beam 5
    """
    raise IslposeError("`islpose decode` is not implemented yet (issue #5)")


@click.group()
def lm() -> None:
    """Build gloss n-gram language models for beam search.

    \b
    Example:
      islpose lm build data_manifests/corpus.jsonl glosses.arpa --order 3
    """


@lm.command("build", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def lm_build() -> None:
    """Build an ARPA gloss LM from a manifest's training split."""
    raise IslposeError("`islpose lm build` is not implemented yet (issue #5)")


@click.command("score", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def score() -> None:
    """Score a hypothesis file against a reference file (id<TAB>glosses), WER with jiwer.

    \b
    Example:
      islpose score ref.tsv hyps.tsv
    """
    raise IslposeError("`islpose score` is not implemented yet (issue #5)")
