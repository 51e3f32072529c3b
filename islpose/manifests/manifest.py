"""Manifest records, their JSONL / CSV files, and the checks of a manifest on its own.

One utterance per line (JSONL) or row (CSV) with these fields: ``id``
(required), ``video``, ``pose``, ``glosses`` (space-separated), ``split``, ``signer``, ``text``.
Checks against a feature store live in :mod:`islpose.manifests.validate`, which
imports this module (never the other way round).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from islpose.errors import ManifestError

FIELDS = ("id", "video", "pose", "glosses", "split", "signer", "text")
SPLITS = ("train", "dev", "test")
_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}


@dataclass(frozen=True)
class Utterance:
    """One signed sentence.

    Attributes:
        id: unique utterance id, also the key in the feature store.
        video: path of the video (absolute once read from a manifest), or None.
        glosses: the gloss sequence, or None when unlabelled.
        split: ``train``, ``dev``, ``test`` or None.
        signer: signer id or None.
        text: spoken-language translation or None.
        pose: path of a pose-format ``.pose`` recording (absolute once read from a
            manifest), or None.
        line: line (JSONL) or row (CSV, header = 1) it was read from, for messages.
    """

    id: str
    video: str | None = None
    glosses: tuple[str, ...] | None = None
    split: str | None = None
    signer: str | None = None
    text: str | None = None
    pose: str | None = None
    line: int = field(default=0, compare=False)

    def to_record(self) -> dict:
        """The manifest record (glosses joined by spaces; empty fields left out)."""
        rec = {
            "id": self.id,
            "video": self.video,
            "pose": self.pose,
            "glosses": None if self.glosses is None else " ".join(self.glosses),
            "split": self.split,
            "signer": self.signer,
            "text": self.text,
        }
        return {k: v for k, v in rec.items() if v is not None}


@dataclass
class Manifest:
    """An ordered list of utterances read from ``path`` (None when built in memory)."""

    utterances: list[Utterance]
    path: Path | None = None
    unknown_fields: list[tuple[int, str, list[str]]] = field(default_factory=list)
    """(line, id, names) of records with fields outside :data:`FIELDS`."""

    def __post_init__(self) -> None:
        self._by_id = {u.id: u for u in self.utterances}

    def __len__(self) -> int:
        return len(self.utterances)

    def __iter__(self) -> Iterator[Utterance]:
        return iter(self.utterances)

    def __contains__(self, uid: object) -> bool:
        return uid in self._by_id

    def __getitem__(self, uid: str) -> Utterance:
        try:
            return self._by_id[uid]
        except KeyError:
            raise ManifestError(f"{self.path or 'manifest'}: no utterance with id {uid!r}") from None

    @property
    def ids(self) -> list[str]:
        return [u.id for u in self.utterances]

    def split(self, name: str) -> list[Utterance]:
        """Utterances of one split, in manifest order."""
        return [u for u in self.utterances if u.split == name]


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
    manifest: Manifest,
    *,
    videos: bool = False,
    require: Iterable[str] = (),
) -> list[Problem]:
    """Checks ids, fields, split names and (optionally) that the videos and .pose files exist.

    Args:
        manifest: the parsed manifest.
        videos: check that each given ``video`` and ``pose`` path exists.
        require: fields every utterance must have, e.g. ``("glosses",)`` for training
            or ``("video",)`` for extraction.
    """
    problems: list[Problem] = []
    for lineno, uid, names in manifest.unknown_fields:
        problems.append(
            Problem(
                "unknown-field", uid, lineno, f"{uid}: unknown field(s) {', '.join(names)} (known: {', '.join(FIELDS)})"
            )
        )
    first_line: dict[str, int] = {}
    for u in manifest:
        if u.id in first_line:
            problems.append(
                Problem("duplicate-id", u.id, u.line, f"duplicate id {u.id!r} (first on line {first_line[u.id]})")
            )
        else:
            first_line[u.id] = u.line
        if u.split is not None and u.split not in SPLITS:
            problems.append(
                Problem("unknown-split", u.id, u.line, f"{u.id}: unknown split {u.split!r} (use {', '.join(SPLITS)})")
            )
        for name in require:
            if getattr(u, name) in (None, ()):
                problems.append(Problem(f"missing-{name}", u.id, u.line, f"{u.id}: missing field {name!r}"))
        for name in ("video", "pose") if videos else ():
            given = getattr(u, name)
            if given is not None and not Path(given).is_file():
                problems.append(Problem(f"missing-{name}", u.id, u.line, f"{u.id}: {name} not found: {given}"))
    return problems


def _format_of(path: Path) -> str:
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise ManifestError(f"{path}: unknown manifest type {path.suffix!r} (use .jsonl or .csv)")
    return fmt


def _raw_records(path: Path) -> Iterator[tuple[int, dict]]:
    fmt = _format_of(path)
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise ManifestError(f"{path}: cannot open manifest ({exc.strerror or exc})") from exc
    with handle:
        if fmt == "csv":
            reader = csv.DictReader(handle)
            unknown = [c for c in reader.fieldnames or [] if c not in FIELDS]
            if reader.fieldnames is None or "id" not in reader.fieldnames:
                raise ManifestError(f"{path}: CSV header must name an 'id' column")
            if unknown:
                raise ManifestError(f"{path}: unknown column(s) {', '.join(unknown)} (known: {', '.join(FIELDS)})")
            for row in reader:
                yield reader.line_num, {k: v for k, v in row.items() if v not in (None, "")}
            return
        from islpose.io.jsonl import jsonl_records  # (islpose.io also loads h5py)

        yield from jsonl_records(handle, path, error=ManifestError)


def _parse(path: Path, lineno: int, rec: dict) -> Utterance:
    where = f"{path}:{lineno}"
    uid = rec.get("id")
    if uid is None or str(uid).strip() == "":
        raise ManifestError(f"{where}: missing required field 'id'")
    uid = str(uid)
    if "/" in uid or uid != uid.strip():
        raise ManifestError(f"{where}: id {uid!r} must not contain '/' or surrounding spaces")
    glosses = rec.get("glosses")
    if glosses is not None:
        glosses = tuple(glosses.split() if isinstance(glosses, str) else (str(g) for g in glosses))
    text = lambda key: None if rec.get(key) is None else str(rec[key])  # noqa: E731
    return Utterance(
        id=uid,
        video=_resolved(path, rec.get("video")),
        glosses=glosses,
        split=text("split"),
        signer=text("signer"),
        text=text("text"),
        pose=_resolved(path, rec.get("pose")),
        line=lineno,
    )


def _resolved(manifest: Path, value: object) -> str | None:
    """A file named in a manifest: absolute, relative paths taken from the manifest's folder."""
    if value is None:
        return None
    given = Path(str(value)).expanduser()
    return str(given if given.is_absolute() else (manifest.parent / given).resolve())


def read_manifest(path: str | Path, *, check: bool = True, check_videos: bool = False) -> Manifest:
    """Reads a JSONL or CSV manifest.

    Args:
        path: ``.jsonl`` or ``.csv`` file.
        check: raise :class:`ManifestError` on duplicate ids, unknown fields or unknown
            split names (all problems in one message).
        check_videos: also require every ``video`` and ``pose`` that is given to exist.

    Returns:
        The manifest, with relative video paths resolved against the manifest's folder.
    """
    path = Path(path)
    utterances, unknown = [], []
    for lineno, rec in _raw_records(path):
        utterances.append(_parse(path, lineno, rec))
        extra = sorted(k for k in rec if k not in FIELDS)
        if extra:
            unknown.append((lineno, utterances[-1].id, extra))
    manifest = Manifest(utterances, path=path, unknown_fields=unknown)
    if check:
        raise_problems(path, check_manifest(manifest, videos=check_videos))
    return manifest


def write_manifest(utterances: Iterable[Utterance], path: str | Path) -> Path:
    """Writes utterances as JSONL or CSV (chosen by the file suffix)."""
    from islpose.io.atomic import atomic_write  # (islpose.io also loads h5py)
    from islpose.io.jsonl import write_jsonl

    path = Path(path)
    fmt = _format_of(path)
    records: Sequence[dict] = [u.to_record() for u in utterances]
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        return write_jsonl(path, records)
    with atomic_write(path, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(FIELDS))
        writer.writeheader()
        writer.writerows(records)
    return path


def raise_problems(path: Path | str, problems: Sequence[Problem], limit: int = 3) -> None:
    """Raises one :class:`ManifestError` that lists the first few problems, if any."""
    if not problems:
        return
    shown = "; ".join(str(p) for p in problems[:limit])
    more = f" (and {len(problems) - limit} more; run `islpose validate {path}`)" if len(problems) > limit else ""
    raise ManifestError(f"{path}: {len(problems)} problem(s): {shown}{more}")
