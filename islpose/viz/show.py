"""Stored landmarks drawn over their video (or a blank canvas): MP4, GIF or a PNG contact sheet.

Example:
    >>> clip = clip_from_store("feats.h5", "utt1")                        # doctest: +SKIP
    >>> render_clip(clip, "utt1.png", frames=12)                          # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from islpose.errors import IslposeError
from islpose.features.layout import Landmarks, presence_of
from islpose.io.jsonl import read_jsonl
from islpose.viz import deps
from islpose.viz.media import contact_sheet, frame_count, iter_frames, output_format, write_image, write_video
from islpose.viz.skeleton import blank_canvas, caption, draw_skeleton, status_panel, text

# Default picture width (pixels) per output format: video frames, GIF frames, contact-sheet tiles.
DEFAULT_WIDTH = {".mp4": 640, ".gif": 400, ".png": 320}
DEFAULT_TILES = 12


@dataclass
class Clip(Landmarks):
    """The landmarks of one recording (:class:`islpose.features.layout.Landmarks`: ``landmarks``
    (T, 543, 4), ``presence`` (T, 4), ``fps`` (0 when unknown), ``width``, ``height``,
    ``source`` video) and its name (utterance id or file name), for titles and for
    finding its ``recognize`` record."""

    name: str = "clip"


@dataclass
class ShowResult:
    """What :func:`render_clip` wrote: the file, the frames drawn, and over what."""

    path: Path
    frames: int
    background: str  # the video's path, or "blank"


def clip_from_store(path: str | Path, uid: str | None = None) -> Clip:
    """Reads one utterance's landmarks from a feature store.

    Args:
        path: the HDF5 feature store.
        uid: utterance id; None when the store holds exactly one utterance.
    """
    from islpose.io import FeatureStore

    with FeatureStore(path) as store:
        if uid is None:
            ids = store.ids()
            if len(ids) != 1:
                some = ", ".join(ids[:5]) + (" ..." if len(ids) > 5 else "")
                raise IslposeError(f"{path}: holds {len(ids)} utterances; name one ({some})")
            uid = ids[0]
        if "landmarks" not in store.datasets(uid):
            raise IslposeError(f"{path}: utterance {uid!r} has no raw landmarks to draw")
        attrs = store.attrs(uid)
        landmarks = store.read(uid, "landmarks")
        presence = store.read(uid, "presence") if "presence" in store.datasets(uid) else presence_of(landmarks)
    return Clip(
        landmarks,
        presence,
        float(attrs.get("fps") or 0.0),
        int(attrs.get("width") or 640),
        int(attrs.get("height") or 480),
        source=attrs.get("source") or None,
        name=uid,
    )


def clip_from_pose(path: str | Path) -> Clip:
    """Reads a pose-format ``.pose`` recording of MediaPipe Holistic (its first person)."""
    from islpose.extract.posefile import read_pose

    pose = read_pose(path)
    return Clip(pose.landmarks, pose.presence, pose.fps, pose.width, pose.height, name=Path(path).stem)


def read_segments(path: str | Path, clip: Clip) -> list[dict]:
    """The recognised segments of ``clip`` from ``islpose recognize`` output (JSONL).

    The record is the one whose ``id`` is the clip's name, or whose ``source`` is the
    clip's source file. Returns its ``segments``: ``{"gloss", "start", "end", "score"}``
    with times in seconds.
    """
    ours = Path(clip.source).resolve() if clip.source and Path(clip.source).is_file() else None
    for lineno, record in read_jsonl(path, "a recognize record"):
        source = record.get("source")
        if record.get("id") == clip.name or (ours is not None and source and Path(source).resolve() == ours):
            try:
                return [dict(s, start=float(s["start"]), end=float(s["end"])) for s in record["segments"]]
            except (ValueError, TypeError, KeyError) as exc:
                raise IslposeError(
                    f"{path}:{lineno}: not a recognize record ({exc.__class__.__name__}: {exc})"
                ) from None
    raise IslposeError(f"{path}: no record for {clip.name!r}")


def frame_indices(num_frames: int, count: int | None) -> np.ndarray:
    """``count`` evenly spaced frame indices of ``num_frames`` (all of them when None or larger)."""
    if count is not None and count < 1:
        raise IslposeError(f"--frames must be >= 1, not {count}")
    if count is None or count >= num_frames:
        return np.arange(num_frames)
    return np.unique(np.round(np.linspace(0, num_frames - 1, count)).astype(int))


def _captions(segments: Sequence[Mapping], indices: np.ndarray, fps: float) -> dict[int, str]:
    """Frame index -> the gloss whose segment [start, end) holds that frame's time."""
    if segments and fps <= 0:
        raise IslposeError("the clip's frame rate is unknown, so recognised segments cannot be placed on frames")
    out = {}
    for t in indices:
        now = t / fps if fps > 0 else 0.0
        glosses = [str(s["gloss"]) for s in segments if s["start"] <= now < s["end"]]
        if glosses:
            out[int(t)] = " ".join(glosses)
    return out


def _video_for(clip: Clip, video: str | Path | None, last: int) -> str | None:
    """The video to draw over: ``video``, else the clip's source when it exists and is long enough."""
    if video is not None:
        return str(video)
    if clip.source and Path(clip.source).is_file() and frame_count(clip.source) > last:
        return str(clip.source)
    return None


def iter_pictures(
    clip: Clip, indices: Sequence[int], width: int, *, video: str | Path | None = None, segments: Sequence[Mapping] = ()
) -> Iterator[np.ndarray]:
    """Draws the clip's frames ``indices`` (increasing) one at a time, each with its status panel.

    Args:
        clip: the landmarks.
        indices: frames to draw.
        width: picture width in pixels (the height keeps the video's aspect ratio).
        video: the video to draw over (its frame ``t`` under landmarks ``t``); None: a blank canvas.
        segments: recognised glosses (``gloss``, ``start``, ``end`` in seconds) to write on their frames.

    Yields:
        (H, width, 3) uint8 BGR pictures, H even (video encoders need even sizes).
    """
    cv2 = deps.cv2()
    height = max(2, round(width * clip.height / max(1, clip.width)))
    width, height = width + width % 2, height + height % 2
    captions = _captions(segments, np.asarray(indices), clip.fps)
    backgrounds = iter_frames(video, indices) if video is not None else None
    for t in indices:
        image = (
            cv2.resize(next(backgrounds), (width, height), interpolation=cv2.INTER_AREA)
            if backgrounds
            else blank_canvas(width, height)
        )
        draw_skeleton(image, clip.landmarks[t], clip.presence[t])
        if t in captions:
            caption(image, captions[t])
        when = f"{t + 1}/{len(clip.landmarks)}" + (f"  {t / clip.fps:.2f} s" if clip.fps > 0 else "")
        text(image, when, (4, height - 6), max(0.35, width / 900), (255, 255, 255))
        yield np.concatenate([image, status_panel(width, t, clip.presence)], axis=0)


def render_frames(
    clip: Clip, indices: Sequence[int], width: int, *, video: str | Path | None = None, segments: Sequence[Mapping] = ()
) -> tuple[list[np.ndarray], str]:
    """:func:`iter_pictures` as a list, over ``video`` or else the clip's source when it
    exists (else a blank canvas); also returns the video's path, or "blank"."""
    indices = [int(t) for t in indices]
    used = _video_for(clip, video, max(indices, default=0))
    return list(iter_pictures(clip, indices, width, video=used, segments=segments)), used or "blank"


def render_clip(
    clip: Clip,
    out: str | Path,
    *,
    video: str | Path | None = None,
    frames: int | None = None,
    segments: Sequence[Mapping] = (),
    width: int | None = None,
) -> ShowResult:
    """Writes the clip as ``.mp4``, ``.gif`` or a ``.png`` contact sheet.

    Args:
        clip: the landmarks.
        out: the file to write; its suffix picks the format.
        video: video to draw over (default: the clip's source when the file exists, else blank).
        frames: how many evenly spaced frames (default: all for video, 12 for a contact sheet).
        segments: recognised glosses to write on the frames of their segments.
        width: picture width (default 640 for MP4, 400 for GIF, 320 per contact-sheet tile).
    """
    fmt = output_format(out)
    if len(clip.landmarks) == 0:
        raise IslposeError(f"{clip.name}: no frames to draw")
    indices = frame_indices(len(clip.landmarks), frames if frames or fmt != ".png" else DEFAULT_TILES).tolist()
    width = width or DEFAULT_WIDTH[fmt]
    if fmt == ".png":
        pictures, used = render_frames(clip, indices, width, video=video, segments=segments)
        over = "blank canvas" if used == "blank" else Path(used).name
        rate = f", {clip.fps:g} fps" if clip.fps > 0 else ""
        write_image(contact_sheet(pictures, title=f"{clip.name}: {len(clip.landmarks)} frames{rate}, over {over}"), out)
    else:  # drawn frame by frame: an MP4 never holds a long recording in memory (a GIF keeps 1 byte/pixel)
        used = _video_for(clip, video, indices[-1]) or "blank"
        step = float(np.median(np.diff(indices))) if len(indices) > 1 else 1.0
        pictures = iter_pictures(clip, indices, width, video=None if used == "blank" else used, segments=segments)
        write_video(pictures, out, clip.fps / step if clip.fps > 0 else 0.0)
    return ShowResult(Path(out), len(indices), used)
    return ShowResult(Path(out), len(pictures), used)


def show_clip(
    source: str | Path,
    out: str | Path,
    uid: str | None = None,
    *,
    video: str | Path | None = None,
    frames: int | None = None,
    width: int | None = None,
    recognized: str | Path | None = None,
    overwrite: bool = False,
) -> tuple[ShowResult, Clip]:
    """Draws the landmarks of a stored utterance or a ``.pose`` file (:func:`render_clip`).

    Args:
        source: a feature store, or a pose-format ``.pose`` file (then ``uid`` must be None).
        out: ``.mp4``, ``.gif`` or ``.png``; kept, an error, when it exists unless ``overwrite``.
        uid: the utterance of a store; None when the store holds exactly one.
        video, frames, width: as for :func:`render_clip` (``width`` at least 16 pixels).
        recognized: ``islpose recognize`` output (JSONL) whose segments are written on the frames.
        overwrite: replace ``out`` when it exists.

    Returns:
        What was written, and the clip drawn.

    Raises:
        IslposeError: a video as ``source`` (its landmarks must be extracted first), a bad
            output format or width, or an unreadable source.
    """
    from islpose.io.atomic import check_output
    from islpose.io.media import VIDEO_EXTENSIONS

    output_format(out)
    check_output(out, overwrite)
    if width is not None and width < 16:
        raise IslposeError(f"--width must be >= 16 pixels, not {width}")
    name = str(source).lower()
    if name.endswith(tuple(VIDEO_EXTENSIONS)):
        raise IslposeError(
            f"{source}: a video; show draws landmarks, so extract them first: `islpose extract "
            f"{source} feats.h5`, then `islpose show feats.h5 --video {source} --out {out}`"
        )
    if name.endswith(".pose"):
        if uid is not None:
            raise IslposeError(f"{source}: a .pose file holds one recording; give no ID")
        clip = clip_from_pose(source)
    else:
        clip = clip_from_store(source, uid)
    segments = read_segments(recognized, clip) if recognized else ()
    return render_clip(clip, out, video=video, frames=frames, segments=segments, width=width), clip
