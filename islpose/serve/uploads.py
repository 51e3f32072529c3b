"""Uploads: a size limit enforced while the body streams in, safe names and temporary files.

An upload's name is only ever shown (in the record's ``id`` and ``source``), never used
as a path: the file is written to a new temporary folder under a generated name that
keeps only an allowed suffix, and the folder is removed when the request ends.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from islpose.io.media import VIDEO_EXTENSIONS
from islpose.io.pose import POSE_EXTENSIONS

UPLOAD_SUFFIXES = VIDEO_EXTENSIONS | POSE_EXTENSIONS  # what `islpose recognize` reads
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")
MAX_NAME = 100


class UploadError(Exception):
    """An upload the server refuses: ``status`` (a 4xx code) and a message for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def display_name(name: str | None) -> str:
    """A harmless name to show for an upload: its last path part, only letters, digits,
    ``._ -``, at most 100 characters (``../../etc/passwd`` -> ``passwd``)."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = _UNSAFE.sub("_", base).strip(" .")[:MAX_NAME]
    return base or "upload"


def upload_suffix(name: str) -> str:
    """The lower-case suffix of a display name, checked against what can be recognised.

    Raises:
        UploadError: 415 for any other suffix.
    """
    suffix = Path(name).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        allowed = ", ".join(sorted(UPLOAD_SUFFIXES))
        raise UploadError(
            415, f"{name}: unsupported file type {suffix or '(no suffix)'}; send a video or .pose file ({allowed})"
        )
    return suffix


@contextlib.contextmanager
def temp_upload(suffix: str) -> Iterator[Path]:
    """A path ``upload<suffix>`` in a new private temporary folder, removed with all it holds on exit."""
    folder = Path(tempfile.mkdtemp(prefix="islpose-serve-"))
    try:
        yield folder / f"upload{suffix}"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class BodyLimit:
    """ASGI middleware: request bodies on ``paths`` larger than ``limit`` bytes are refused
    with 413, from the ``Content-Length`` header before anything is read, or as soon as
    the bytes received cross the limit (chunked bodies, lying headers)."""

    def __init__(self, app, limit: int, paths: frozenset[str]) -> None:
        self.app = app
        self.limit = limit
        self.paths = paths

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _send_json(send, 413, self._message())
            return
        received = 0

        async def limited():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise UploadError(413, self._message())
            return message

        await self.app(scope, limited, send)

    def _message(self) -> str:
        return f"upload larger than the limit of {self.limit / 1e6:g} MB"


async def _send_json(send, status: int, message: str) -> None:
    import json

    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
