"""``islpose distill``: placeholder until issue #7 lands."""
import click

from islpose.errors import IslposeError


@click.command('distill', context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def distill() -> None:
    """Train a pose student with CTC plus distillation from a teacher's posteriors.

    \b
    Example:
      islpose distill --model bilstm_optimized --features feats.h5 --teacher post.h5 --manifest m.jsonl --out runs/kd
    """
    raise IslposeError("`islpose distill` is not implemented yet (issue #7)")
