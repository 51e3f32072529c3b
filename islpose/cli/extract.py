"""``islpose extract``: placeholder until issue #3 lands."""
import click

from islpose.errors import IslposeError


@click.command('extract', context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def extract() -> None:
    """Run MediaPipe Holistic over videos and write landmarks + features to an HDF5 store.

    \b
    Example:
      islpose extract videos/ feats.h5 --workers 4
    """
    raise IslposeError("`islpose extract` is not implemented yet (issue #3)")


@click.command('featurize', context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def featurize() -> None:
    """Recompute pose and multimodal features from the landmarks stored in STORE.

    \b
    Example:
      islpose featurize feats.h5
    """
    raise IslposeError("`islpose featurize` is not implemented yet (issue #3)")
