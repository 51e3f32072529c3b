"""JSON Lines files: one JSON object per line (manifests, ``metrics.jsonl``, ``recognize`` output).

Example:
    >>> append_jsonl("runs/a/metrics.jsonl", {"epoch": 1, "dev_wer": 0.5})  # doctest: +SKIP
    >>> for lineno, record in read_jsonl("runs/a/metrics.jsonl"):            # doctest: +SKIP
    ...     print(lineno, record["epoch"])
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from islpose.errors import IslposeError


def jsonl_records(
    lines: Iterable[str], name: str | Path, what: str | None = None, error: type[IslposeError] = IslposeError
) -> Iterator[tuple[int, dict]]:
    """Yields ``(line number, record)`` for each non-empty line of a JSONL text.

    Args:
        lines: the lines (an open text file).
        name: the file's name, for error messages.
        what: what a record is (e.g. "an epoch record"), named in error messages.
        error: the error class to raise.

    Raises:
        error: a line that is not a JSON object: ``FILE:LINE: not valid JSON (why)`` or
            ``FILE:LINE: each line must be a JSON object``; with ``what``, ``FILE:LINE: not
            WHAT (invalid JSON: why)`` or ``FILE:LINE: not WHAT (not a JSON object)``.
    """
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            plain, reason = f"not valid JSON ({exc.msg})", f"invalid JSON: {exc}"
        else:
            if isinstance(record, dict):
                yield lineno, record
                continue
            plain, reason = "each line must be a JSON object", "not a JSON object"
        raise error(f"{name}:{lineno}: " + (plain if what is None else f"not {what} ({reason})"))


def read_jsonl(
    path: str | Path, what: str | None = None, error: type[IslposeError] = IslposeError
) -> Iterator[tuple[int, dict]]:
    """Yields ``(line number, record)`` for each non-empty line of a JSONL file (see
    :func:`jsonl_records` for ``what``, ``error`` and the errors raised)."""
    with Path(path).open(encoding="utf-8") as handle:
        yield from jsonl_records(handle, path, what, error)


def jsonl_line(record: dict) -> str:
    """One record as a JSON line (UTF-8 text kept as it is, not escaped)."""
    return json.dumps(record, ensure_ascii=False) + "\n"


def write_jsonl_line(record: dict, handle: IO[str]) -> None:
    """Appends one record to an open file and flushes it (a killed run keeps the lines written)."""
    handle.write(jsonl_line(record))
    handle.flush()


def append_jsonl(path: str | Path, record: dict) -> None:
    """Appends one record to a JSONL file (created when missing)."""
    with Path(path).open("a", encoding="utf-8") as handle:
        handle.write(jsonl_line(record))


def write_jsonl(path: str | Path, records: Iterable[dict]) -> Path:
    """Writes a whole JSONL file atomically (a reader never sees half of it); returns ``path``."""
    from islpose.io.atomic import write_text_atomic

    return write_text_atomic(path, "".join(jsonl_line(r) for r in records))
