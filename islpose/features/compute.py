"""The 66-d pose and 6516-d multimodal features: pure, vectorised functions of the
raw Holistic landmarks (no MediaPipe needed), as docs/reference/features.md describes them."""

from __future__ import annotations

import numpy as np

from islpose.features.layout import (
    BLOCK,
    COMPONENT_OF,
    FACE_EYE_OUTER_A,
    FACE_EYE_OUTER_B,
    FACE_NOSE_TIP,
    HAND_MIDDLE_MCP,
    HAND_WRIST,
    LEFT_SHOULDER,
    LEFT_WRIST,
    NUM_LANDMARKS,
    RIGHT_SHOULDER,
    RIGHT_WRIST,
    SLICES,
)

# A shoulder width, hand size or eye distance below this fraction of the image's larger
# side is degenerate (points on top of each other): that frame's part is not used to
# normalise, so nothing is divided by (almost) zero. 0.5% is 6.4 px in a 1280-px frame,
# far below a signer's hand (about 3-8% of the frame) or shoulders (15-40%).
MIN_SIZE_FRACTION = 0.005
# A wrist counts as away from rest beyond this many shoulder widths from where it rests in the
# first (or last) REST_FRAMES frames with a pose. MediaPipe's pose wrists jitter by up to 0.06
# shoulder widths at rest in the two real recordings of tests/data/poses; lifting the
# hands into the signing space moves them about one shoulder width.
REST_MOVE = 0.2
REST_FRAMES = 3
#: dtypes the multimodal features can be stored in, by name.
DTYPES = {"float16": np.float16, "float32": np.float32}


def _check(landmarks: np.ndarray, presence: np.ndarray, width: float, height: float) -> float:
    """Checks the shapes and the image size; returns the smallest usable part size in pixels."""
    if not (np.isfinite(width) and np.isfinite(height) and width > 0 and height > 0):
        raise ValueError(f"image size must be positive, got {width} x {height}")
    if landmarks.ndim != 3 or landmarks.shape[1:] != (NUM_LANDMARKS, 4):
        raise ValueError(f"landmarks must be (T, 543, 4), got {landmarks.shape}")
    if presence.shape != (landmarks.shape[0], 4):
        raise ValueError(f"presence must be (T, 4) = ({landmarks.shape[0]}, 4), got {presence.shape}")
    return MIN_SIZE_FRACTION * max(width, height)


def _finite(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``values`` as ``dtype``, clipped to its finite range (float16 overflows at 65504); NaN
    becomes 0. ``values`` may be changed in place."""
    if values.dtype.itemsize > np.dtype(dtype).itemsize or not np.isfinite(values).all():  # may overflow
        limit = float(np.finfo(dtype).max)
        values = np.clip(values, -limit, limit, out=values if values.flags.writeable else None)
        values = np.nan_to_num(values, copy=False, nan=0.0)
    return values.astype(dtype, copy=False)


def _interpolate(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Fills rows where ``valid`` is False by linear interpolation over time (held
    constant at both ends). values (T, D) -> (T, D); all-invalid -> zeros."""
    if valid.all():
        return values
    if not valid.any():
        return np.zeros_like(values)
    t = np.arange(len(values))
    known = np.flatnonzero(valid)
    out = np.empty_like(values)
    for d in range(values.shape[1]):
        out[:, d] = np.interp(t, known, values[known, d])
    return out


def _body_frame(landmarks: np.ndarray, presence: np.ndarray, width: float, height: float, min_size: float):
    """Per-frame shoulder centre c (T, 2) in pixels, interpolated over frames without a
    pose, the median shoulder width s (pixels), and the frames with a usable pose (T,):
    a pose whose shoulders are less than ``min_size`` pixels apart is not usable."""
    shoulders = landmarks[:, [LEFT_SHOULDER, RIGHT_SHOULDER], :2].astype(np.float64) * (width, height)
    ok = presence[:, 0] & np.isfinite(shoulders).all(axis=(1, 2))
    widths = np.linalg.norm(shoulders[:, 0] - shoulders[:, 1], axis=-1)
    ok &= widths >= min_size
    if not ok.any():
        centre = np.tile([width / 2.0, height / 2.0], (len(landmarks), 1))
        return centre, width / 4.0, ok
    centre = _interpolate(np.where(ok[:, None], shoulders.mean(axis=1), 0.0), ok)
    return centre, float(np.median(widths[ok])), ok


def pose_features(landmarks: np.ndarray, presence: np.ndarray, width: float, height: float) -> np.ndarray:
    """The 66-d pose features.

    Args:
        landmarks: (T, 543, 4) raw Holistic landmarks, x and y normalised to [0, 1], NaN
            where missing.
        presence: (T, 4) bool, pose / left hand / right hand / face detected.
        width, height: image size in pixels.

    Returns:
        (T, 66) float32: (x0, y0, x1, y1, ...) of the 33 pose landmarks, minus the
        frame's shoulder mid-point, divided by the median shoulder width; frames without
        a usable pose (none, or shoulders closer than :data:`MIN_SIZE_FRACTION` of the
        image) linearly interpolated; zeros when the utterance has no usable pose at all.
    """
    min_size = _check(landmarks, presence, width, height)
    centre, scale, ok = _body_frame(landmarks, presence, width, height, min_size)
    pts = landmarks[:, SLICES["pose"], :2].astype(np.float64) * (width, height)  # (T, 33, 2) pixels
    ok = ok & np.isfinite(pts).all(axis=(1, 2))
    with np.errstate(invalid="ignore", over="ignore"):
        feats = ((pts - centre[:, None, :]) / scale).reshape(len(pts), 66)  # (T, 66)
    feats = _interpolate(np.where(ok[:, None], _finite(feats, np.float64), 0.0), ok)
    return _finite(feats, np.float32)


def _landmark_mask(px: np.ndarray, presence: np.ndarray) -> np.ndarray:
    """(T, 543) True where a landmark's component is present and its x, y, z (pixels, (T, 543, 3)) are finite."""
    return presence[:, COMPONENT_OF] & np.isfinite(px).all(axis=-1)


def _normalise_part(
    pts: np.ndarray, origin: np.ndarray, a: np.ndarray, b: np.ndarray, mask: np.ndarray, min_size: float
) -> tuple[np.ndarray, np.ndarray]:
    """(pts - origin) / |a - b|_xy per frame. pts (T, N, 3); origin, a, b (T, 3). A frame
    whose size is below ``min_size`` pixels or whose origin is unknown is masked out."""
    size = np.linalg.norm(a[:, :2] - b[:, :2], axis=-1)  # (T,)
    good = np.isfinite(size) & (size >= min_size) & np.isfinite(origin).all(axis=-1)
    out = (pts - origin[:, None, :]) / np.where(good, size, 1.0)[:, None, None]
    return out, mask & good[:, None]


def multimodal_features(
    landmarks: np.ndarray, presence: np.ndarray, width: float, height: float, dtype: np.dtype = np.float16
) -> np.ndarray:
    """The 6516-d multimodal features: positions, shape coordinates, velocity, acceleration.

    Args:
        landmarks: (T, 543, 4) raw Holistic landmarks (NaN where missing).
        presence: (T, 4) bool.
        width, height: image size in pixels.
        dtype: output dtype (float16 by default, as stored).

    Returns:
        (T, 6516): four blocks of 543 x (x, y, z), see docs/reference/features.md. Missing components are
        zero, and so is any velocity/acceleration that would use a missing frame.
    """
    min_size = _check(landmarks, presence, width, height)
    T = len(landmarks)
    centre, scale, _ = _body_frame(landmarks, presence, width, height, min_size)
    # float32 output is computed in float32 (about 2x faster, what training on the fly uses);
    # float16 (stored) in float64, so that every stored value is rounded once.
    work = np.float32 if np.dtype(dtype) == np.float32 else np.float64
    px = landmarks[..., :3].astype(work) * np.array([width, height, width], dtype=work)  # (T, 543, 3) pixels
    mask = _landmark_mask(px, presence)  # (T, 543)

    out = np.zeros((T, 4, NUM_LANDMARKS, 3), dtype=work)  # the four blocks, written in place
    positions, shape, velocity, accel = (out[:, k] for k in range(4))
    origin = np.concatenate([centre, np.zeros((T, 1))], axis=1).astype(work)  # (T, 3): z is not centred
    np.subtract(px, origin[:, None, :], out=positions)
    positions /= work(scale)

    shape[:] = positions
    shape_mask = mask.copy()
    for side in ("left_hand", "right_hand"):
        rows = SLICES[side]
        hand = px[:, rows]
        shape[:, rows], shape_mask[:, rows] = _normalise_part(
            hand, hand[:, HAND_WRIST], hand[:, HAND_WRIST], hand[:, HAND_MIDDLE_MCP], mask[:, rows], min_size
        )
    face_rows = SLICES["face"]
    face = px[:, face_rows]
    shape[:, face_rows], shape_mask[:, face_rows] = _normalise_part(
        face, face[:, FACE_NOSE_TIP], face[:, FACE_EYE_OUTER_A], face[:, FACE_EYE_OUTER_B], mask[:, face_rows], min_size
    )

    np.copyto(positions, 0.0, where=~mask[..., None])
    np.copyto(shape, 0.0, where=~shape_mask[..., None])
    if T > 1:
        np.subtract(positions[1:], positions[:-1], out=velocity[1:])
        np.copyto(velocity[1:], 0.0, where=~(mask[1:] & mask[:-1])[..., None])
    if T > 2:
        np.subtract(velocity[2:], velocity[1:-1], out=accel[2:])  # p[t] - 2 p[t-1] + p[t-2]
        np.copyto(accel[2:], 0.0, where=~(mask[2:] & mask[1:-1] & mask[:-2])[..., None])
    return _finite(out.reshape(T, 4 * BLOCK), dtype)  # (T, 6516)


def compute_features(
    landmarks: np.ndarray, presence: np.ndarray, width: float, height: float, dtype: np.dtype = np.float16
) -> dict[str, np.ndarray]:
    """Both feature sets: ``{"pose": (T, 66) float32, "multimodal": (T, 6516) dtype}``."""
    return {
        "pose": pose_features(landmarks, presence, width, height),
        "multimodal": multimodal_features(landmarks, presence, width, height, dtype),
    }


def signing_span(landmarks: np.ndarray, presence: np.ndarray, width: float, height: float) -> tuple[int, int] | None:
    """The frames between the signer's rest at the start and at the end of a clip.

    Signers start and end with their hands at rest. Signing runs from the first frame where a
    wrist (relative to the shoulders) is more than :data:`REST_MOVE` shoulder widths from its
    median place over the first :data:`REST_FRAMES` frames with a pose, to the last frame where
    one is that far from its place over the last ones. A clip that starts mid-sign with the
    hands moving gives one of its first frames.

    Args:
        landmarks: (T, 543, 4) raw Holistic landmarks (NaN where missing).
        presence: (T, 4) bool.
        width, height: image size in pixels.

    Returns:
        (first, last) frame indices (inclusive), or None when there is no usable pose or no
        rest, signing, rest pattern (the wrists never move that far, or leave the place they
        hold at the start only after returning to the place they hold at the end).
    """
    min_size = _check(landmarks, presence, width, height)
    centre, scale, ok = _body_frame(landmarks, presence, width, height, min_size)
    wrists = landmarks[:, [LEFT_WRIST, RIGHT_WRIST], :2].astype(np.float64) * (width, height)  # (T, 2, 2)
    ok &= np.isfinite(wrists).all(axis=(1, 2))
    frames = np.flatnonzero(ok)
    if len(frames) == 0:
        return None
    w = wrists[frames] - centre[frames, None, :]  # (N, 2, 2) pixels from the shoulder mid-point

    def away(rest: np.ndarray) -> np.ndarray:  # (N,) True where a wrist is far from its rest place
        return (np.linalg.norm(w - np.median(rest, axis=0), axis=-1) > REST_MOVE * scale).any(axis=1)

    after, before = away(w[:REST_FRAMES]), away(w[-REST_FRAMES:])
    if not (after.any() and before.any()):
        return None
    first, last = int(frames[np.argmax(after)]), int(frames[len(before) - 1 - np.argmax(before[::-1])])
    return (first, last) if first <= last else None
