"""``islpose live``: glosses while the signer signs, from a camera, videos or ``.pose`` files (thin
wrapper of :mod:`islpose.recognize.stream`, :mod:`islpose.recognize.sources` and
:mod:`islpose.recognize.live`)."""

from __future__ import annotations

import contextlib
import sys

import click

# StreamConfig's defaults (importing it here would import h5py for `islpose --help`; a test keeps them equal).
HOP, WINDOW, RIGHT_CONTEXT = 0.25, 12.0, 0.4


def _line(event) -> str:
    return (
        f"{event.id}\t{event.start:8.2f}-{event.end:<8.2f}{event.gloss}\t(score {event.score:.2f}, "
        f"latency {event.emitted_at - event.end:.2f}s)"
    )


class _Display:
    """A rich live panel of one source: committed glosses, the partial hypothesis, fps and latency."""

    def __init__(self, console) -> None:
        from rich.live import Live

        self.console = console
        self.live = Live(console=console, refresh_per_second=8, transient=False)

    def __enter__(self):
        self.live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.live.__exit__(*exc)

    def update(self, stats) -> None:
        from rich.panel import Panel
        from rich.text import Text

        text = Text()
        text.append(" ".join(e.gloss for e in stats.events[-30:]), style="bold")
        if stats.partial:
            text.append(" " + " ".join(e.gloss for e in stats.partial), style="dim italic")
        latency = "-" if stats.latency is None else f"{stats.latency:.2f}s"
        info = (
            f"t {stats.media_seconds:6.1f}s   {stats.fps:5.1f} fps   x{stats.realtime_factor:.2f} real time   "
            f"dropped {stats.dropped}   last commit latency {latency}"
        )
        self.live.update(Panel(text, title=stats.uid, subtitle=info, subtitle_align="left"))


@click.command("live")
@click.argument("sources", nargs=-1, required=True, metavar="SOURCE...")
@click.option(
    "--checkpoint",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Student checkpoint (best.pt of `islpose train`) or ONNX model of `islpose export`.",
)
@click.option("--out", type=click.Path(dir_okay=False), help="JSONL file: one line per committed gloss.")
@click.option("--realtime", is_flag=True, help="Pace files at their frame rate (default: as fast as possible).")
@click.option("--beam", default=1, show_default=True, help="Beam size; 1 = greedy decoding.")
@click.option("--hop", default=HOP, show_default=True, help="Seconds of new media between decodes.")
@click.option("--window", default=WINDOW, show_default=True, help="Seconds of recent media each decode reads (0: all).")
@click.option(
    "--right-context",
    default=RIGHT_CONTEXT,
    show_default=True,
    help="Seconds after a gloss's end before it is committed.",
)
@click.option("--max-seconds", type=float, help="Stop a camera after this many seconds (default: Ctrl-C).")
@click.option("--no-display", is_flag=True, help="Plain lines instead of the live display (also when not a terminal).")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
def live(
    sources: tuple[str, ...],
    checkpoint: str,
    out: str | None,
    realtime: bool,
    beam: int,
    hop: float,
    window: float,
    right_context: float,
    max_seconds: float | None,
    no_display: bool,
    overwrite: bool,
) -> None:
    """Recognise glosses live, committing each once it is stable.

    SOURCE is a camera index (0, 1, ...), a video, a .pose file or a folder of them. A
    camera runs in real time and drops frames (counted) when the CPU falls behind; files
    run as fast as possible unless --realtime. Each committed gloss is one JSON line in
    --out: {"id", "gloss", "start", "end", "score", "emitted_at"} (media seconds;
    emitted_at = media time of the newest frame when the gloss was committed). When a
    source ends (or Ctrl-C), its stream is flushed: its glosses then equal `islpose
    recognize`'s wherever the committed ones agreed with the final decode. A source that
    cannot be used is one line on stderr, the run goes on, and the exit code is 1 at the end.

    \b
    Example:
      islpose live 0 --checkpoint runs/lstm_lookahead/best.pt
      islpose live clips/ recording.pose --checkpoint best.pt --out events.jsonl --no-display
    """
    from rich.console import Console

    from islpose.recognize import Recognizer, StreamConfig
    from islpose.recognize.live import live_sources

    config = StreamConfig(hop=hop, window=window, right_context=right_context)
    rec = Recognizer.from_checkpoint(checkpoint, beam=beam)
    display = _Display(Console()) if not no_display and sys.stdout.isatty() else None
    echo = display.console.print if display is not None else click.echo

    def on_events(events, stats) -> None:
        if display is None:
            for event in events:
                click.echo(_line(event))

    def on_source(stats) -> None:
        if display is not None:
            display.update(stats)
        echo(
            f"{stats.uid}: {len(stats.events)} gloss(es), {stats.frames} frames in {stats.wall_seconds:.1f}s "
            f"({stats.fps:.1f} fps, x{stats.realtime_factor:.2f} real time), {stats.dropped} dropped"
            + (", stopped by Ctrl-C" if stats.interrupted else "")
        )

    with display if display is not None else contextlib.nullcontext():
        summary = live_sources(
            sources,
            rec,
            config,
            out=out,
            overwrite=overwrite,
            realtime=realtime,
            max_seconds=max_seconds,
            on_events=on_events,
            on_source=on_source,
            on_frame=display.update if display is not None else None,
            on_error=lambda _, reason: click.echo(f"error: {reason}", err=True),
        )
    wrote = f"; wrote {summary.written} line(s) to {out}" if summary.done and out else ""
    click.echo(f"{len(summary.done)} source(s) done, {len(summary.failed)} failed{wrote}")
    if summary.failed:
        raise click.exceptions.Exit(1)
