"""MediaPipe Holistic recordings in pose-format ``.pose`` files <-> islpose's landmark layout.

Reading (:func:`read_pose`): the components ``POSE_LANDMARKS`` (33 points),
``LEFT_HAND_LANDMARKS`` / ``RIGHT_HAND_LANDMARKS`` (21) and ``FACE_LANDMARKS`` (468, or
478 with refined irises, whose last 10 are dropped) are found by name in whatever order
the file has them; other components (``POSE_WORLD_LANDMARKS``, ...) are ignored.
pose-format stores x·width, y·height and z as MediaPipe gives it, so x and y are divided
by the header's width and height. The confidence becomes the visibility column of the
pose; detected hands and face get 1.0 there, as ``islpose extract`` stores them. A
component whose points all have confidence 0 in a frame is NaN with presence False; one
with no finite point (NaN coordinates at confidence 1, as some recordings hold) keeps its
NaN landmarks with presence False too.
Only the first person is read.

Writing (:func:`write_pose`): version 0.2 with the components ``POSE_LANDMARKS``,
``FACE_LANDMARKS``, ``LEFT_HAND_LANDMARKS``, ``RIGHT_HAND_LANDMARKS`` in the order and
with the point names, limbs and colours of pose-format's Holistic writer (pose and hand
limbs: MediaPipe's POSE_CONNECTIONS and HAND_CONNECTIONS from
:data:`islpose.features.layout.CONNECTIONS`, sorted; ``holistic_topology.json`` holds the
rest: point names, colours and the face's FACEMESH_TESSELATION), pixel coordinates, and
confidence 0 for missing components.
Landmarks read from a ``.pose`` file are written back to the same pixel values, so
import -> export -> import is exact; other float32 landmarks (e.g. from ``extract``) come
back within one float32 step in x and y (x·width / width is not always exact), z and
visibility exactly.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from islpose.features.layout import COMPONENTS, CONNECTIONS, NUM_LANDMARKS, SLICES, Landmarks
from islpose.io.pose.binary import (
    Component,
    PoseFileError,
    PoseHeader,
    header_bytes,
    read_body,
    read_header,
    write_body,
)

# pose-format component name -> (islpose component, points in islpose, points a file may have)
HOLISTIC = {
    "POSE_LANDMARKS": ("pose", 33, (33,)),
    "FACE_LANDMARKS": ("face", 468, (468, 478)),
    "LEFT_HAND_LANDMARKS": ("left_hand", 21, (21,)),
    "RIGHT_HAND_LANDMARKS": ("right_hand", 21, (21,)),
}  # in the order pose-format's Holistic writer puts them


@dataclass
class PoseRecording(Landmarks):
    """One ``.pose`` recording in islpose's layout: :class:`~islpose.features.layout.Landmarks`
    (``landmarks`` (T, 543, 4) float32, x and y in [0, 1] of the image, NaN where a component
    is missing; ``presence`` (T, 4); ``fps`` from the body; ``width`` and ``height`` from the
    header; ``source`` the file; ``attrs`` the two below as a store keeps them), plus:

    Attributes:
        people: people in the file (only the first was read).
        version: pose-format version of the file (0.1 or 0.2).
    """

    people: int = 1
    version: float = 0.2

    def __post_init__(self) -> None:
        self.attrs = {"source_format": f"pose-format {self.version:g}", "source_people": self.people, **self.attrs}


# x·size and x/size are computed in float32: IEEE rounds each once, to the same value as
# computing in float64 and rounding to float32 (tests/test_pose_format.py checks it).
def _to_pixels(unit: np.ndarray, size: int) -> np.ndarray:
    return np.multiply(unit, np.float32(size), dtype=np.float32)


def _holistic_rows(header: PoseHeader, name: str) -> dict[str, tuple[int, int]]:
    """``islpose component -> (first point in the file, points to take)``; raises when not Holistic."""
    offsets = header.offsets()
    missing = [c for c in HOLISTIC if c not in offsets]
    if missing:
        has = ", ".join(c.name for c in header.components) or "none"
        raise PoseFileError(
            f"{name}: not a MediaPipe Holistic recording (missing {', '.join(missing)}; components: {has})"
        )
    rows = {}
    formats = {c.name: c.format for c in header.components}
    for cname, (ours, take, allowed) in HOLISTIC.items():
        start, count = offsets[cname]
        if count not in allowed:
            raise PoseFileError(f"{name}: {cname} has {count} points (expected {' or '.join(map(str, allowed))})")
        if not formats[cname].upper().startswith("XYZ"):
            raise PoseFileError(f"{name}: {cname} has point format {formats[cname]!r} (expected XYZC)")
        rows[ours] = (start, take)
    return rows


def read_pose(path: str | Path) -> PoseRecording:
    """Reads a pose-format ``.pose`` file (v0.1 or v0.2) of a MediaPipe Holistic recording.

    Args:
        path: the ``.pose`` file.

    Returns:
        The first person's landmarks (T, 543, 4), presence (T, 4), fps, width, height,
        the number of people in the file and its version.

    Raises:
        PoseFileError: unreadable or truncated file, another version, no Holistic
            components, or a header without an image size.
    """
    path = Path(path)
    name = str(path)
    try:
        with open(path, "rb") as handle:
            header = read_header(handle, name)
            rows = _holistic_rows(header, name)
            if header.width == 0 or header.height == 0:
                raise PoseFileError(
                    f"{name}: the header gives no image size ({header.width}x{header.height}), "
                    "so pixel coordinates cannot be normalised"
                )
            body = read_body(handle, header, name, os.fstat(handle.fileno()).st_size)
    except OSError as exc:
        raise PoseFileError(f"{name}: cannot read ({exc.strerror or exc})") from None
    landmarks, presence = _to_layout(body.data, body.confidence, rows, header.width, header.height)
    return PoseRecording(
        landmarks,
        presence,
        body.fps,
        header.width,
        header.height,
        source=name,
        people=body.people,
        version=header.version,
    )


def _to_layout(
    data: np.ndarray, conf: np.ndarray, rows: dict[str, tuple[int, int]], width: int, height: int
) -> tuple[np.ndarray, np.ndarray]:
    """(frames, points, dims) pixels + (frames, points) confidence -> (T, 543, 4), (T, 4)."""
    landmarks = np.empty((len(data), NUM_LANDMARKS, 4), dtype=np.float32)
    presence = np.empty((len(data), len(COMPONENTS)), dtype=bool)
    for k, comp in enumerate(COMPONENTS):
        start, take = rows[comp]
        out, c = landmarks[:, SLICES[comp]], conf[:, start : start + take]
        out[..., :3] = data[:, start : start + take, :3]
        out[..., 3] = c if comp == "pose" else 1.0
        # present: some point with a confidence and finite x and y
        presence[:, k] = ((c > 0) & np.isfinite(out[..., :2]).all(-1)).any(axis=1)
    np.divide(landmarks[..., 0], np.float32(width), out=landmarks[..., 0])
    np.divide(landmarks[..., 1], np.float32(height), out=landmarks[..., 1])
    for k, comp in enumerate(COMPONENTS):
        landmarks[~presence[:, k], SLICES[comp]] = np.nan
    return landmarks, presence


@functools.lru_cache(maxsize=1)
def holistic_components() -> tuple[Component, ...]:
    """The four components pose-format's Holistic writer puts first (without POSE_WORLD_LANDMARKS).

    Its limbs are MediaPipe's connections in sorted order: the pose's and the hands' from
    ``layout.CONNECTIONS``; the face's full tesselation (layout draws only its contours)
    from ``holistic_topology.json``, with the point names and colours.
    """
    topology = json.loads((Path(__file__).with_name("holistic_topology.json")).read_text())
    out = []
    for cname, (ours, count, _) in HOLISTIC.items():
        spec = topology["HAND" if "HAND" in cname else cname]
        points = spec["points"] or [str(i) for i in range(count)]
        limbs = spec["limbs"] if ours == "face" else sorted(CONNECTIONS[ours])
        out.append(
            Component(
                cname,
                "XYZC",
                tuple(points),
                np.array(limbs, dtype=np.uint16).reshape(-1, 2),
                np.array(spec["colors"], dtype=np.uint16).reshape(-1, 3),
            )
        )
    return tuple(out)


def write_pose(
    path: str | Path, landmarks: np.ndarray, fps: float, width: int, height: int, presence: np.ndarray | None = None
) -> Path:
    """Writes landmarks as a pose-format v0.2 ``.pose`` file (atomically).

    Args:
        path: the file to write (replaced if it exists: callers check first).
        landmarks: (T, 543, 4) in islpose's layout (x, y in [0, 1], z, visibility).
        fps: frame rate.
        width, height: image size in pixels (x and y are written as x·width, y·height).
        presence: (T, 4) bool; None: a component is present where its points are not all NaN.

    Returns:
        ``path``.

    A missing component is written with confidence 0, which is also how a reader learns
    that it is missing: a present pose whose visibilities are all 0 reads back as missing.
    """
    from islpose.io.atomic import atomic_write

    landmarks = np.asarray(landmarks, dtype=np.float32)
    if landmarks.ndim != 3 or landmarks.shape[1:] != (NUM_LANDMARKS, 4) or not len(landmarks):
        raise PoseFileError(f"{path}: landmarks must have shape (T>0, {NUM_LANDMARKS}, 4), got {landmarks.shape}")
    if presence is None:
        presence = np.stack([~np.isnan(landmarks[:, SLICES[c], :3]).all(axis=(1, 2)) for c in COMPONENTS], axis=1)
    head = header_bytes(int(width), int(height), holistic_components())
    data_parts, conf_parts = [], []
    for ours, _, _ in HOLISTIC.values():
        k = COMPONENTS.index(ours)
        block = landmarks[:, SLICES[ours]]
        present = np.asarray(presence[:, k], dtype=bool)[:, None]
        xyz = np.stack(
            [_to_pixels(block[..., 0], int(width)), _to_pixels(block[..., 1], int(height)), block[..., 2]], axis=-1
        )
        conf = block[..., 3] if ours == "pose" else np.ones(block.shape[:2], np.float32)
        keep = present & np.isfinite(xyz).all(axis=-1)
        conf_parts.append(np.where(keep, np.nan_to_num(conf), 0.0))
        data_parts.append(np.where(keep[..., None], xyz, 0.0))
    with atomic_write(path, "wb") as handle:
        handle.write(head)
        write_body(handle, fps, np.concatenate(data_parts, axis=1), np.concatenate(conf_parts, axis=1))
    return Path(path)
