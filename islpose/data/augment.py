"""Landmark augmentation: random changes of the raw Holistic landmarks (T, 543, 4) made
before the features are computed, so one implementation serves the pose and the
multimodal features.

An utterance's draws depend only on ``(seed, epoch, utterance id)`` (:func:`utterance_rng`),
so DataLoader workers, DDP ranks and a resumed run draw exactly what one uninterrupted
process would. Missing points are marked as MediaPipe marks them: a missing hand (or a
frame without anybody) is NaN with its presence flag False; MediaPipe never misses single
points of a detected hand, so a "dropped" finger is folded onto its knuckle instead (what
the hand model reports for an occluded finger).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

from islpose.ctc import min_ctc_frames
from islpose.errors import IslposeError
from islpose.features.layout import COMPONENT_OF, FACE_NOSE_TIP, LEFT_SHOULDER, NUM_LANDMARKS, RIGHT_SHOULDER, SLICES

# Pose landmarks: the face points 0-10, then left (odd) / right (even) pairs from 11 on.
_POSE_FACE = slice(0, 11)
_POSE_SWAP = [0, 4, 5, 6, 1, 2, 3, 8, 7, 10, 9] + [i + 1 if i % 2 else i - 1 for i in range(11, 33)]
# Landmark row -> the row that a left-right mirror puts there (face rows keep their indices).
_MIRROR = np.concatenate([_POSE_SWAP, np.arange(54, 75), np.arange(33, 54), np.arange(75, 543)])
# Per side (left, right): shoulder, elbow, wrist, the pose's hand points (pinky, index, thumb), the hand rows.
_ARMS = ((11, 13, 15, [17, 19, 21], SLICES["left_hand"]), (12, 14, 16, [18, 20, 22], SLICES["right_hand"]))
_FINGER_MCP = np.array([1, 5, 9, 13, 17])  # the thumb's CMC stands in for its knuckle
POSE_ONLY = SLICES["pose"].stop  # rows of a pose-only landmark array (what the pose features read)


@dataclass
class AugmentConfig:
    """Random landmark changes of training utterances (YAML ``augment:`` maps onto it).

    Ranges are symmetric around "no change"; a range of 0 or a probability of 0 switches
    that change off.

    Attributes:
        enabled: augment the train split (never dev or test).
        affine_p: chance per utterance of a random affine map of the image plane.
        rotate_deg: rotation uniform in [-rotate_deg, rotate_deg] degrees.
        scale: zoom uniform in [1 - scale, 1 + scale] (camera distance).
        aspect: x/y scale ratio uniform in [1 - aspect, 1 + aspect].
        shear: horizontal shear uniform in [-shear, shear].
        translate: shift uniform in [-translate, translate] of the image size.
        body_p: chance per utterance of other body proportions.
        shoulder_width: shoulder width factor uniform in [1 - x, 1 + x] (arms move along).
        arm_length: upper and lower arm length factor in [1 - x, 1 + x] (hands move along).
        hand_size: hand size factor in [1 - x, 1 + x] around the wrist.
        face_size: face size factor in [1 - x, 1 + x] around the nose.
        sign_size: size of the signing space: each wrist's path around its mean position
            (relative to the shoulders) scaled by a factor in [1 - x, 1 + x]; hands and
            elbows move along.
        speed_p: chance per utterance of a speed change.
        speed: speed factor log-uniform in [1 / (1 + speed), 1 + speed]; the utterance is
            linearly resampled, never below the frames its CTC targets need.
        hand_drop: chance per frame and hand that a run of missing frames starts.
        hand_drop_frames: longest such run.
        finger_drop: chance per frame and hand that a run of frames with one finger folded
            onto its knuckle starts (runs as long as ``hand_drop_frames``).
        frame_drop: chance per frame that nobody is detected (every component missing).
        jitter: Gaussian landmark noise, standard deviation in shoulder widths.
        mirror_p: chance of a left-right mirror that swaps the hands (it changes the
            dominant hand; face points keep their indices, as there is no face-mesh
            symmetry table).
    """

    enabled: bool = False
    affine_p: float = 1.0
    rotate_deg: float = 5.0
    scale: float = 0.1
    aspect: float = 0.05
    shear: float = 0.05
    translate: float = 0.05
    body_p: float = 1.0
    shoulder_width: float = 0.05
    arm_length: float = 0.05
    hand_size: float = 0.05
    face_size: float = 0.05
    sign_size: float = 0.1
    speed_p: float = 1.0
    speed: float = 0.15
    hand_drop: float = 0.0
    hand_drop_frames: int = 4
    finger_drop: float = 0.0
    frame_drop: float = 0.0
    jitter: float = 0.0
    mirror_p: float = 0.0

    def __post_init__(self) -> None:
        probs = ("affine_p", "body_p", "speed_p", "hand_drop", "finger_drop", "frame_drop", "mirror_p")
        ranges = ("scale", "aspect", "shoulder_width", "arm_length", "hand_size", "face_size", "sign_size")
        bad = [k for k in probs if not 0.0 <= getattr(self, k) <= 1.0]
        bad += [k for k in ranges if not 0.0 <= getattr(self, k) < 1.0]
        bad += [k for k in ("rotate_deg", "shear", "translate", "speed", "jitter") if not getattr(self, k) >= 0.0]
        bad += ["hand_drop_frames"] * (self.hand_drop_frames < 1)
        if bad:
            raise IslposeError(
                "augment config: invalid value for " + ", ".join(f"{k}={getattr(self, k)!r}" for k in bad)
            )


def utterance_rng(seed: int, epoch: int, uid: str) -> np.random.Generator:
    """The generator of one utterance's augmentation in one epoch (the same in every process)."""
    return np.random.default_rng([seed, epoch, zlib.crc32(uid.encode("utf-8"))])


def min_frames(targets, subsample: int) -> int:
    """Fewest input frames that still fit ``targets`` under CTC at ``subsample`` (see islpose.ctc)."""
    return max(1, (min_ctc_frames(list(targets)) - 1) * subsample + 1)


def augment_landmarks(
    landmarks: np.ndarray,
    presence: np.ndarray,
    width: float,
    height: float,
    config: AugmentConfig,
    rng: np.random.Generator,
    min_length: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """One random augmentation of an utterance.

    Args:
        landmarks: (T, 543, 4) raw Holistic landmarks (x, y normalised to [0, 1], NaN where
            missing), or only their first :data:`POSE_ONLY` rows (T, 33, 4): the pose, all
            that the pose features read, 16x less work.
        presence: (T, 4) bool, pose / left hand / right hand / face detected.
        width, height: image size in pixels.
        config: what to change and by how much.
        rng: the utterance's generator (:func:`utterance_rng`).
        min_length: a speed change never leaves fewer frames than this (nor fewer than T
            when T is below it), e.g. :func:`min_frames` of the targets.

    Returns:
        (landmarks (T', N, 4) float32, presence (T', 4) bool), T' = T unless the speed changed.
    """
    if landmarks.ndim != 3 or landmarks.shape[1:] not in ((NUM_LANDMARKS, 4), (POSE_ONLY, 4)):
        raise ValueError(f"landmarks must be (T, 543, 4) or (T, 33, 4), got {landmarks.shape}")
    pts = np.moveaxis(landmarks, -1, 0).astype(np.float32)  # (4, T, N) planes: x, y, z, visibility
    pres = presence.copy()
    to_px = np.array([width, height, width], dtype=np.float32)[:, None, None]
    pts[:3] *= to_px  # pixels (z on the x scale, as MediaPipe)
    if rng.random() < config.body_p:
        _proportions(pts, config, rng)
    if rng.random() < config.mirror_p:
        pts, pres = _mirror(pts, pres, width)
    if rng.random() < config.affine_p:
        _affine(pts, config, rng, width, height)
    if config.jitter > 0:
        # landmark-major from a generator of its own: the pose rows get the same noise in a pose-only array
        own = np.random.default_rng(rng.integers(2**63))
        noise = own.standard_normal((pts.shape[2], 2, pts.shape[1]), dtype=np.float32).transpose(1, 2, 0)
        pts[:2] += noise * np.float32(config.jitter * _shoulder_width(pts, width))
    pts[:3] /= to_px
    if rng.random() < config.speed_p and config.speed > 0:
        pts, pres = _resample(pts, pres, rng, config.speed, min_length)
    _drop(pts, pres, config, rng)
    return np.ascontiguousarray(np.moveaxis(pts, 0, -1)), pres


def _uniform(rng: np.random.Generator, spread: float) -> float:
    return float(rng.uniform(1.0 - spread, 1.0 + spread)) if spread > 0 else 1.0


def _shoulder_width(pts: np.ndarray, width: float) -> float:
    """Median shoulder width in pixels (a quarter of the image width without a pose)."""
    d = np.hypot(*(pts[:2, :, LEFT_SHOULDER] - pts[:2, :, RIGHT_SHOULDER]))
    d = d[np.isfinite(d) & (d > 0)]
    return float(np.median(d)) if len(d) else width / 4.0


def _proportions(pts: np.ndarray, config: AugmentConfig, rng: np.random.Generator) -> None:
    """Other shoulder width, arm lengths, signing space, hand and face sizes, in place. pts (4, T, N) pixels."""
    xy = pts[:2]  # (2, T, N), a view
    full = pts.shape[2] == NUM_LANDMARKS
    centre = (xy[:, :, LEFT_SHOULDER] + xy[:, :, RIGHT_SHOULDER]) / 2  # (2, T)
    widen, arm, hand = (_uniform(rng, s) for s in (config.shoulder_width, config.arm_length, config.hand_size))
    face, space = _uniform(rng, config.face_size), _uniform(rng, config.sign_size)
    for shoulder, elbow, wrist, pose_hand, rows in _ARMS:
        old = xy[:, :, [shoulder, elbow, wrist]]  # (2, T, 3)
        new = np.empty_like(old)
        new[..., 0] = centre + widen * (old[..., 0] - centre)
        new[..., 1] = new[..., 0] + arm * (old[..., 1] - old[..., 0])
        new[..., 2] = new[..., 1] + arm * (old[..., 2] - old[..., 1])
        path = new[..., 2] - centre  # (2, T) the wrist relative to the shoulders
        if np.isfinite(path).any():
            wider = (space - 1) * (path - np.nanmean(path, axis=1, keepdims=True))
            new[..., 1] += wider / 2
            new[..., 2] += wider
        xy[:, :, [shoulder, elbow, wrist]] = new
        end = new[..., 2:]  # (2, T, 1) the new wrist
        shift = np.nan_to_num(end - old[..., 2:])  # the hands follow the wrist
        xy[:, :, pose_hand] = end + hand * (xy[:, :, pose_hand] + shift - end)
        if full:
            points = xy[:, :, rows] + shift
            xy[:, :, rows] = points[..., :1] + hand * (points - points[..., :1])
            pts[2, :, rows] *= hand
    nose = xy[:, :, SLICES["pose"].start]  # (2, T) the pose's nose, else the face mesh's
    if full:
        nose = np.where(np.isfinite(nose), nose, xy[:, :, SLICES["face"].start + FACE_NOSE_TIP])
    for rows in (_POSE_FACE, SLICES["face"]) if full else (_POSE_FACE,):
        xy[:, :, rows] = nose[..., None] + face * (xy[:, :, rows] - nose[..., None])


def _mirror(pts: np.ndarray, presence: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    """Left-right mirror: x -> width - x, the signer's left and right swapped."""
    out = pts[:, :, _MIRROR[: pts.shape[2]]]
    out[0] = width - out[0]
    return out, presence[:, [0, 2, 1, 3]]


def _affine(pts: np.ndarray, config: AugmentConfig, rng: np.random.Generator, width: float, height: float) -> None:
    """A random rotation, zoom, aspect change, shear and shift about the image centre, in place."""
    angle = math.radians(rng.uniform(-config.rotate_deg, config.rotate_deg))
    zoom, aspect = _uniform(rng, config.scale), _uniform(rng, config.aspect)
    shear = rng.uniform(-config.shear, config.shear)
    shift = rng.uniform(-config.translate, config.translate, size=2) * (width, height)
    cos, sin = math.cos(angle), math.sin(angle)
    (a, b), (c, d) = (
        np.array([[cos, -sin], [sin, cos]])
        @ np.array([[1.0, shear], [0.0, 1.0]])
        @ np.diag([zoom * aspect, zoom / aspect])
    )  # the 2 x 2 matrix
    x, y = pts[0] - width / 2, pts[1] - height / 2
    pts[0] = a * x + b * y + (width / 2 + shift[0])
    pts[1] = c * x + d * y + (height / 2 + shift[1])
    pts[2] *= zoom


def _resample(
    pts: np.ndarray, presence: np.ndarray, rng: np.random.Generator, spread: float, min_length: int
) -> tuple[np.ndarray, np.ndarray]:
    """Linear resampling in time to ``T / factor`` frames (nearest frame where a neighbour is
    missing). pts (4, T, N)."""
    T = pts.shape[1]
    factor = math.exp(rng.uniform(-math.log1p(spread), math.log1p(spread)))
    n = max(round(T / factor), min(T, min_length), 1)
    if n == T:
        return pts, presence
    pos = np.clip((np.arange(n) + 0.5) * T / n - 0.5, 0, T - 1)  # frame centres, as F.interpolate
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, T - 1)
    w = (pos - lo).astype(np.float32)[None, :, None]
    mixed = (1 - w) * pts[:, lo] + w * pts[:, hi]  # (4, n, N): NaN where a neighbour is missing
    nearest = np.rint(pos).astype(int)
    both = (presence[lo] & presence[hi])[:, COMPONENT_OF[: pts.shape[2]]]  # (n, N)
    return np.where(both, mixed, pts[:, nearest]), presence[nearest]


def _runs(rng: np.random.Generator, T: int, rate: float, longest: int, columns: int) -> np.ndarray:
    """(T, columns) bool: runs of 1..longest frames that start with chance ``rate`` per frame."""
    mask = np.zeros((T, columns), dtype=bool)
    if rate <= 0:
        return mask
    starts = np.argwhere(rng.random((T, columns)) < rate)
    lengths = rng.integers(1, longest + 1, size=len(starts))
    for (t, c), n in zip(starts, lengths):
        mask[t : t + n, c] = True
    return mask


def _drop(pts: np.ndarray, presence: np.ndarray, config: AugmentConfig, rng: np.random.Generator) -> None:
    """Missing hands, folded fingers and frames without anybody, in place. pts (4, T, N)."""
    T = pts.shape[1]
    hands = (SLICES["left_hand"], SLICES["right_hand"])
    folds = _runs(rng, T, config.finger_drop, config.hand_drop_frames, 2)
    for side, rows in enumerate(hands):
        frames = np.flatnonzero(folds[:, side])
        finger = int(rng.integers(5)) if len(frames) else 0
        if len(frames) and pts.shape[2] == NUM_LANDMARKS:  # (a pose-only array has no hands)
            tips = rows.start + _FINGER_MCP[finger] + np.arange(1, 4)
            pts[:, frames[:, None], tips] = pts[:, frames, rows.start + _FINGER_MCP[finger]][..., None]
    missing = _runs(rng, T, config.hand_drop, config.hand_drop_frames, 2)
    gone = rng.random(T) < config.frame_drop if config.frame_drop > 0 else np.zeros(T, dtype=bool)
    for comp, rows in enumerate(SLICES.values()):
        lost = gone | (missing[:, comp - 1] if comp in (1, 2) else False)
        presence[lost, comp] = False
        pts[:, np.flatnonzero(~presence[:, comp]), rows] = np.nan
