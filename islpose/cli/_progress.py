"""The progress bar of the commands that go through many inputs (``extract``, ``featurize``,
``import-pose``, ``export-pose``, ``recognize``): a :class:`islpose.extract.runner.Progress`."""

from __future__ import annotations

import os

import click

from islpose.extract.runner import NoProgress


class RichProgress:
    """A rich progress bar over inputs with, optionally, the frame count and frames/s, and the ETA.

    It writes to a duplicate of stderr, so it keeps drawing while MediaPipe's own
    stderr (file descriptor 2) is silenced during a video. A failed input is one line
    ``failed: <error>`` above the bar.
    """

    def __init__(self, label: str, unit: str = "videos", frames: bool = True, transient: bool = False) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = Console(file=os.fdopen(os.dup(2), "w"), stderr=True)
        rate = [TextColumn("{task.fields[frames]:,} frames, {task.fields[rate]} frames/s")] if frames else []
        self.bar = Progress(
            TextColumn(label),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(unit),
            *rate,
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            redirect_stderr=False,
            redirect_stdout=False,
            transient=transient,
        )
        self.videos = self.bar.add_task(label, total=None, frames=0, rate="-")
        self.frame_task = self.bar.add_task("frames", total=None, visible=False)

    def __enter__(self) -> RichProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()
        self.console.file.close()

    def start(self, videos: int) -> None:
        self.bar.update(self.videos, total=videos)

    def frames(self, n: int) -> None:
        self.bar.advance(self.frame_task, n)
        task = self.bar.tasks[self.frame_task]
        rate = task.speed
        self.bar.update(self.videos, frames=int(task.completed), rate="-" if rate is None else f"{rate:.1f}")

    def video(self, uid: str, status: str, frames: int, error: str | None) -> None:
        self.bar.advance(self.videos)
        if error:
            from rich.markup import escape  # paths and messages may hold [...]

            self.console.print(f"[red]failed:[/red] {escape(error)}", highlight=False, markup=True, soft_wrap=True)


class QuietProgress(NoProgress):
    """No bar: one line ``failed: <error>`` per failed input on stderr."""

    def __enter__(self) -> QuietProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def video(self, uid: str, status: str, frames: int, error: str | None) -> None:
        if error:
            click.echo(f"failed: {error}", err=True)


def progress_bar(
    label: str, quiet: bool, unit: str = "videos", frames: bool = True, transient: bool = False
) -> RichProgress | QuietProgress:
    """A command's :class:`RichProgress`, or :class:`QuietProgress` with ``--quiet``."""
    return QuietProgress() if quiet else RichProgress(label, unit, frames, transient)
