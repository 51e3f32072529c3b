"""``islpose recognize``: glosses with their times for videos and ``.pose`` files (thin wrapper of
:mod:`islpose.recognize`)."""

from __future__ import annotations

import click

from islpose.cli.extract import backend_options
from islpose.decode.config import DecoderConfig

_DEFAULTS = DecoderConfig()
_FILE = click.Path(exists=True, dir_okay=False)


@click.command("recognize")
@click.argument("inputs", nargs=-1, required=True, metavar="INPUTS...")
@click.option(
    "--checkpoint",
    required=True,
    type=_FILE,
    help="Student checkpoint (best.pt of `islpose train`) or ONNX model of `islpose export`.",
)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="JSONL file: one record per input.")
@click.option("--eaf", "eaf_dir", type=click.Path(file_okay=False), help="Also write an ELAN <id>.eaf per input here.")
@click.option("--srt", "srt_dir", type=click.Path(file_okay=False), help="Also write <id>.srt subtitles here.")
@click.option("--store", type=click.Path(dir_okay=False), help="Keep the landmarks and features in this new store.")
@click.option(
    "--plot",
    "plot_dir",
    type=click.Path(file_okay=False),
    help="Also draw <id>.png here: posteriorgram with the recognised segments (pip install 'islpose[viz]').",
)
@click.option("--beam", default=_DEFAULTS.beam_size, show_default=True, help="Beam size; 1 = greedy decoding.")
@click.option("--lm", type=_FILE, help="Gloss n-gram LM (ARPA or KenLM binary) for beam search.")
@click.option("--lm-weight", default=_DEFAULTS.lm_weight, show_default=True, help="Weight of the LM's log10 score.")
@click.option("--word-score", default=_DEFAULTS.word_score, show_default=True, help="Score added per emitted gloss.")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar: failures and the summary only.")
@backend_options
def recognize(
    inputs: tuple[str, ...],
    checkpoint: str,
    out: str,
    eaf_dir: str | None,
    srt_dir: str | None,
    store: str | None,
    plot_dir: str | None,
    beam: int,
    lm: str | None,
    lm_weight: float,
    word_score: float,
    overwrite: bool,
    quiet: bool,
    backend: str | None,
    holistic_model: str | None,
) -> None:
    """Recognise glosses, with their start and end times, in videos and .pose files.

    INPUTS are videos, .pose files, folders of them (searched recursively) or manifests
    (.jsonl/.csv with `id` and `video`). Videos go through MediaPipe Holistic; nothing
    is stored unless --store is given. Each input gives one JSON line in --out:
    {"id", "source", "duration", "glosses", "segments": [{"gloss", "start", "end", "score"}]}
    (seconds; score = the gloss's peak posterior). An input that cannot be used is one
    line on stderr, the run goes on, and the exit code is 1 at the end.

    \b
    Example:
      islpose recognize clips/ --checkpoint runs/bilstm/best.pt --out glosses.jsonl --eaf eaf/ --srt srt/
      islpose recognize clip.mp4 --checkpoint model.onnx --out clip.jsonl --beam 1
      islpose recognize clips/ --checkpoint best.pt --out g.jsonl --beam 10 --lm glosses.arpa
      islpose recognize clip.mp4 --checkpoint best.pt --out g.jsonl --backend tasks --holistic-model holistic.task
    """
    from islpose.cli._progress import progress_bar
    from islpose.extract.videos import ExtractConfig
    from islpose.recognize import Recognizer
    from islpose.recognize.run import recognize_files
    from islpose.viz.alignment import plot_recognition

    rec = Recognizer.from_checkpoint(checkpoint, beam=beam, lm=lm, lm_weight=lm_weight, word_score=word_score)
    with progress_bar("recognize", quiet, unit="inputs", frames=False, transient=True) as bar:
        summary = recognize_files(
            rec,
            inputs,
            out,
            eaf_dir=eaf_dir,
            srt_dir=srt_dir,
            store=store,
            plot_dir=plot_dir,
            overwrite=overwrite,
            on_start=bar.start,
            extract=ExtractConfig(workers=1, backend=backend, holistic_model=holistic_model),
            on_done=lambda uid, _, error: bar.video(uid, "failed" if error else "done", 0, error),
            plot=plot_recognition if plot_dir else None,
        )
    click.echo(f"recognised {len(summary.done)} input(s), {len(summary.failed)} failed; wrote {out}")
    if summary.failed:
        raise click.exceptions.Exit(1)
