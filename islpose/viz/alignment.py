"""Alignment pictures: a CTC posteriorgram with the decoded segments and the reference.

Example:
    >>> plot_posteriorgram(log_probs, vocab.tokens, "utt1.png", segments=result.segments,
    ...                    reference="I GO SCHOOL".split(), frame_seconds=2 / 25)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from islpose.errors import IslposeError
from islpose.io.atomic import atomic_write
from islpose.viz import deps

HYP, REF = "#d62728", "#2ca02c"  # decoded segments red, reference green


def _field(segment: Any, name: str) -> Any:
    return segment[name] if isinstance(segment, Mapping) else getattr(segment, name)


def choose_rows(probs: np.ndarray, tokens: Sequence[str], must: Sequence[str], top: int, blank: int = 0) -> list[int]:
    """The vocabulary rows to show: the blank, every gloss in ``must``, and the ``top`` most
    probable others (by their highest posterior), ordered by the time of their peak.

    Args:
        probs: (T, V) posteriors.
        tokens: V tokens.
        must: glosses that are shown whatever their posterior (decoded and reference ones).
        top: how many glosses in all, at least (more when ``must`` holds more).
    """
    index = {tok: i for i, tok in enumerate(tokens)}
    rows = [index[g] for g in dict.fromkeys(must) if g in index and index[g] != blank]
    for i in np.argsort(-probs.max(axis=0), kind="stable"):
        if len(rows) >= top:
            break
        if i != blank and i not in rows:
            rows.append(int(i))
    rows.sort(key=lambda i: (int(probs[:, i].argmax()), i))
    return [blank] + rows


def _band(ax, spans: Sequence[tuple[str, float, float]], colour: str, label: str, x_max: float) -> None:
    """A strip of labelled boxes, one per (gloss, start, end)."""
    for gloss, start, end in spans:
        ax.axvspan(start, end, 0.1, 0.9, facecolor=colour, alpha=0.25, edgecolor=colour)
        ax.text((start + end) / 2, 0.5, gloss, ha="center", va="center", fontsize="small", clip_on=True)
    ax.set(xlim=(0, x_max), ylim=(0, 1), yticks=[])
    ax.set_ylabel(label, rotation=0, ha="right", va="center", color=colour)
    ax.tick_params(labelbottom=False)


def plot_posteriorgram(
    log_probs: np.ndarray,
    tokens: Sequence[str],
    out: str | Path,
    *,
    segments: Sequence[Any] = (),
    reference: Sequence[Any] | None = None,
    frame_seconds: float | None = None,
    top: int = 12,
    title: str = "",
    blank: int = 0,
) -> Path:
    """Draws frames x glosses (with the blank) of one utterance's CTC posteriors.

    Args:
        log_probs: (T, V) frame log-probabilities of the model (its output frames).
        tokens: V vocabulary tokens (index -> gloss).
        out: the ``.png`` (or ``.pdf``/``.svg``) to write.
        segments: decoded glosses with ``gloss``, ``start``, ``end`` (dicts or
            :class:`~islpose.recognize.Segment`), in seconds when ``frame_seconds`` is
            given, else in output frames; drawn as a strip of boxes and outlined on their rows.
        reference: the reference glosses, as strings (their rows are labelled green) or
            with times like ``segments`` (also drawn as a strip).
        frame_seconds: seconds per output frame (the input's 1 / fps times the model's
            subsampling); None: the x axis counts output frames.
        top: glosses shown besides the blank (at least; every decoded and reference gloss is).
        title: a line above the picture.
        blank: the blank's index.
    """
    lp = np.asarray(log_probs, dtype=np.float64)
    if lp.ndim != 2 or lp.shape[1] != len(tokens) or len(lp) == 0:
        raise IslposeError(f"log_probs must be (T > 0, V={len(tokens)}), got {lp.shape}")
    probs = np.exp(lp)
    hyp = [(str(_field(s, "gloss")), float(_field(s, "start")), float(_field(s, "end"))) for s in segments]
    timed = bool(reference) and not isinstance(reference[0], str)
    ref = (
        [(str(_field(s, "gloss")), float(_field(s, "start")), float(_field(s, "end"))) for s in reference]
        if timed
        else [(str(g), 0.0, 0.0) for g in reference or ()]
    )
    rows = choose_rows(probs, tokens, [g for g, _, _ in hyp + ref], top, blank)
    x_max = len(lp) * (frame_seconds or 1.0)
    fig = deps.figure(
        figsize=(max(8.0, min(16.0, 0.12 * len(lp) + 4)), 1.6 + 0.28 * len(rows) + 0.5 * (1 + timed)),
        layout="constrained",
    )
    grid = fig.add_gridspec(2 + timed, 1, height_ratios=[0.5] * (1 + timed) + [0.28 * len(rows)])
    heat = fig.add_subplot(grid[-1])
    _heatmap(fig, heat, probs, rows, tokens, hyp, {g for g, _, _ in ref}, x_max)
    heat.set_xlabel("seconds" if frame_seconds else "output frame")
    axes = [fig.add_subplot(grid[i], sharex=heat) for i in range(1 + timed)]
    _band(axes[0], hyp, HYP, "decoded", x_max)
    if timed:
        _band(axes[1], ref, REF, "reference", x_max)
    lines = [title] if title else []
    lines.append("decoded: " + (" ".join(g for g, _, _ in hyp) or "(nothing)"))
    if reference:
        lines.append("reference: " + " ".join(g for g, _, _ in ref))
    fig.suptitle("\n".join(lines), fontsize="medium")
    with atomic_write(out, "wb") as handle:
        fig.savefig(handle, format=Path(out).suffix.lstrip(".").lower() or "png", dpi=90)
    return Path(out)


def _heatmap(
    fig,
    heat,
    probs: np.ndarray,
    rows: list[int],
    tokens: Sequence[str],
    hyp: list[tuple[str, float, float]],
    refs: set[str],
    x_max: float,
) -> None:
    """The posteriors of ``rows`` (T x rows), reference rows labelled green, decoded segments outlined red."""
    image = heat.imshow(
        probs[:, rows].T,
        aspect="auto",
        origin="upper",
        cmap="Blues",
        vmin=0,
        vmax=1,
        extent=(0, x_max, len(rows) - 0.5, -0.5),
        interpolation="nearest",
    )
    heat.set_yticks(range(len(rows)), [tokens[i] for i in rows], fontsize="small")
    for label, i in zip(heat.get_yticklabels(), rows):
        if tokens[i] in refs:
            label.set_color(REF)
            label.set_fontweight("bold")
    where = {tokens[i]: r for r, i in enumerate(rows)}
    for gloss, start, end in hyp:
        if gloss in where:
            heat.add_patch(_rect(start, where[gloss] - 0.5, end - start, 1.0, HYP))
    fig.colorbar(image, ax=heat, label="posterior", shrink=0.8)


def _rect(x: float, y: float, w: float, h: float, colour: str):
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), w, h, fill=False, edgecolor=colour, linewidth=2)


@dataclass
class Alignment:
    """What :func:`align_utterance` computed for one stored utterance.

    Attributes:
        log_probs: (T', V) the model's frame log-probabilities.
        tokens: V vocabulary tokens.
        segments: the greedy decoding's segments (seconds).
        frame_seconds: seconds per output frame.
    """

    log_probs: np.ndarray
    tokens: list[str]
    segments: list
    frame_seconds: float


def align_utterance(checkpoint: str | Path, store: str | Path, uid: str) -> Alignment:
    """Runs a student (``.pt`` or ``.onnx``) over one stored utterance's features through a
    greedy :class:`~islpose.recognize.Recognizer` and returns what it recognised.

    Raises:
        IslposeError: the utterance lacks the model's features, or its frame rate is unknown.
    """
    from islpose.decode.config import DecoderConfig
    from islpose.features.compute import signing_span
    from islpose.io import FeatureStore
    from islpose.recognize import Recognizer
    from islpose.recognize.runtime import load_student

    recognizer = Recognizer(load_student(checkpoint), DecoderConfig(beam_size=1))
    model = recognizer.model
    with FeatureStore(store) as fs:
        if model.feature not in fs.datasets(uid):
            raise IslposeError(f"{store}: utterance {uid!r} has no {model.feature!r} features for this model")
        attrs = fs.attrs(uid)
        features, fps = fs.read(uid, model.feature), float(attrs.get("fps") or 0.0)
        signing = None
        if {"landmarks", "presence"} <= set(fs.datasets(uid)) and attrs.get("width") and attrs.get("height"):
            signing = signing_span(fs.read(uid, "landmarks"), fs.read(uid, "presence"), attrs["width"], attrs["height"])
    if not fps > 0:
        raise IslposeError(f"{store}: utterance {uid!r} has no frame rate, so no times can be given")
    result, log_probs = recognizer.decode_features(features, fps, uid=uid, signing=signing)
    return Alignment(log_probs, list(model.vocab.tokens), list(result.segments), model.subsample / fps)


def plot_recognition(model: Any, result: Any, log_probs: np.ndarray, fps: float, out: str | Path) -> Path:
    """The posteriorgram of one recognised input with its segments, seconds on the x axis
    (the ``plot`` of :func:`islpose.recognize.run.recognize_files`).

    Args:
        model: the recognizer's student (``vocab``, ``subsample``).
        result: the input's :class:`~islpose.recognize.Recognition`.
        log_probs: (T', V) the model's log-probabilities.
        fps: frames per second of the input.
        out: the picture to write.
    """
    return plot_posteriorgram(
        log_probs,
        model.vocab.tokens,
        out,
        segments=result.segments,
        frame_seconds=model.subsample / fps,
        title=result.id,
        blank=model.vocab.blank_id,
    )


def show_posteriors(
    checkpoint: str | Path,
    store: str | Path,
    uid: str,
    out: str | Path,
    *,
    manifest: str | Path | None = None,
    overwrite: bool = False,
) -> Alignment:
    """Draws a student's posteriorgram of one stored utterance (:func:`align_utterance`,
    :func:`plot_posteriorgram`) with its greedy segments and, from ``manifest``, the reference.

    Args:
        checkpoint: the student (``.pt`` or ``.onnx``).
        store: the feature store.
        uid: the utterance.
        out: ``.png``, ``.pdf`` or ``.svg``; kept, an error, when it exists unless ``overwrite``.
        manifest: a manifest whose glosses for ``uid`` are drawn as the reference.
        overwrite: replace ``out`` when it exists.

    Returns:
        The alignment drawn.
    """
    from islpose.io.atomic import check_output

    if Path(out).suffix.lower() not in (".png", ".pdf", ".svg"):
        raise IslposeError(f"{out}: a posteriorgram is a .png, .pdf or .svg")
    check_output(out, overwrite)
    reference = None
    if manifest:
        from islpose.manifests import read_manifest

        utts = {u.id: u for u in read_manifest(manifest).utterances}
        if uid not in utts or not utts[uid].glosses:
            raise IslposeError(f"{manifest}: no glosses for {uid!r}")
        reference = list(utts[uid].glosses)
    a = align_utterance(checkpoint, store, uid)
    plot_posteriorgram(
        a.log_probs,
        a.tokens,
        out,
        segments=a.segments,
        reference=reference,
        frame_seconds=a.frame_seconds,
        title=f"{uid} ({Path(checkpoint).name})",
    )
    return a
