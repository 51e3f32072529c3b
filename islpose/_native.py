"""Quieting native (C++) libraries that write straight to file descriptor 2."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def silenced_stderr(enabled: bool = True) -> Iterator[None]:
    """Sends file descriptor 2 to /dev/null meanwhile.

    MediaPipe / TFLite log several lines per graph and KenLM draws a progress bar from
    C++, which would flood the log of a long run; Python's ``sys.stderr`` is flushed
    first so nothing already written is lost.

    Args:
        enabled: False makes this a no-op (for ``--debug``-style runs).
    """
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def native_logs_to_devnull() -> None:
    """Sends file descriptor 2 (where MediaPipe's C++ logs go) to /dev/null for good, while
    Python's ``sys.stderr`` keeps writing to the original stderr.

    For long-running servers that run MediaPipe from several threads, where
    :func:`silenced_stderr` around each video would not be safe."""
    sys.stderr.flush()
    kept = os.dup(2)
    with open(os.devnull, "wb") as null:
        os.dup2(null.fileno(), 2)
    sys.stderr = os.fdopen(kept, "w", buffering=1, encoding=sys.stderr.encoding or "utf-8", errors="replace")
