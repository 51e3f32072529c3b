"""Reading video frames and writing pictures: MP4 (OpenCV), GIF (Pillow), PNG and contact sheets.

Every file is written atomically (:mod:`islpose.io.atomic`). Images are OpenCV's
(H, W, 3) uint8 BGR.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Sequence

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


def read_frames(path: str | Path, indices: Iterable[int]) -> dict[int, np.ndarray]:
    """Decodes the frames ``indices`` (0-based) of a video.

    Returns:
        index -> (H, W, 3) uint8 BGR frame, for every index the video has.

    Raises:
        IslposeError: the file cannot be opened as a video.
    """
    cv2 = deps.cv2()
    wanted = set(indices)
    cap = cv2.VideoCapture(str(path))
    frames: dict[int, np.ndarray] = {}
    try:
        if not cap.isOpened():
            raise IslposeError(f"{path}: cannot be opened as a video")
        t, last = 0, max(wanted, default=-1)
        while t <= last:
            if not cap.grab():
                break
            if t in wanted:
                ok, frame = cap.retrieve()
                if ok:
                    frames[t] = frame
            t += 1
    finally:
        cap.release()
    return frames


def write_video(frames: Sequence[np.ndarray], path: str | Path, fps: float) -> Path:
    """Writes frames of one size as an MP4 (MPEG-4 part 2) or an animated GIF (looping).

    Args:
        frames: (H, W, 3) uint8 BGR images.
        path: ``.mp4`` or ``.gif`` file.
        fps: frames per second of playback.
    """
    path = Path(path)
    if not frames:
        raise IslposeError(f"{path}: no frames to write")
    fps = fps if fps > 0 else 25.0
    if output_format(path) == ".gif":
        from PIL import Image

        # One fast octree palette per frame, no dithering: 50x faster than Pillow's default
        # conversion (measured: 0.8 s against 44 s for 58 frames of 400x533), and as clear.
        images = [Image.fromarray(np.ascontiguousarray(f[..., ::-1])).quantize(
            256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE) for f in frames]
        with atomic_write(path, "wb") as handle:
            images[0].save(handle, format="GIF", save_all=True, append_images=images[1:], loop=0,
                           duration=round(1000 / fps), optimize=False)
        return path
    cv2 = deps.cv2()
    h, w = frames[0].shape[:2]
    with atomic_path(path, keep_suffix=True) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        if not writer.isOpened():
            raise IslposeError(f"{path}: OpenCV cannot write MP4 here (no MPEG-4 encoder in this OpenCV build)")
        try:
            for frame in frames:
                writer.write(frame)
        finally:
            writer.release()
    return path


def write_image(image: np.ndarray, path: str | Path) -> Path:
    """Writes one (H, W, 3) uint8 BGR image as PNG."""
    ok, data = deps.cv2().imencode(".png", image)
    if not ok:
        raise IslposeError(f"{path}: the image could not be encoded as PNG")
    with atomic_write(path, "wb") as handle:
        handle.write(data.tobytes())
    return Path(path)


def contact_sheet(tiles: Sequence[np.ndarray], columns: int | None = None, gap: int = 4,
                  title: str = "") -> np.ndarray:
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
        sheet[y:y + h, x:x + w] = tile
    if title:
        cv2 = deps.cv2()
        head = np.full((28, sheet.shape[1], 3), 255, np.uint8)
        cv2.putText(head, title.encode("ascii", "replace").decode(), (gap, 20), 0, 0.55, (30, 30, 30), 1, cv2.LINE_AA)
        sheet = np.concatenate([head, sheet], axis=0)
    return sheet
