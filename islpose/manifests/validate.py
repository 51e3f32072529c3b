"""Manifest checks: each returns a list of :class:`Problem` so a command can report all."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from islpose.ctc import min_ctc_frames, subsampled_length
from islpose.errors import ManifestError

if TYPE_CHECKING:
    from islpose.io import FeatureStore
    from islpose.manifests.manifest import Manifest


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a manifest line.

    Attributes:
        kind: short category, e.g. ``duplicate-id``, ``missing-video``, ``no-features``.
        uid: the utterance id it concerns ('' when there is none).
        line: manifest line (0 when unknown).
        message: one readable sentence.
    """

    kind: str
    uid: str
    line: int
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.message}"


def check_manifest(
    manifest: "Manifest",
    *,
    videos: bool = False,
    require: Iterable[str] = (),
) -> list[Problem]:
    """Checks ids, fields, split names and (optionally) that the videos exist.

    Args:
        manifest: the parsed manifest.
        videos: check that each given ``video`` path exists.
        require: fields every utterance must have, e.g. ``("glosses",)`` for training
            or ``("video",)`` for extraction.
    """
    from islpose.manifests.manifest import FIELDS, SPLITS

    problems: list[Problem] = []
    for lineno, uid, names in manifest.unknown_fields:
        problems.append(Problem("unknown-field", uid, lineno,
                                f"{uid}: unknown field(s) {', '.join(names)} (known: {', '.join(FIELDS)})"))
    first_line: dict[str, int] = {}
    for u in manifest:
        if u.id in first_line:
            problems.append(Problem("duplicate-id", u.id, u.line,
                                    f"duplicate id {u.id!r} (first on line {first_line[u.id]})"))
        else:
            first_line[u.id] = u.line
        if u.split is not None and u.split not in SPLITS:
            problems.append(Problem("unknown-split", u.id, u.line,
                                    f"{u.id}: unknown split {u.split!r} (use {', '.join(SPLITS)})"))
        for name in require:
            if getattr(u, name) in (None, ()):
                problems.append(Problem(f"missing-{name}", u.id, u.line, f"{u.id}: missing field {name!r}"))
        if videos and u.video is not None:
            if not Path(u.video).is_file():
                problems.append(Problem("missing-video", u.id, u.line, f"{u.id}: video not found: {u.video}"))
    return problems


def check_against_store(
    manifest: "Manifest",
    store: "FeatureStore",
    *,
    subsample: int = 1,
    splits: Iterable[str] | None = None,
) -> list[Problem]:
    """Checks that each utterance has features and that its glosses fit CTC.

    Args:
        manifest: the manifest.
        store: an open feature store.
        subsample: the model's temporal subsampling factor (2 for ``bilstm_optimized``).
        splits: only check these splits (None: all).
    """
    wanted = None if splits is None else set(splits)
    stored = set(store.ids())
    problems: list[Problem] = []
    for u in manifest:
        if wanted is not None and u.split not in wanted:
            continue
        if u.id not in stored:
            problems.append(Problem("no-features", u.id, u.line, f"{u.id}: no features in {store.path}"))
            continue
        if u.glosses is None:
            continue
        frames = store.num_frames(u.id)
        out_len = subsampled_length(frames, subsample)
        need = min_ctc_frames(u.glosses)
        if out_len < need:
            problems.append(Problem(
                "ctc-too-short", u.id, u.line,
                f"{u.id}: {len(u.glosses)} glosses need {need} output frames but {frames} frames "
                f"give {out_len} at subsampling {subsample}"))
    return problems


def summarize(problems: Sequence[Problem]) -> Counter:
    """Counts problems by kind."""
    return Counter(p.kind for p in problems)


def raise_problems(path: Path | str, problems: Sequence[Problem], limit: int = 3) -> None:
    """Raises one :class:`ManifestError` that lists the first few problems, if any."""
    if not problems:
        return
    shown = "; ".join(str(p) for p in problems[:limit])
    more = f" (and {len(problems) - limit} more; run `islpose validate {path}`)" if len(problems) > limit else ""
    raise ManifestError(f"{path}: {len(problems)} problem(s): {shown}{more}")
