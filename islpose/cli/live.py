"""``islpose live``: glosses while the signer signs, from a camera, videos or ``.pose`` files (thin
wrapper of :mod:`islpose.recognize.stream`, :mod:`islpose.recognize.sources` and
:mod:`islpose.recognize.live`)."""
from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import click

from islpose.errors import IslposeError

# StreamConfig's defaults (importing it here would import h5py for `islpose --help`; a test keeps them equal).
HOP, WINDOW, RIGHT_CONTEXT = 0.25, 12.0, 0.4


def _sources(raw: tuple[str, ...]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(uid, source) to run, in order, and (input, reason) of inputs that cannot be used."""
    from islpose.recognize.run import find_inputs
    from islpose.recognize.sources import camera_index

    todo, failed = [], []
    for item in raw:
        if camera_index(item) is not None:
            todo.append((f"cam{item}", item))
            continue
        found, bad = find_inputs([item])
        todo += [(it.uid, str(it.path)) for it in found]
        failed += bad
    return todo, failed


def _line(event) -> str:
    return f"{event.id}\t{event.start:8.2f}-{event.end:<8.2f}{event.gloss}\t(score {event.score:.2f}, " \
           f"latency {event.emitted_at - event.end:.2f}s)"


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
        info = (f"t {stats.media_seconds:6.1f}s   {stats.fps:5.1f} fps   x{stats.realtime_factor:.2f} real time   "
                f"dropped {stats.dropped}   last commit latency {latency}")
        self.live.update(Panel(text, title=stats.uid, subtitle=info, subtitle_align="left"))


@click.command("live")
@click.argument("sources", nargs=-1, required=True, metavar="SOURCE...")
@click.option("--checkpoint", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Student checkpoint (best.pt of `islpose train`) or ONNX model of `islpose export`.")
@click.option("--out", type=click.Path(dir_okay=False), help="JSONL file: one line per committed gloss.")
@click.option("--realtime", is_flag=True, help="Pace files at their frame rate (default: as fast as possible).")
@click.option("--beam", default=1, show_default=True, help="Beam size; 1 = greedy decoding.")
@click.option("--hop", default=HOP, show_default=True, help="Seconds of new media between decodes.")
@click.option("--window", default=WINDOW, show_default=True,
              help="Seconds of recent media each decode reads (0: all).")
@click.option("--right-context", default=RIGHT_CONTEXT, show_default=True,
              help="Seconds after a gloss's end before it is committed.")
@click.option("--max-seconds", type=float, help="Stop a camera after this many seconds (default: Ctrl-C).")
@click.option("--no-display", is_flag=True, help="Plain lines instead of the live display (also when not a terminal).")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
def live(sources: tuple[str, ...], checkpoint: str, out: str | None, realtime: bool, beam: int, hop: float,
         window: float, right_context: float, max_seconds: float | None, no_display: bool, overwrite: bool) -> None:
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

    from islpose.io.atomic import Discard, atomic_path, check_output
    from islpose.recognize import Recognizer, StreamConfig

    config = StreamConfig(hop=hop, window=window, right_context=right_context)
    config.check()
    if out is not None:
        check_output(out, overwrite)
    rec = Recognizer.from_checkpoint(checkpoint, beam=beam)
    todo, failed = _sources(sources)
    for _, reason in failed:
        click.echo(f"error: {reason}", err=True)
    display = _Display(Console()) if not no_display and sys.stdout.isatty() else None
    done = written = 0
    with contextlib.ExitStack() as stack:
        handle = None
        if out is not None:  # a new file gets each line as it is committed; one being replaced waits for the end
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            path = stack.enter_context(atomic_path(out)) if Path(out).exists() else Path(out)
            handle = stack.enter_context(open(path, "w", encoding="utf-8"))

        def on_events(events, stats) -> None:
            nonlocal written
            for event in events:
                if handle is not None:
                    handle.write(json.dumps(event.to_dict(), ensure_ascii=False) + "\n")
                    handle.flush()
                    written += 1
                if display is None:
                    click.echo(_line(event))

        for item in todo:
            stats = _run_one(item, rec, config, realtime, max_seconds, display, on_events)
            if isinstance(stats, str):
                click.echo(f"error: {stats}", err=True)
                failed.append((item[1], stats))
                continue
            done += 1
            click.echo(f"{stats.uid}: {len(stats.events)} gloss(es), {stats.frames} frames in "
                       f"{stats.wall_seconds:.1f}s ({stats.fps:.1f} fps, x{stats.realtime_factor:.2f} real time), "
                       f"{stats.dropped} dropped" + (", stopped by Ctrl-C" if stats.interrupted else ""))
        if handle is not None and not done:
            handle.close()
            if path == Path(out):
                path.unlink()  # nothing was recognised: no empty file is left
            else:
                raise Discard
    click.echo(f"{done} source(s) done, {len(failed)} failed" + (f"; wrote {written} line(s) to {out}" if done and out
                                                                  else ""))
    if failed:
        raise click.exceptions.Exit(1)


def _run_one(item: tuple[str, str], rec, config, realtime: bool, max_seconds: float | None,
             display: _Display | None, on_events):
    """The :class:`~islpose.recognize.live.LiveStats` of one source, or why it failed (one line)."""
    from islpose.recognize.live import run_live
    from islpose.recognize.sources import open_source

    uid, name = item
    try:
        source = open_source(name, realtime=realtime, uid=None if uid.startswith("cam") else uid,
                             max_seconds=max_seconds)
        if display is None:
            return run_live(source, rec, config, on_events=on_events)
        with display:
            stats = run_live(source, rec, config, on_events=on_events, on_frame=display.update)
            display.update(stats)
        return stats
    except IslposeError as exc:
        message = str(exc)
        return message if name in message else f"{name}: {message}"
