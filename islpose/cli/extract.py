"""``islpose extract`` and ``islpose featurize``: thin click commands over
:mod:`islpose.extract.videos` and :mod:`islpose.extract.featurize`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from islpose.cli._progress import progress_bar


def _report(summary: Any, title: str) -> None:
    """Prints the summary table (stdout) and the failures again (stderr); exit 1 on any failure."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for name in ("done", "skipped", "failed", "frames", "seconds", "frames/s"):
        table.add_column(name, justify="right")
    table.add_row(
        str(len(summary.done)),
        str(len(summary.skipped)),
        str(len(summary.failed)),
        f"{summary.frames:,}",
        f"{summary.seconds:.1f}",
        f"{summary.frames_per_second:.1f}",
    )
    Console().print(table)
    for note in summary.notes:
        click.echo(note, err=True)
    if summary.failed:
        click.echo(f"{len(summary.failed)} failed:", err=True)
        for _, message in summary.failed:
            click.echo(f"  {message}", err=True)
        raise click.exceptions.Exit(1)


def backend_options(command: Callable) -> Callable:
    """``--backend`` and ``--holistic-model``: which MediaPipe Holistic runs on videos."""
    command = click.option(
        "--holistic-model",
        default=None,
        metavar="PATH",
        help="tasks backend: MediaPipe's holistic_landmarker.task (default: "
        "$ISLPOSE_HOLISTIC_MODEL; download it once from MediaPipe's models page, "
        "islpose never downloads).",
    )(command)
    return click.option(
        "--backend",
        type=click.Choice(["legacy", "tasks"]),
        default=None,
        help="MediaPipe Holistic: legacy = mediapipe.solutions.holistic (mediapipe 0.10.21), tasks = "
        "the Tasks HolisticLandmarker (current mediapipe). Default: legacy where it is "
        "installed, tasks otherwise.",
    )(command)


def store_run_options(item: str) -> Callable[[Callable], Callable]:
    """The options every command that fills a store through the extraction runner takes
    (``extract``, ``import-pose``); ``item`` names what one input is ("video", "file")."""
    options = [
        click.option(
            "--workers", "-j", type=click.IntRange(min=1), default=None, help="Worker processes (default: all cores)."
        ),
        click.option(
            "--executor",
            type=click.Choice(["local", "ray"]),
            default="local",
            show_default=True,
            help=f"Where each {item} is processed: this machine, or a Ray cluster (pip install 'islpose[ray]').",
        ),
        click.option(
            "--overwrite",
            is_flag=True,
            help=f"Redo every {item} into a new store built beside OUT; it replaces OUT only when the "
            f"run finishes with at least one {item} done (a killed or failed run leaves OUT as it "
            "was).",
        ),
        click.option(
            "--verify",
            is_flag=True,
            help=f"On a rerun, hash every stored {item}'s source even when its size and time are unchanged.",
        ),
        click.option(
            "--dtype",
            type=click.Choice(["float16", "float32"]),
            default="float16",
            show_default=True,
            help="dtype of the stored 6516-d multimodal features.",
        ),
        click.option("--quiet", "-q", is_flag=True, help="No progress bar (for logs): failures and the summary only."),
    ]

    def apply(command: Callable) -> Callable:
        for option in reversed(options):
            command = option(command)
        return command

    return apply


@click.command("extract")
@click.argument("inputs", nargs=-1, required=True, metavar="VIDEOS...")
@click.argument("out", metavar="OUT.h5")
@store_run_options("video")
@click.option(
    "--min-detection-confidence",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="MediaPipe Holistic: the lowest score at which a person is detected.",
)
@click.option(
    "--min-tracking-confidence",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="MediaPipe Holistic: below this tracking score the next frame detects afresh.",
)
@backend_options
def extract(
    inputs: tuple[str, ...],
    out: str,
    workers: int | None,
    executor: str,
    overwrite: bool,
    verify: bool,
    dtype: str,
    min_detection_confidence: float,
    min_tracking_confidence: float,
    quiet: bool,
    backend: str | None,
    holistic_model: str | None,
) -> None:
    """Run MediaPipe Holistic over videos and write landmarks + features to OUT.h5.

    VIDEOS are video files, folders (searched recursively for video files) or manifests
    (.jsonl/.csv with `id` and `video`); an utterance's id is the manifest's or the file
    name without its extension. A rerun skips videos already stored whose file is
    unchanged (same size and modification time, else same SHA-256), so a killed run is
    resumed by running it again; every video stored before the kill stays readable.
    A video that cannot be used is reported and the run goes on; the exit code is 1
    if any video failed.

    \b
    Example:
      islpose extract videos/ feats.h5 --workers 4
      islpose extract data_manifests/corpus.jsonl feats.h5 --quiet
      RAY_ADDRESS=auto islpose extract /shared/videos/ feats.h5 --executor ray
      islpose extract clip.mp4 feats.h5 --backend tasks --holistic-model holistic_landmarker.task
    """
    from islpose.extract.holistic import HolisticSettings
    from islpose.extract.videos import ExtractConfig
    from islpose.extract.videos import extract as run_extract

    config = ExtractConfig(
        workers=workers,
        executor=executor,
        overwrite=overwrite,
        verify=verify,
        dtype=dtype,
        holistic=HolisticSettings(
            min_detection_confidence=min_detection_confidence, min_tracking_confidence=min_tracking_confidence
        ),
        backend=backend,
        holistic_model=holistic_model,
    )
    from islpose._optional import require

    require("cv2", "extract", "OpenCV")  # a missing extra is the one line, before any progress bar
    require("mediapipe", "extract", "MediaPipe")
    with progress_bar("extract", quiet) as progress:
        summary = run_extract(inputs, out, config, progress)
    _report(summary, f"islpose extract -> {out}")


@click.command("featurize")
@click.argument("store", metavar="STORE.h5")
@click.option(
    "--out", "-o", default=None, metavar="OUT.h5", help="Write to this new store instead of rewriting STORE in place."
)
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists (only an islpose store is replaced).")
@click.option(
    "--dtype",
    type=click.Choice(["float16", "float32"]),
    default="float16",
    show_default=True,
    help="dtype of the 6516-d multimodal features.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def featurize(store: str, out: str | None, overwrite: bool, dtype: str, quiet: bool) -> None:
    """Recompute pose and multimodal features from the landmarks stored in STORE.

    No MediaPipe is needed: the features are a pure function of the stored landmarks.
    The result is built beside its target and renamed over it at the end: a killed run
    changes nothing; in place, STORE is replaced only if every utterance succeeded.

    \b
    Example:
      islpose featurize feats.h5
      islpose featurize feats.h5 --out feats32.h5 --dtype float32
    """
    from islpose.extract.featurize import featurize as run_featurize

    with progress_bar("featurize", quiet, unit="utterances") as progress:
        summary = run_featurize(store, out, dtype, progress, overwrite=overwrite)
    _report(summary, f"islpose featurize -> {out or store}")
