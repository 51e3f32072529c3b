"""The pose-format ``.pose`` container: header and body, versions 0.1 and 0.2.

Layout (little endian; ``str`` = uint16 byte length + UTF-8 bytes)::

    header   float32 version; uint16 width, height, depth; uint16 n_components;
             per component: str name, str point format (e.g. "XYZC"),
             uint16 n_points, n_limbs, n_colors, n_points x str point name,
             n_limbs x (uint16, uint16) limb, n_colors x (uint16 r, g, b) colour
    body 0.2 float32 fps; uint32 frames; uint16 people;
             float32 data[frames, people, points, dims]; float32 confidence[frames, people, points]
    body 0.1 uint16 fps; uint16 frames (may have overflowed: the frame count is taken
             from the file size); uint16 people; then the same two arrays

``dims`` is the longest point format minus its confidence letter (3 for "XYZC"); all
components share it. This module knows nothing about MediaPipe: see
:mod:`islpose.extract.posefile` for the mapping to islpose's landmark layout.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from islpose.errors import SourceError

WRITE_VERSION = 0.2
_U16 = struct.Struct("<H")
_HEADER = struct.Struct("<fHHHH")  # version, width, height, depth, n_components
_COUNTS = struct.Struct("<HHH")  # points, limbs, colors
_BODY = {0.1: struct.Struct("<HHH"), 0.2: struct.Struct("<fIH")}  # fps, frames, people


class PoseFileError(SourceError):
    """A ``.pose`` file that cannot be read as asked; the message names the file and why
    (an import lists it and goes on with the other files)."""


@dataclass(frozen=True)
class Component:
    """One named group of points (e.g. ``POSE_LANDMARKS``).

    Attributes:
        name: component name.
        format: point format, e.g. ``"XYZC"`` (coordinates, then the confidence ``C``).
        points: point names.
        limbs: (n_limbs, 2) uint16 point indices within the component.
        colors: (n_colors, 3) uint16 RGB colours of the limbs.
    """

    name: str
    format: str
    points: tuple[str, ...]
    limbs: np.ndarray
    colors: np.ndarray


@dataclass(frozen=True)
class PoseHeader:
    """The header of a ``.pose`` file.

    Attributes:
        version: format version, rounded to 3 decimals (0.1 or 0.2).
        width, height, depth: the image size the pixel coordinates refer to.
        components: in file order.
        size: bytes the header takes in the file (the body starts there).
    """

    version: float
    width: int
    height: int
    depth: int
    components: tuple[Component, ...]
    size: int = 0

    @property
    def num_points(self) -> int:
        return sum(len(c.points) for c in self.components)

    @property
    def dims(self) -> int:
        return max(len(c.format) for c in self.components) - 1 if self.components else 0

    def offsets(self) -> dict[str, tuple[int, int]]:
        """``name -> (first point, number of points)`` along the body's point axis."""
        out, start = {}, 0
        for c in self.components:
            out.setdefault(c.name, (start, len(c.points)))
            start += len(c.points)
        return out


class _Cursor:
    """Reads a byte string front to back; running off its end is a truncated file."""

    def __init__(self, data: bytes, name: str) -> None:
        self.data, self.pos, self.name = memoryview(data), 0, name

    def take(self, n: int) -> memoryview:
        if self.pos + n > len(self.data):
            raise EOFError
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: struct.Struct) -> tuple:
        return fmt.unpack(self.take(fmt.size))

    def text(self) -> str:
        (n,) = self.unpack(_U16)
        return bytes(self.take(n)).decode("utf-8")

    def array(self, count: int, width: int) -> np.ndarray:
        return np.frombuffer(self.take(2 * count * width), dtype="<u2").reshape(count, width)


def parse_header(data: bytes, name: str = "<bytes>") -> PoseHeader:
    """Parses a header from the start of ``data``.

    Raises:
        EOFError: ``data`` ends inside the header (read more of the file and retry).
        PoseFileError: not a version this reader knows.
    """
    cur = _Cursor(data, name)
    version, width, height, depth, n_components = cur.unpack(_HEADER)
    version = round(version, 3)
    if version not in _BODY:
        raise PoseFileError(f"{name}: pose-format version {version:g} is not supported (this reads 0.1 and 0.2)")
    components = []
    for _ in range(n_components):
        cname, fmt = cur.text(), cur.text()
        n_points, n_limbs, n_colors = cur.unpack(_COUNTS)
        points = tuple(cur.text() for _ in range(n_points))
        components.append(Component(cname, fmt, points, cur.array(n_limbs, 2), cur.array(n_colors, 3)))
    return PoseHeader(version, width, height, depth, tuple(components), cur.pos)


_CHUNK = 1 << 16
_last: list = [b"", None]  # the bytes and the parse of the last header read (corpora repeat one)


def read_header(handle: BinaryIO, name: str) -> PoseHeader:
    """Reads the header at the start of an open file (leaves the position after it)."""
    data = b""
    while True:
        more = handle.read(max(_CHUNK, len(data)))
        data += more
        known, parsed = _last
        if known and data.startswith(known):
            handle.seek(len(known))
            return parsed
        try:
            header = parse_header(data, name)
        except EOFError:
            if not more:
                raise PoseFileError(f"{name}: not a .pose file, or truncated in its header") from None
            continue
        except (UnicodeDecodeError, struct.error) as exc:
            raise PoseFileError(f"{name}: not a .pose file ({exc})") from None
        handle.seek(header.size)
        _last[:] = [bytes(data[: header.size]), header]
        return header


@dataclass
class PoseBody:
    """The body of a ``.pose`` file, one person.

    Attributes:
        fps: frame rate.
        people: how many people the file holds (only ``person`` was read).
        data: (frames, points, dims) float32 coordinates.
        confidence: (frames, points) float32.
    """

    fps: float
    people: int
    data: np.ndarray
    confidence: np.ndarray


def read_body(handle: BinaryIO, header: PoseHeader, name: str, file_size: int, person: int = 0) -> PoseBody:
    """Reads the body that follows ``header`` in ``handle``; only one person's points are kept.

    Raises:
        PoseFileError: truncated body, no frames or no such person.
    """
    layout = _BODY[header.version]
    raw = handle.read(layout.size)
    if len(raw) < layout.size:
        raise PoseFileError(f"{name}: truncated (the body header is missing)")
    fps, frames, people = layout.unpack(raw)
    points, dims = header.num_points, header.dims
    per_frame = people * points * (dims + 1) * 4
    left = file_size - header.size - layout.size
    if header.version == 0.1 and per_frame:  # its uint16 frame count may have wrapped
        frames = left // per_frame
    if frames == 0 or people == 0 or points == 0:
        raise PoseFileError(f"{name}: empty recording ({frames} frames, {people} people, {points} points)")
    if left < frames * per_frame:
        raise PoseFileError(f"{name}: truncated ({frames} frames declared, {left / per_frame:.1f} in the file)")
    if not 0 <= person < people:
        raise PoseFileError(f"{name}: no person {person} (the file has {people})")
    data = np.fromfile(handle, dtype="<f4", count=frames * people * points * dims)
    conf = np.fromfile(handle, dtype="<f4", count=frames * people * points)
    data = data.reshape(frames, people, points, dims)[:, person]
    conf = conf.reshape(frames, people, points)[:, person]
    return PoseBody(float(fps), int(people), data, conf)


def header_bytes(width: int, height: int, components: tuple[Component, ...], depth: int = 0) -> bytes:
    """A version-0.2 header.

    Raises:
        PoseFileError: a size or count that does not fit in uint16.
    """
    for what, value in (("width", width), ("height", height), ("depth", depth)):
        if not 0 <= value <= 0xFFFF:
            raise PoseFileError(f"{what} {value} does not fit a .pose header (0..65535)")
    text = lambda s: _U16.pack(len(s.encode())) + s.encode()  # noqa: E731
    parts = [_HEADER.pack(WRITE_VERSION, width, height, depth, len(components))]
    for c in components:
        parts += [text(c.name), text(c.format), _COUNTS.pack(len(c.points), len(c.limbs), len(c.colors))]
        parts += [text(p) for p in c.points]
        parts += [np.asarray(c.limbs, "<u2").tobytes(), np.asarray(c.colors, "<u2").tobytes()]
    return b"".join(parts)


def write_body(handle: BinaryIO, fps: float, data: np.ndarray, confidence: np.ndarray) -> None:
    """Writes a version-0.2 body for one person.

    Args:
        handle: file open for binary writing, positioned after the header.
        fps: frame rate.
        data: (frames, points, dims) coordinates.
        confidence: (frames, points).
    """
    frames = len(data)
    handle.write(_BODY[WRITE_VERSION].pack(fps, frames, 1))
    handle.write(np.ascontiguousarray(data, dtype="<f4").tobytes())
    handle.write(np.ascontiguousarray(confidence, dtype="<f4").tobytes())
