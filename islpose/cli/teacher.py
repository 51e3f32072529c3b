"""``islpose teacher``: placeholder until issue #6 lands."""
import click

from islpose.errors import IslposeError


@click.command('teacher', context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def teacher() -> None:
    """The GPU stage: train RGB video teachers and export their frame posteriors.

    \b
    Example:
      islpose teacher train --arch dense_vit --manifest m.jsonl --out runs/teacher
    """
    raise IslposeError("`islpose teacher` is not implemented yet (issue #6)")
