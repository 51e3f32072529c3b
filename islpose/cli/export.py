"""``islpose export``: a trained student as an ONNX model (thin wrapper of :mod:`islpose.export`)."""

from __future__ import annotations

import click


@click.command("export")
@click.option(
    "--checkpoint",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Student checkpoint written by `islpose train` (best.pt).",
)
@click.option("--format", "fmt", type=click.Choice(["onnx"]), default="onnx", show_default=True, help="Output format.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="The model file (MODEL.onnx).")
@click.option("--overwrite", is_flag=True, help="Replace existing files.")
def export(checkpoint: str, fmt: str, out: str, overwrite: bool) -> None:
    """Export a trained student for onnxruntime (no torch needed to run it).

    Writes OUT (inputs `features` (B, T, D) float32 and `lengths` (B,) int64; outputs
    `log_probs` (B, T', V) and `out_lengths` (B,); dynamic B and T) and the vocabulary
    beside it as MODEL.tokens.txt. `islpose recognize --checkpoint MODEL.onnx` runs it.

    \b
    Example:
      islpose export --checkpoint runs/bilstm/best.pt --format onnx --out bilstm.onnx
      islpose recognize clip.mp4 --checkpoint bilstm.onnx --out clip.jsonl --beam 1
    """
    from islpose.export import export_onnx
    from islpose.recognize.runtime import tokens_path

    path = export_onnx(checkpoint, out, overwrite=overwrite)
    click.echo(f"wrote {path} and {tokens_path(path)}")
