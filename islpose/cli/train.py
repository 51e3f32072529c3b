"""``islpose train``: placeholder until issue #4 lands."""
import click

from islpose.errors import IslposeError


@click.command('train', context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def train() -> None:
    """Train a CTC model (bilstm_optimized, mobilenet_v3_1d) on a feature store.

    \b
    Example:
      islpose train --model bilstm_optimized --features feats.h5 --manifest m.jsonl --out runs/bilstm
    """
    raise IslposeError("`islpose train` is not implemented yet (issue #4)")
