"""Entry point of the ``islpose`` console script.

Each command lives in its own module and is imported only when it is used (or when
``--help`` lists it), so ``islpose --help`` does not import torch or MediaPipe.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from islpose._optional import missing_extra_message
from islpose._version import __version__
from islpose.errors import IslposeError

# command name -> "module:attribute"
COMMANDS = {
    "extract": "islpose.cli.extract:extract",
    "featurize": "islpose.cli.extract:featurize",
    "import-pose": "islpose.cli.pose:import_pose",
    "export-pose": "islpose.cli.pose:export_pose",
    "train": "islpose.cli.train:train",
    "decode": "islpose.cli.decode:decode",
    "lm": "islpose.cli.decode:lm",
    "score": "islpose.cli.decode:score",
    "tune": "islpose.cli.decode:tune",
    "distill": "islpose.cli.distill:distill",
    "teacher": "islpose.cli.teacher:teacher",
    "vocab": "islpose.cli.manifest:vocab",
    "validate": "islpose.cli.manifest:validate",
    "prepare": "islpose.cli.prepare:prepare",
    "show": "islpose.cli.viz:show",
    "plot": "islpose.cli.viz:plot",
    "recognize": "islpose.cli.recognize:recognize",
    "live": "islpose.cli.live:live",
    "export": "islpose.cli.export:export",
    "demo": "islpose.cli.demo:demo",
    "serve": "islpose.cli.serve:serve",
}


class IslposeGroup(click.Group):
    """Loads commands lazily and turns user errors into one line on stderr, exit 1."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS:
            module, attr = COMMANDS[name].split(":")
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (IslposeError, OSError) as exc:
            if (ctx.obj or {}).get("debug") or os.environ.get("ISLPOSE_DEBUG"):
                raise
            message = str(exc) if isinstance(exc, IslposeError) else f"{exc.__class__.__name__}: {exc}"
            click.echo(f"error: {message}", err=True)
            ctx.exit(1)
        except ModuleNotFoundError as exc:  # an optional dependency a command imports at the top
            message = missing_extra_message(exc)
            if message is None or (ctx.obj or {}).get("debug") or os.environ.get("ISLPOSE_DEBUG"):
                raise
            click.echo(f"error: {message}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


@click.group(cls=IslposeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks for errors.")
@click.version_option(__version__, prog_name="islpose")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Continuous sign-language recognition from body landmarks.

    \b
    Typical run:
      islpose extract data_manifests/corpus.jsonl feats.h5
      islpose vocab build data_manifests/corpus.jsonl tokens.txt
      islpose train --model bilstm_optimized --features feats.h5 \\
          --manifest data_manifests/corpus.jsonl --out runs/bilstm
      islpose decode --checkpoint runs/bilstm/best.pt --features feats.h5 \\
          --manifest data_manifests/corpus.jsonl --split dev --beam 5
    """
    ctx.ensure_object(dict)["debug"] = debug


def main() -> None:
    cli(prog_name="islpose")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
