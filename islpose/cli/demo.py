"""``islpose demo``: the whole chain on built-in data (thin wrapper of :mod:`islpose.demo`)."""

from __future__ import annotations

import click


@click.command("demo")
@click.argument("out_dir", default="islpose-demo", required=False, type=click.Path(file_okay=False))
@click.option("--quick", is_flag=True, help="A CI-sized run (smaller corpus and model, a few epochs: about 30 s).")
@click.option(
    "--overwrite",
    is_flag=True,
    help="Use a non-empty OUT_DIR the demo did not make (its own sub-folders there are replaced).",
)
def demo(out_dir: str, quick: bool, overwrite: bool) -> None:
    """Run the whole chain on built-in data: extraction, training, decoding, recognition.

    \b
    1. MediaPipe Holistic on the real signing clip shipped with islpose
    2. a synthetic signing corpus
    3. a short bilstm_optimized training
    4. test-set decoding, greedy and beam search with a gloss LM, with the WER
    5. `recognize` on one held-out sentence, its glosses and timed segments printed

    Everything goes to OUT_DIR (default ./islpose-demo); about 2 minutes on a 2-core CPU.

    \b
    Example:
      islpose demo
      islpose demo /tmp/demo --quick
    """
    from islpose.demo import run_demo

    run_demo(out_dir, quick=quick, overwrite=overwrite, echo=click.echo)
