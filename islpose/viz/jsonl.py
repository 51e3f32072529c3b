"""Reading the JSONL files the pictures come from (``metrics.jsonl``, ``recognize`` output)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from islpose.errors import IslposeError


def json_records(path: str | Path, what: str) -> Iterator[tuple[str, dict]]:
    """Yields ``("FILE:LINE", record)`` for each non-empty line of a JSONL file.

    Args:
        path: the file.
        what: what a record is, for the error message (e.g. "an epoch record").

    Raises:
        IslposeError: a line that is not a JSON object.
    """
    with Path(path).open(encoding="utf-8") as handle:
        for n, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise IslposeError(f"{path}:{n}: not {what} (invalid JSON: {exc})") from None
            if not isinstance(record, dict):
                raise IslposeError(f"{path}:{n}: not {what} (not a JSON object)")
            yield f"{path}:{n}", record
