"""The 66-d pose and 6516-d multimodal features of a padded batch of utterances, in torch on
any device: what training computes per batch after augmenting the landmarks (SPEC.md defines
the features; :mod:`islpose.features.compute` computes the same per utterance in numpy, for
extraction and recognition, and is the reference these functions are tested against).

Every function takes ``lengths``: frames at and after an utterance's length are padding.
They never enter a statistic (shoulder width, interpolation, velocity) and their features
are zero, so any values there give the same valid features.
"""
from __future__ import annotations

import torch

from islpose.features.compute import MIN_SIZE_FRACTION
from islpose.features.layout import COMPONENT_OF, FACE_EYE_OUTER_A, FACE_EYE_OUTER_B, FACE_NOSE_TIP, HAND_MIDDLE_MCP
from islpose.features.layout import HAND_WRIST, LEFT_SHOULDER, NUM_LANDMARKS, POSE_DIM, RIGHT_SHOULDER, SLICES

POSE_ROWS = SLICES["pose"].stop  # the pose features read only these landmark rows


def valid_frames(lengths: torch.Tensor, num_frames: int) -> torch.Tensor:
    """(B, T) bool: True before each utterance's length. lengths (B,) long."""
    return torch.arange(num_frames, device=lengths.device) < lengths[:, None]


def _finite(values: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``values`` as ``dtype``, clipped to its finite range, NaN as 0 (as compute._finite)."""
    limit = torch.finfo(dtype).max
    return torch.nan_to_num(values.clamp(-limit, limit), nan=0.0).to(dtype)


def interpolate(values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Fills frames where ``valid`` is False by linear interpolation over time, held constant
    at both ends; an utterance without a valid frame becomes zeros.

    Args:
        values: (B, T, D).
        valid: (B, T) bool.

    Returns:
        (B, T, D), ``values`` where valid.
    """
    B, T, D = values.shape
    t = torch.arange(T, device=values.device).expand(B, T)
    prev = torch.where(valid, t, -1).cummax(dim=1).values  # (B, T) last valid frame at or before t
    nxt = torch.where(valid, t, T).flip(1).cummin(dim=1).values.flip(1)  # first valid frame at or after t
    has_prev, has_next = prev >= 0, nxt < T
    p, n = prev.clamp(min=0), nxt.clamp(max=T - 1)
    vp = values.gather(1, p[..., None].expand(B, T, D))
    vn = values.gather(1, n[..., None].expand(B, T, D))
    frac = ((t - p) / (n - p).clamp(min=1)).to(values.dtype)[..., None]
    both = vp + frac * (vn - vp)
    out = torch.where((has_prev & has_next)[..., None], both, torch.where(has_prev[..., None], vp, vn))
    return torch.where((has_prev | has_next)[..., None], out, torch.zeros_like(out))


def _sizes(sizes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B, 2) image sizes -> width (B,), height (B,), the smallest usable part size (B,), float64 pixels."""
    if sizes.ndim != 2 or sizes.shape[1] != 2 or not bool(((sizes > 0) & torch.isfinite(sizes)).all()):
        raise ValueError(f"sizes must be (B, 2) positive widths and heights, got {tuple(sizes.shape)}")
    wh = sizes.to(torch.float64)
    return wh[:, 0], wh[:, 1], MIN_SIZE_FRACTION * wh.max(dim=1).values


def _check(landmarks: torch.Tensor, presence: torch.Tensor, lengths: torch.Tensor, rows: int) -> None:
    B, T = landmarks.shape[:2]
    if landmarks.ndim != 4 or landmarks.shape[2] < rows or landmarks.shape[3] not in (3, 4):
        raise ValueError(f"landmarks must be (B, T, {rows} or more, 3 or 4), got {tuple(landmarks.shape)}")
    if presence.shape != (B, T, 4) or lengths.shape != (B,):
        raise ValueError(f"presence must be (B, T, 4) and lengths (B,) for landmarks {tuple(landmarks.shape)}, "
                         f"got {tuple(presence.shape)} and {tuple(lengths.shape)}")


def body_frame(landmarks: torch.Tensor, presence: torch.Tensor, valid: torch.Tensor, width: torch.Tensor,
               height: torch.Tensor, min_size: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-frame shoulder centre (B, T, 2) in pixels, interpolated over frames without a usable
    pose, the median shoulder width (B,) in pixels and the frames with a usable pose (B, T),
    float64 (as compute._body_frame; a quarter of the width and the image centre without any)."""
    scale_xy = torch.stack([width, height], dim=-1)[:, None, None, :]  # (B, 1, 1, 2)
    shoulders = landmarks[:, :, [LEFT_SHOULDER, RIGHT_SHOULDER], :2].to(torch.float64) * scale_xy  # (B, T, 2, 2)
    ok = valid & presence[..., 0] & torch.isfinite(shoulders).all(dim=-1).all(dim=-1)
    widths = torch.linalg.vector_norm(shoulders[:, :, 0] - shoulders[:, :, 1], dim=-1)  # (B, T)
    ok = ok & (widths >= min_size[:, None])
    mid = torch.where(ok[..., None], shoulders.mean(dim=2), torch.zeros((), dtype=torch.float64,
                                                                         device=landmarks.device))
    centre = interpolate(mid, ok)
    scale = torch.nanquantile(torch.where(ok, widths, torch.nan), 0.5, dim=1)  # the median, as numpy's
    anyone = ok.any(dim=1)
    centre = torch.where(anyone[:, None, None], centre, (scale_xy[:, :, 0] / 2).expand_as(centre))
    scale = torch.where(anyone, scale, width / 4)
    return centre, scale, ok


def pose_features(landmarks: torch.Tensor, presence: torch.Tensor, lengths: torch.Tensor,
                  sizes: torch.Tensor) -> torch.Tensor:
    """The 66-d pose features of a padded batch (:func:`islpose.features.compute.pose_features`).

    Args:
        landmarks: (B, T, N, C) raw Holistic landmarks (x, y in [0, 1], NaN where missing),
            N = 543 or only the 33 pose rows (all that is read), C = 4 or only x, y, z (3;
            the visibility is never read).
        presence: (B, T, 4) bool: pose, left hand, right hand, face detected.
        lengths: (B,) long frames per utterance.
        sizes: (B, 2) image width and height in pixels.

    Returns:
        (B, T, 66) float32, zero after each length.
    """
    _check(landmarks, presence, lengths, POSE_ROWS)
    B, T = landmarks.shape[:2]
    width, height, min_size = _sizes(sizes)
    valid = valid_frames(lengths, T)
    centre, scale, ok = body_frame(landmarks, presence, valid, width, height, min_size)
    scale_xy = torch.stack([width, height], dim=-1)[:, None, None, :]
    pts = landmarks[:, :, :POSE_ROWS, :2].to(torch.float64) * scale_xy  # (B, T, 33, 2) pixels
    ok = ok & torch.isfinite(pts).all(dim=-1).all(dim=-1)
    feats = ((pts - centre[:, :, None, :]) / scale[:, None, None, None]).reshape(B, T, POSE_DIM)
    feats = torch.where(ok[..., None], _finite(feats, torch.float64), 0.0)
    return _finite(interpolate(feats, ok), torch.float32) * valid[..., None]


def _normalise_part(pts: torch.Tensor, origin: torch.Tensor, a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor,
                    min_size: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(pts - origin) / |a - b|_xy per frame. pts (B, T, N, 3); origin, a, b (B, T, 3); mask (B, T, N)."""
    size = torch.linalg.vector_norm(a[..., :2] - b[..., :2], dim=-1)  # (B, T)
    good = torch.isfinite(size) & (size >= min_size[:, None]) & torch.isfinite(origin).all(dim=-1)
    out = (pts - origin[:, :, None, :]) / torch.where(good, size, 1.0)[..., None, None]
    return out, mask & good[..., None]


def multimodal_features(landmarks: torch.Tensor, presence: torch.Tensor, lengths: torch.Tensor,
                        sizes: torch.Tensor) -> torch.Tensor:
    """The 6516-d multimodal features of a padded batch
    (:func:`islpose.features.compute.multimodal_features` with float32 output).

    Args:
        landmarks: (B, T, 543, C) raw Holistic landmarks (NaN where missing), C = 4 or 3 (x, y, z).
        presence: (B, T, 4) bool.
        lengths: (B,) long.
        sizes: (B, 2) image width and height in pixels.

    Returns:
        (B, T, 6516) float32: positions, shape coordinates, velocity, acceleration; zero
        after each length.
    """
    _check(landmarks, presence, lengths, NUM_LANDMARKS)
    B, T = landmarks.shape[:2]
    width, height, min_size = _sizes(sizes)
    valid = valid_frames(lengths, T)
    centre, scale, _ = body_frame(landmarks, presence, valid, width, height, min_size)
    to_px = torch.stack([width, height, width], dim=-1).to(torch.float32)[:, None, None, :]  # (B, 1, 1, 3)
    px = landmarks[..., :3].to(torch.float32) * to_px  # (B, T, 543, 3) pixels
    component = torch.as_tensor(COMPONENT_OF, device=landmarks.device)
    mask = presence.bool()[:, :, component] & torch.isfinite(px).all(dim=-1) & valid[..., None]  # (B, T, 543)
    origin = torch.cat([centre, torch.zeros_like(centre[..., :1])], dim=-1).to(torch.float32)  # z is not centred
    out = torch.empty((B, T, 4, NUM_LANDMARKS, 3), dtype=torch.float32, device=landmarks.device)  # the 4 blocks
    positions, shape, velocity, accel = out.unbind(dim=2)  # views, written in place
    torch.sub(px, origin[:, :, None, :], out=positions)
    positions.div_(scale.to(torch.float32)[:, None, None, None])
    shape.copy_(positions)
    shape_mask = mask.clone()
    parts = [(SLICES["left_hand"], HAND_WRIST, HAND_WRIST, HAND_MIDDLE_MCP),
             (SLICES["right_hand"], HAND_WRIST, HAND_WRIST, HAND_MIDDLE_MCP),
             (SLICES["face"], FACE_NOSE_TIP, FACE_EYE_OUTER_A, FACE_EYE_OUTER_B)]
    for rows, o, a, b in parts:
        part = px[:, :, rows]
        shape[:, :, rows], shape_mask[:, :, rows] = _normalise_part(
            part, part[:, :, o], part[:, :, a], part[:, :, b], mask[:, :, rows], min_size)
    positions.masked_fill_(~mask[..., None], 0.0)
    shape.masked_fill_(~shape_mask[..., None], 0.0)
    velocity[:, :1] = 0.0
    accel[:, :2] = 0.0
    if T > 1:
        torch.sub(positions[:, 1:], positions[:, :-1], out=velocity[:, 1:])
        velocity[:, 1:].masked_fill_(~(mask[:, 1:] & mask[:, :-1])[..., None], 0.0)
    if T > 2:
        torch.sub(velocity[:, 2:], velocity[:, 1:-1], out=accel[:, 2:])
        accel[:, 2:].masked_fill_(~(mask[:, 2:] & mask[:, 1:-1] & mask[:, :-2])[..., None], 0.0)
    limit = torch.finfo(torch.float32).max
    return out.view(B, T, -1).nan_to_num_(nan=0.0, posinf=limit, neginf=-limit)  # (B, T, 6516)


#: feature name -> (landmark rows it reads, its batched function)
FEATURE_FUNCTIONS = {"pose": (POSE_ROWS, pose_features), "multimodal": (NUM_LANDMARKS, multimodal_features)}
