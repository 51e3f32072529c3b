"""Atomic file writes and the refusal to overwrite what islpose did not create.

Every file islpose writes by name goes through :func:`atomic_write`: the content is
written to a uniquely named temporary file in the same folder (two runs writing the same
target at once never share a temporary file), flushed to disk, and renamed over the
target in one step, so a reader or a killed writer sees either the old file or the new
one, never half of one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from islpose.errors import IslposeError


class Discard(Exception):
    """Raise inside :func:`atomic_path` / :func:`atomic_write` to drop what was written and
    leave the target as it was, without an error (the ``with`` block just ends)."""


def _read_umask() -> int:
    mask = os.umask(0)  # the umask can only be read by setting it: done once, at import
    os.umask(mask)
    return mask


_UMASK = _read_umask()


@contextlib.contextmanager
def atomic_path(path: str | Path, keep_suffix: bool = False) -> Iterator[Path]:
    """Yields a fresh temporary path beside ``path``; renames it over ``path`` on success.

    For writers that want a file name (``torch.save``, ``h5py.File``). On an exception the
    temporary file is removed and ``path`` is left as it was; :class:`Discard` does the
    same without propagating. ``keep_suffix`` ends the temporary name with ``path``'s
    suffix, for writers that pick the format by it (OpenCV's video writer). Missing parent
    folders are created, and removed again when nothing was written there.

    Example:
        >>> with atomic_path("model.pt") as tmp:
        ...     torch.save(payload, tmp)
    """
    path = Path(path)
    made = _make_parents(path)
    suffix = ".tmp" + (path.suffix if keep_suffix else "")
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes it private (0600); a written file gets what open() gives
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except Discard:
        pass
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if not path.exists():
            _remove_empty(made)


def _make_parents(path: Path) -> list[Path]:
    """Creates the missing folders above ``path``; returns them, deepest first."""
    made, folder = [], path.parent
    while not folder.exists():
        made.append(folder)
        folder = folder.parent
    for folder in reversed(made):
        folder.mkdir(exist_ok=True)
    return made


def _remove_empty(folders: list[Path]) -> None:
    """Removes ``folders`` (deepest first) that are still empty: a failed write leaves none behind."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


@contextlib.contextmanager
def atomic_write(
    path: str | Path, mode: str = "w", encoding: str | None = "utf-8", newline: str | None = None
) -> Iterator[IO]:
    """Opens a temporary file beside ``path`` for writing; renames it over ``path`` on success.

    Args:
        path: the target file.
        mode: ``"w"`` (text) or ``"wb"`` (bytes).
        encoding: text encoding (ignored in binary mode).
        newline: as for :func:`open` (``""`` for CSV writers).

    Example:
        >>> with atomic_write("tokens.txt") as handle:
        ...     handle.write("<blank>\\n")
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write mode must be 'w' or 'wb', not {mode!r}")
    with atomic_path(path) as tmp:
        kwargs = {} if "b" in mode else {"encoding": encoding, "newline": newline}
        with open(tmp, mode, **kwargs) as handle:
            yield handle


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Writes ``text`` (UTF-8) to ``path`` atomically and returns ``path``."""
    with atomic_write(path) as handle:
        handle.write(text)
    return Path(path)


def check_output(path: str | Path, overwrite: bool, what: str = "output") -> Path:
    """Refuses to replace an existing file unless ``overwrite`` is set.

    Args:
        path: the file a command is about to write.
        overwrite: the command's ``--overwrite`` flag.
        what: how the error names the file ("output", "manifest", ...).

    Raises:
        IslposeError: ``path`` exists (or is a folder) and ``overwrite`` is false.
    """
    path = Path(path)
    if path.is_dir():
        raise IslposeError(f"{path}: is a folder, cannot write the {what} there")
    if path.exists() and not overwrite:
        raise IslposeError(f"{path}: already exists; pass --overwrite to replace it")
    return path
