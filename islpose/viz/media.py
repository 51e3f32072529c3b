"""Reading video frames and writing pictures: MP4 (OpenCV), GIF (Pillow), PNG and contact sheets.

Every file is written atomically (:mod:`islpose.io.atomic`). Images are OpenCV's
(H, W, 3) uint8 BGR.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from islpose.errors import IslposeError
from islpose.io.atomic import atomic_path, atomic_write
from islpose.viz import deps

FORMATS = (".mp4", ".gif", ".png")


def output_format(path: str | Path) -> str:
    """The picture format of ``path`` from its suffix: ``.mp4``, ``.gif`` or ``.png``."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise IslposeError(f"{path}: unknown picture format {suffix or '(no suffix)'!r}; use .mp4, .gif or .png")
    return suffix


def frame_count(path: str | Path) -> int:
    """The frame count a video's container declares (0 when it cannot be opened or says nothing)."""
    cv2 = deps.cv2()
    cap = cv2.VideoCapture(str(path))
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if cap.isOpened() else 0
    finally:
        cap.release()


def iter_frames(path: str | Path, indices: Iterable[int]) -> Iterator[np.ndarray]:
    """Decodes the frames ``indices`` (0-based, increasing) of a video, one at a time.

    Yields:
        (H, W, 3) uint8 BGR frames, in the order of ``indices``.

    Raises:
        IslposeError: the file cannot be opened as a video, or ends before the last index.
    """
    cv2 = deps.cv2()
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise IslposeError(f"{path}: cannot be opened as a video")
        t = 0
        for want in indices:
            while t <= want:
                ok = cap.grab()
                if not ok:
                    raise IslposeError(
                        f"{path}: ends after {t} frames, before frame {want + 1} (not the video of these landmarks?)"
                    )
                t += 1
            ok, frame = cap.retrieve()
            if not ok:
                raise IslposeError(f"{path}: frame {want + 1} cannot be decoded")
            yield frame
    finally:
        cap.release()


def write_video(frames: Iterable[np.ndarray], path: str | Path, fps: float) -> Path:
    """Writes frames of one size as an MP4 (MPEG-4 part 2) or an animated GIF (looping).

    Args:
        frames: (H, W, 3) uint8 BGR images (any iterable: an MP4 is written as they come).
        path: ``.mp4`` or ``.gif`` file.
        fps: frames per second of playback.
    """
    path = Path(path)
    fps = fps if fps > 0 else 25.0
    if output_format(path) == ".gif":
        from PIL import Image

        # One fast octree palette per frame, no dithering: much faster than Pillow's default
        # conversion, and as clear.
        images = [
            Image.fromarray(np.ascontiguousarray(f[..., ::-1])).quantize(
                256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE
            )
            for f in frames
        ]
        if not images:
            raise IslposeError(f"{path}: no frames to write")
        with atomic_write(path, "wb") as handle:
            images[0].save(
                handle,
                format="GIF",
                save_all=True,
                append_images=images[1:],
                loop=0,
                duration=round(1000 / fps),
                optimize=False,
            )
        return path
    cv2 = deps.cv2()
    with atomic_path(path, keep_suffix=True) as tmp:
        writer = None
        try:
            for frame in frames:
                if writer is None:
                    h, w = frame.shape[:2]
                    writer = cv2.VideoWriter(str(tmp), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
                    if not writer.isOpened():
                        raise IslposeError(f"{path}: OpenCV cannot write MP4 (no MPEG-4 encoder in this build)")
                writer.write(frame)
        finally:
            if writer is not None:
                writer.release()
        if writer is None:
            raise IslposeError(f"{path}: no frames to write")
    return path


def write_image(image: np.ndarray, path: str | Path) -> Path:
    """Writes one (H, W, 3) uint8 BGR image as PNG."""
    ok, data = deps.cv2().imencode(".png", image)
    if not ok:
        raise IslposeError(f"{path}: the image could not be encoded as PNG")
    with atomic_write(path, "wb") as handle:
        handle.write(data.tobytes())
    return Path(path)


def contact_sheet(tiles: Sequence[np.ndarray], columns: int | None = None, gap: int = 4, title: str = "") -> np.ndarray:
    """Tiles equal-sized images in rows (about 4:3 overall unless ``columns`` is given).

    Args:
        tiles: N (H, W, 3) uint8 images of one size.
        columns: images per row.
        gap: pixels between tiles.
        title: a line written above the tiles.

    Returns:
        (head + rows * (H + gap) + gap, columns * (W + gap) + gap, 3) uint8, head 28 px with a title.
    """
    n = len(tiles)
    h, w = tiles[0].shape[:2]
    columns = columns or max(1, min(n, round(math.sqrt(n * 4 * h / (3 * w)))))
    rows = math.ceil(n / columns)
    sheet = np.full((rows * (h + gap) + gap, columns * (w + gap) + gap, 3), 255, np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        y, x = gap + r * (h + gap), gap + c * (w + gap)
        sheet[y : y + h, x : x + w] = tile
    if title:
        cv2 = deps.cv2()
        head = np.full((28, sheet.shape[1], 3), 255, np.uint8)
        cv2.putText(head, title.encode("ascii", "replace").decode(), (gap, 20), 0, 0.55, (30, 30, 30), 1, cv2.LINE_AA)
        sheet = np.concatenate([head, sheet], axis=0)
    return sheet
