"""Input discovery: turning command-line inputs (files, folders, manifests) into items.

Used by ``islpose extract`` (videos) and by any other per-file import (e.g. ``.pose``
files): :func:`find_sources` takes the file extensions to look for.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from islpose.errors import IslposeError
from islpose.io.media import MANIFEST_EXTENSIONS, VIDEO_EXTENSIONS

__all__ = ["MANIFEST_EXTENSIONS", "VIDEO_EXTENSIONS", "SourceItem", "find_sources", "find_videos"]


@dataclass(frozen=True)
class SourceItem:
    """One source file to process: its utterance id, path, and where it was named (for messages)."""

    uid: str
    path: Path
    origin: str


def find_sources(
    inputs: Sequence[str | Path], extensions: Collection[str], what: str = "video", field: str = "video"
) -> list[SourceItem]:
    """Turns command-line inputs into a list of source files.

    Args:
        inputs: files (any extension), folders (searched recursively for files with one
            of ``extensions``) and manifests (``.jsonl``/``.ndjson``/``.csv`` with ``id``
            and ``field``).
        extensions: lower-case suffixes a folder is searched for, e.g. ``{".pose"}``.
        what: how messages name a source ("video", "pose file").
        field: the manifest field that holds a source's path.

    Returns:
        Items in input order (folders sorted); the id is the manifest's or the file stem.

    Raises:
        IslposeError: an input does not exist, a folder holds no source, a manifest is
            invalid, or two different files would get the same id (both are named).
    """
    from islpose.manifests import check_manifest, read_manifest
    from islpose.manifests.manifest import raise_problems

    items: list[SourceItem] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in extensions)
            if not found:
                raise IslposeError(
                    f"{path}: no {what} files in this folder (looked for {', '.join(sorted(extensions))})"
                )
            items += [SourceItem(p.stem, p.resolve(), str(p)) for p in found]
        elif path.suffix.lower() in MANIFEST_EXTENSIONS:
            manifest = read_manifest(path)
            raise_problems(path, check_manifest(manifest, require=(field,)))
            items += [SourceItem(u.id, Path(getattr(u, field)), f"{path}:{u.line}") for u in manifest]
        elif path.is_file():
            items.append(SourceItem(path.stem, path.resolve(), str(path)))
        else:
            raise IslposeError(f"{path}: no such file or folder")
    if not items:
        raise IslposeError(f"no {what}s given")
    unique: dict[str, SourceItem] = {}
    for item in items:
        first = unique.setdefault(item.uid, item)
        if first.path != item.path:
            raise IslposeError(
                f"utterance id {item.uid!r} would be used twice: {first.origin} and "
                f"{item.origin} (rename one, or give ids in a manifest)"
            )
    return list(unique.values())


def find_videos(inputs: Sequence[str | Path]) -> list[SourceItem]:
    """:func:`find_sources` for videos (folders are searched for :data:`VIDEO_EXTENSIONS`)."""
    return find_sources(inputs, VIDEO_EXTENSIONS, "video")
