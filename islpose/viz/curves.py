"""Training curves from the ``metrics.jsonl`` of student and teacher runs.

Example:
    >>> runs = {name: read_metrics(d) for name, d in run_names(["runs/a", "runs/b"]).items()}  # doctest: +SKIP
    >>> plot_runs(runs, "curves.png")                                                           # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from islpose.errors import IslposeError
from islpose.io.atomic import atomic_write
from islpose.io.jsonl import read_jsonl
from islpose.viz import deps

# Learning-rate keys: the students log "lr", the teacher its encoder's and its text decoder's.
LR_KEYS = {"lr": "-", "encoder_lr": "-", "decoder_lr": "--"}
ERRORS = (
    ("dev_substitutions", "substitutions", "#e15759"),
    ("dev_deletions", "deletions", "#4e79a7"),
    ("dev_insertions", "insertions", "#f28e2b"),
)


def read_metrics(run_dir: str | Path) -> list[dict]:
    """The epoch records of a run, one per epoch (the last one logged wins, as after a resume).

    Args:
        run_dir: a folder written by ``islpose train``, ``distill`` or ``teacher train``.

    Raises:
        IslposeError: no ``metrics.jsonl``, a line that is not a JSON record with an
            ``epoch``, or no epoch logged yet.
    """
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise IslposeError(f"{run_dir}: no metrics.jsonl (not a training run folder, or no epoch finished yet)")
    records: dict[int, dict] = {}
    for lineno, record in read_jsonl(path, "an epoch record"):
        try:
            records[int(record["epoch"])] = record
        except (ValueError, TypeError, KeyError) as exc:
            raise IslposeError(f"{path}:{lineno}: not an epoch record ({exc.__class__.__name__}: {exc})") from None
    if not records:
        raise IslposeError(f"{path}: no epoch logged yet")
    return [records[e] for e in sorted(records)]


def run_names(run_dirs: Sequence[str | Path]) -> dict[str, Path]:
    """Legend name -> run folder: the folder's name, with its parent's where two names clash."""
    paths = [Path(d) for d in run_dirs]
    names = [p.resolve().name for p in paths]
    out = {}
    for p, name in zip(paths, names):
        if names.count(name) > 1:
            name = f"{p.resolve().parent.name}/{name}"
        out[name if name not in out else str(p)] = p
    return out


def _series(records: list[dict], key: str) -> tuple[list[int], list[float]]:
    pairs = [(r["epoch"], float(r[key])) for r in records if r.get(key) is not None]
    return [e for e, _ in pairs], [v for _, v in pairs]


def _error_rates(record: dict) -> list[float]:
    """S, D, I as percentages of the reference glosses (they add up to the WER)."""
    counts = [float(record.get(key) or 0) for key, _, _ in ERRORS]
    total = sum(counts)
    wer = 100 * float(record.get("dev_wer") or 0)
    return [wer * c / total if total else 0.0 for c in counts]


def plot_runs(runs: Mapping[str, list[dict]], out: str | Path, title: str = "") -> Path:
    """Draws train loss, dev WER and learning rate over epochs, one colour per run, and
    each run's dev errors split into substitutions, deletions and insertions (stacked).

    Args:
        runs: legend name -> epoch records (:func:`read_metrics`).
        out: the ``.png`` (or ``.pdf``/``.svg``) to write.
        title: a line above the plots.
    """
    if not runs:
        raise IslposeError("no runs to plot")
    per_row = min(3, len(runs))
    rows = 1 + math.ceil(len(runs) / per_row)
    fig = deps.figure(figsize=(13, 3.6 * rows), layout="constrained")
    grid = fig.add_gridspec(rows, 3 * per_row)
    span = per_row  # each top panel spans a third of the width
    loss, wer, lr = (fig.add_subplot(grid[0, i * span : (i + 1) * span]) for i in range(3))
    colours = [f"C{i}" for i in range(len(runs))]
    for (name, records), colour in zip(runs.items(), colours):
        loss.plot(*_series(records, "train_loss"), color=colour, marker=".", label=name)
        epochs, rates = _series(records, "dev_wer")
        wer.plot(epochs, [100 * r for r in rates], color=colour, marker=".", label=name)
        best = [r for r in records if r.get("dev_wer") is not None]
        if best:
            top = min(best, key=lambda r: r["dev_wer"])
            wer.plot([top["epoch"]], [100 * top["dev_wer"]], "*", color=colour, markersize=14, markeredgecolor="k")
        for key, style in LR_KEYS.items():
            if any(key in r for r in records):
                lr.plot(*_series(records, key), style, color=colour, label=f"{name} ({key})")
    loss.set(title="train loss", xlabel="epoch", ylabel="loss per utterance")
    if all(v > 0 for r in runs.values() for v in _series(r, "train_loss")[1]):
        _plain_log_scale(loss)
    wer.set(title="dev WER (best marked *)", xlabel="epoch", ylabel="WER %")
    lr.set(title="learning rate", xlabel="epoch", ylabel="lr")
    lr.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    loss.legend(fontsize="small")
    if any(key in r for records in runs.values() for r in records for key in ("encoder_lr", "decoder_lr")):
        lr.legend(fontsize="x-small")  # the teacher's two learning rates
    _error_panels(fig, grid, runs, colours, per_row)
    from matplotlib.ticker import MaxNLocator

    for ax in fig.axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs
    if title:
        fig.suptitle(title)
    with atomic_write(out, "wb") as handle:
        fig.savefig(handle, format=Path(out).suffix.lstrip(".").lower() or "png", dpi=90)
    return Path(out)


def _plain_log_scale(ax) -> None:
    """A log y axis labelled 0.5, 1, 2, 5, 10 ... (not 5x10^-1)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _error_panels(fig, grid, runs: Mapping[str, list[dict]], colours: list[str], per_row: int) -> None:
    """One stacked S/D/I panel per run, ``per_row`` to a row, sharing the y axis."""
    first = None
    for i, ((name, records), colour) in enumerate(zip(runs.items(), colours)):
        r, c = divmod(i, per_row)
        ax = fig.add_subplot(grid[1 + r, c * 3 : (c + 1) * 3], sharey=first)
        first = first or ax
        scored = [rec for rec in records if rec.get("dev_wer") is not None]
        epochs = [rec["epoch"] for rec in scored]
        parts = list(zip(*[_error_rates(rec) for rec in scored])) or [[], [], []]
        ax.stackplot(
            epochs, *parts, labels=[label for _, label, _ in ERRORS], colors=[c for _, _, c in ERRORS], alpha=0.85
        )
        ax.set_title(f"{name}: dev errors", color=colour)
        ax.set(xlabel="epoch", ylabel="% of reference glosses")
        if i == 0:
            ax.legend(fontsize="small", loc="upper right")


def plot_run_dirs(
    run_dirs: Sequence[str | Path],
    out: str | Path,
    *,
    title: str = "",
    overwrite: bool = False,
    on_error: Callable[[IslposeError], None] | None = None,
) -> tuple[dict[str, list[dict]], list[str]]:
    """Reads the metrics of run folders and plots them (:func:`plot_runs`); an unreadable folder is skipped.

    Args:
        run_dirs: the run folders (each with a ``metrics.jsonl``).
        out: ``.png``, ``.pdf`` or ``.svg``; kept, an error, when it exists unless ``overwrite``.
        title: a line above the plots.
        overwrite: replace ``out`` when it exists.
        on_error: called with the error of each folder that cannot be read, as it happens.

    Returns:
        Legend name -> epoch records of the runs plotted, and the errors of the folders skipped.

    Raises:
        IslposeError: a bad ``out``, or no folder could be read.
    """
    from islpose.io.atomic import check_output

    if Path(out).suffix.lower() not in (".png", ".pdf", ".svg"):
        raise IslposeError(f"{out}: unknown plot format; use .png, .pdf or .svg")
    check_output(out, overwrite)
    runs, failed = {}, []
    for name, path in run_names(run_dirs).items():
        try:
            runs[name] = read_metrics(path)
        except IslposeError as exc:
            failed.append(str(exc))
            if on_error is not None:
                on_error(exc)
    if not runs:
        raise IslposeError("no run could be read (listed above)")
    plot_runs(runs, out, title=title)
    return runs, failed
