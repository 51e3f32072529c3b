"""``islpose show`` and ``islpose plot``: thin click commands over :mod:`islpose.viz`."""

from __future__ import annotations

import click

from islpose.errors import IslposeError

_FILE = click.Path(exists=True, dir_okay=False)


@click.command("show")
@click.argument("source", type=_FILE)
@click.argument("uid", required=False)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    help="Picture to write: .mp4, .gif, or .png (a contact sheet of evenly spaced frames).",
)
@click.option("--video", type=_FILE, help="Video to draw over (default: the stored source, when it still exists).")
@click.option("--frames", type=int, help="Evenly spaced frames to draw (default: all; 12 for a .png).")
@click.option("--width", type=int, help="Picture width in pixels (default 640 MP4, 400 GIF, 320 per PNG tile).")
@click.option("--recognized", type=_FILE, help="`islpose recognize` output (JSONL): write each gloss on its frames.")
@click.option("--posteriors", is_flag=True, help="Draw the model's posteriorgram instead (needs --checkpoint).")
@click.option("--checkpoint", type=_FILE, help="With --posteriors: the student (.pt or .onnx).")
@click.option("--manifest", type=_FILE, help="With --posteriors: manifest whose glosses are the reference.")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
def show(
    source: str,
    uid: str | None,
    out: str,
    video: str | None,
    frames: int | None,
    width: int | None,
    recognized: str | None,
    posteriors: bool,
    checkpoint: str | None,
    manifest: str | None,
    overwrite: bool,
) -> None:
    """Draw landmarks as a skeleton over their video (or a blank canvas), or a posteriorgram.

    SOURCE is a feature store (UID names the utterance; it may be left out when the
    store holds one) or a pose-format .pose file. Pose, both hands and the face
    contours each have their own colour; a hand MediaPipe did not detect gets a red
    ring at the pose's wrist, the panel under each frame names what is missing, and
    its timeline shows the detections of the whole clip.

    With --posteriors: the CTC posteriors of --checkpoint over the utterance (frames x
    the blank and the likeliest glosses), the greedy decoding's segments, and the
    reference glosses of --manifest.

    \b
    Example:
      islpose show feats.h5 utt1 --out utt1.png                  # contact sheet, 12 frames
      islpose show feats.h5 utt1 --out utt1.mp4 --video utt1.mp4
      islpose show feats.h5 utt1 --out utt1.gif --frames 40 --recognized out.jsonl
      islpose show clip.pose --out clip.png
      islpose show feats.h5 utt1 --posteriors --checkpoint runs/bilstm/best.pt \\
          --manifest data_manifests/corpus.jsonl --out utt1.alignment.png
    """
    if posteriors:
        _show_posteriors(source, uid, out, checkpoint, manifest, overwrite)
        return
    from islpose.viz.show import show_clip

    result, clip = show_clip(
        source, out, uid, video=video, frames=frames, width=width, recognized=recognized, overwrite=overwrite
    )
    over = "a blank canvas" if result.background == "blank" else result.background
    click.echo(f"wrote {result.path}: {result.frames} of {len(clip.landmarks)} frames of {clip.name} over {over}")


def _show_posteriors(
    store: str, uid: str | None, out: str, checkpoint: str | None, manifest: str | None, overwrite: bool
) -> None:
    from islpose.viz.alignment import show_posteriors

    if checkpoint is None:
        raise IslposeError("--posteriors needs --checkpoint (the model whose posteriors to draw)")
    if uid is None:
        raise IslposeError("--posteriors needs the utterance id (STORE.h5 ID)")
    a = show_posteriors(checkpoint, store, uid, out, manifest=manifest, overwrite=overwrite)
    glosses = " ".join(s.gloss for s in a.segments) or "(nothing)"
    click.echo(f"wrote {out}: {len(a.log_probs)} model frames of {uid}; decoded: {glosses}")


@click.command("plot")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Picture to write (.png, .pdf or .svg).")
@click.option("--title", default="", help="A line above the plots.")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
def plot(run_dirs: tuple[str, ...], out: str, title: str, overwrite: bool) -> None:
    """Plot training curves of one run or several overlaid, from their metrics.jsonl.

    Train loss, dev WER (best epoch starred) and learning rate over epochs, one
    colour per run (students and teachers alike), and each run's dev errors split
    into substitutions, deletions and insertions. A folder that cannot be read is
    reported and the others are still plotted (exit code 1).

    \b
    Example:
      islpose plot runs/bilstm --out curves.png
      islpose plot runs/bilstm runs/mobilenet runs/teacher --out compare.png
    """
    from islpose.viz.curves import plot_run_dirs

    runs, failed = plot_run_dirs(
        run_dirs, out, title=title, overwrite=overwrite, on_error=lambda exc: click.echo(f"error: {exc}", err=True)
    )
    epochs = ", ".join(f"{name} {len(records)}" for name, records in runs.items())
    click.echo(f"wrote {out}: {len(runs)} run(s) (epochs: {epochs})")
    if failed:
        raise IslposeError(f"{len(failed)} run folder(s) could not be read (listed above)")
