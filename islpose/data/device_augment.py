"""Landmark augmentation and features of a whole padded batch in torch, on the training device.

The DataLoader only reads (and pads) raw landmarks; :class:`DeviceAugment` then augments
them and computes the features per batch where the model runs. The changes and their
distributions are those of :mod:`islpose.data.augment` (the per-utterance numpy version,
which documents each change): body proportions, mirror, affine map, jitter, speed,
dropped hands, folded fingers and dropped frames.

A batch's draws come from a generator on the device seeded from ``(seed, epoch, step,
rank)`` (:func:`batch_seed`), so a run draws the same whatever its DataLoader workers, and a
resumed run (which restarts at an epoch boundary) draws what an uninterrupted one would.
Padded frames (at and after each utterance's length) are set to missing before anything is
drawn or measured: they never enter a statistic, and their features are zero.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch

from islpose.data.augment import _ARMS, _FINGER_MCP, _MIRROR, _POSE_FACE, AugmentConfig
from islpose.data.dataset import FeatureDataset
from islpose.features.layout import COMPONENT_OF, FACE_NOSE_TIP, LEFT_SHOULDER, NUM_LANDMARKS, RIGHT_SHOULDER, SLICES
from islpose.features.torch_compute import FEATURE_FUNCTIONS, valid_frames

# Columns of the per-utterance uniform draws of :func:`augment_batch`.
_BODY, _WIDEN, _ARM, _HAND, _FACE, _SPACE, _MIRROR_P, _AFFINE, _ANGLE, _ZOOM, _ASPECT, _SHEAR, _SHIFT_X, _SHIFT_Y, \
    _SPEED_P, _SPEED, _FINGER_L, _FINGER_R = range(18)


#: utterances augmented at once on the CPU (see :class:`DeviceAugment`)
CPU_CHUNK = 4


def batch_seed(seed: int, epoch: int, step: int, rank: int = 0) -> int:
    """The seed of one batch's draws (63 bits, the same in every process)."""
    return int(np.random.SeedSequence([seed, epoch, step, rank]).generate_state(1, np.uint64)[0] >> np.uint64(1))


def _between(u: torch.Tensor, low: float, high: float) -> torch.Tensor:
    return low + (high - low) * u


def _around_one(u: torch.Tensor, spread: float) -> torch.Tensor:
    """Uniform in [1 - spread, 1 + spread] from uniform ``u`` (B,)."""
    return _between(u, 1.0 - spread, 1.0 + spread)


def _col(values: torch.Tensor) -> torch.Tensor:
    """(B,) -> (B, 1, 1) for broadcasting over (B, T, N) or (B, T, 2)."""
    return values[:, None, None]


def _proportions(pts: torch.Tensor, u: torch.Tensor, config: AugmentConfig) -> None:
    """Other shoulder width, arm lengths, signing space, hand and face sizes, in place (factors
    of 1 for the utterances that ``body_p`` leaves alone). pts (B, T, N, C) pixels."""
    xy = pts[..., :2]  # (B, T, N, 2), a view
    full = pts.shape[2] == NUM_LANDMARKS
    centre = (xy[:, :, LEFT_SHOULDER] + xy[:, :, RIGHT_SHOULDER]) / 2  # (B, T, 2)
    gate = u[:, _BODY] < config.body_p

    def factor(k: int, spread: float) -> torch.Tensor:  # (B, 1, 1)
        return _col(torch.where(gate, _around_one(u[:, k], spread), 1.0))

    widen, arm, hand = factor(_WIDEN, config.shoulder_width), factor(_ARM, config.arm_length), factor(
        _HAND, config.hand_size)
    face, space = factor(_FACE, config.face_size), factor(_SPACE, config.sign_size)
    for shoulder, elbow, wrist, pose_hand, rows in _ARMS:
        old = [xy[:, :, i].clone() for i in (shoulder, elbow, wrist)]  # (B, T, 2) each
        n0 = centre + widen * (old[0] - centre)
        n1 = n0 + arm * (old[1] - old[0])
        n2 = n1 + arm * (old[2] - old[1])
        path = n2 - centre  # the wrist relative to the shoulders
        known = torch.isfinite(path).flatten(1).any(dim=1)[:, None, None]  # (B, 1, 1)
        wider = (space - 1) * (path - torch.nanmean(path, dim=1, keepdim=True))
        n1 = torch.where(known, n1 + wider / 2, n1)
        n2 = torch.where(known, n2 + wider, n2)
        xy[:, :, shoulder], xy[:, :, elbow], xy[:, :, wrist] = n0, n1, n2
        shift = torch.nan_to_num(n2 - old[2])[:, :, None]  # (B, T, 1, 2) the hands follow the wrist
        end = n2[:, :, None]
        xy[:, :, pose_hand] = end + hand[..., None] * (xy[:, :, pose_hand] + shift - end)
        if full:
            points = xy[:, :, rows] + shift
            xy[:, :, rows] = points[:, :, :1] + hand[..., None] * (points - points[:, :, :1])
            pts[:, :, rows, 2] *= hand
    nose = xy[:, :, SLICES["pose"].start]  # (B, T, 2) the pose's nose, else the face mesh's
    if full:
        nose = torch.where(torch.isfinite(nose), nose, xy[:, :, SLICES["face"].start + FACE_NOSE_TIP])
    nose = nose[:, :, None]
    for rows in (_POSE_FACE, SLICES["face"]) if full else (_POSE_FACE,):
        xy[:, :, rows] = nose + face[..., None] * (xy[:, :, rows] - nose)


def _affine(pts: torch.Tensor, u: torch.Tensor, config: AugmentConfig, wh: torch.Tensor) -> None:
    """A random rotation, zoom, aspect change, shear and shift about the image centre, in place
    (the identity for the utterances that ``affine_p`` leaves alone). pts (B, T, N, C) pixels."""
    gate = u[:, _AFFINE] < config.affine_p
    angle = _between(u[:, _ANGLE], -1.0, 1.0) * math.radians(config.rotate_deg) * gate
    zoom = torch.where(gate, _around_one(u[:, _ZOOM], config.scale), 1.0)
    aspect = torch.where(gate, _around_one(u[:, _ASPECT], config.aspect), 1.0)
    shear = _between(u[:, _SHEAR], -config.shear, config.shear) * gate
    shift = _between(u[:, [_SHIFT_X, _SHIFT_Y]], -config.translate, config.translate) * wh * gate[:, None]  # (B, 2)
    cos, sin = torch.cos(angle), torch.sin(angle)
    zx, zy = zoom * aspect, zoom / aspect  # rotation @ shear @ diag(zx, zy)
    a, b = _col(cos * zx), _col((cos * shear - sin) * zy)
    c, d = _col(sin * zx), _col((sin * shear + cos) * zy)
    half = wh / 2
    x, y = pts[..., 0] - _col(half[:, 0]), pts[..., 1] - _col(half[:, 1])
    pts[..., 0] = (a * x).addcmul_(b, y).add_(_col(half[:, 0] + shift[:, 0]))
    pts[..., 1] = (c * x).addcmul_(d, y).add_(_col(half[:, 1] + shift[:, 1]))
    pts[..., 2] *= _col(zoom)


def _shoulder_width(pts: torch.Tensor, wh: torch.Tensor) -> torch.Tensor:
    """(B,) median shoulder width in pixels over the frames with both shoulders (a quarter of the width without)."""
    d = torch.linalg.vector_norm(pts[:, :, LEFT_SHOULDER, :2] - pts[:, :, RIGHT_SHOULDER, :2], dim=-1)  # (B, T)
    d = torch.where(torch.isfinite(d) & (d > 0), d, torch.nan)
    median = torch.nanquantile(d, 0.5, dim=1)
    return torch.where(torch.isfinite(median), median, wh[:, 0] / 4)


def _jitter(pts: torch.Tensor, gen: torch.Generator, config: AugmentConfig, wh: torch.Tensor) -> None:
    """Gaussian x, y noise of ``jitter`` shoulder widths, from a generator of its own; the pose rows
    are drawn first, so a pose-only batch gets the pose rows' noise of the full one."""
    own = torch.Generator(device=pts.device).manual_seed(int(torch.randint(2**62, (1,), generator=gen,
                                                                           device=pts.device)))
    B, T, N, _ = pts.shape
    parts = [torch.randn((B, T, min(N, 33), 2), generator=own, device=pts.device)]
    if N > 33:
        parts.append(torch.randn((B, T, N - 33, 2), generator=own, device=pts.device))
    pts[..., :2] += torch.cat(parts, dim=2) * _col(config.jitter * _shoulder_width(pts, wh))[..., None]


def _take(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """values (B, T, ...) at frames index (B, T') -> (B, T', ...) (whole frames copied)."""
    B, T = values.shape[:2]
    rows = (index + torch.arange(B, device=index.device)[:, None] * T).reshape(-1)
    return values.reshape(B * T, *values.shape[2:])[rows].reshape(*index.shape, *values.shape[2:])


def _resample(pts: torch.Tensor, presence: torch.Tensor, lengths: torch.Tensor, u: torch.Tensor,
              config: AugmentConfig, min_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Linear resampling in time to ``L / factor`` frames (nearest frame where a neighbour is
    missing), for the utterances whose speed changes. pts (B, T, N, C)."""
    spread = math.log1p(config.speed)
    factor = torch.exp(_between(u[:, _SPEED], -spread, spread).double())
    L = lengths.double()
    n = torch.maximum(torch.round(L / factor), torch.minimum(L, min_lengths.double())).clamp(min=1).long()
    change = (u[:, _SPEED_P] < config.speed_p) & (config.speed > 0) & (n != lengths)
    n = torch.where(change, n, lengths)
    T_new = int(n.max())
    t = torch.arange(T_new, device=pts.device, dtype=torch.float64)
    last = (L - 1).clamp(min=0)[:, None]
    pos = torch.minimum(((t + 0.5)[None] * L[:, None] / n[:, None].double() - 0.5).clamp(min=0), last)  # (B, T')
    lo = pos.floor().long()
    hi = torch.minimum(lo + 1, last.long())
    w = (pos - lo).to(pts.dtype)[..., None, None]
    mixed = (1 - w) * _take(pts, lo) + w * _take(pts, hi)  # (B, T', N, C)
    nearest = torch.round(pos).long()
    component = torch.as_tensor(COMPONENT_OF[:pts.shape[2]], device=pts.device)
    both = (_take(presence, lo) & _take(presence, hi))[:, :, component]  # (B, T', N)
    resampled = torch.where(both[..., None], mixed, _take(pts, nearest))
    if bool(change.all()):
        return resampled, _take(presence, nearest), n
    same = torch.arange(T_new, device=pts.device).clamp(max=pts.shape[1] - 1).expand(len(pts), T_new)
    pts = torch.where(change[:, None, None, None], resampled, _take(pts, same))
    presence = torch.where(change[:, None, None], _take(presence, nearest), _take(presence, same))
    return pts, presence, n


def _runs(gen: torch.Generator, shape: tuple[int, ...], rate: float, longest: int, device) -> torch.Tensor:
    """(B, T, C) bool: runs of 1..longest frames that start with chance ``rate`` per frame."""
    mask = torch.zeros(shape, dtype=torch.bool, device=device)
    if rate <= 0:
        return mask
    starts = torch.rand(shape, generator=gen, device=device) < rate
    runs = torch.randint(1, longest + 1, shape, generator=gen, device=device)
    T = shape[1]
    for k in range(min(longest, T)):
        mask[:, k:] |= (starts & (runs > k))[:, :T - k]
    return mask


def _drop(pts: torch.Tensor, presence: torch.Tensor, u: torch.Tensor, gen: torch.Generator,
          config: AugmentConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Folded fingers, missing hands and frames without anybody. pts (B, T, N, C), presence (B, T, 4)."""
    B, T, N, _ = pts.shape
    dev = pts.device
    folds = _runs(gen, (B, T, 2), config.finger_drop, config.hand_drop_frames, dev)
    if N == NUM_LANDMARKS and bool(folds.any()):  # (a pose-only array has no hands)
        pts = pts.clone()
        mcp_of = torch.as_tensor(_FINGER_MCP, device=dev)
        batch = torch.arange(B, device=dev)
        for side, (rows, k) in enumerate(((SLICES["left_hand"], _FINGER_L), (SLICES["right_hand"], _FINGER_R))):
            mcp = rows.start + mcp_of[(u[:, k] * 5).long().clamp(max=4)]  # (B,) the knuckle row of the finger
            knuckle = pts[batch, :, mcp]  # (B, T, C)
            fold = folds[:, :, side, None]
            for j in range(1, 4):
                pts[batch, :, mcp + j] = torch.where(fold, knuckle, pts[batch, :, mcp + j])
    missing = _runs(gen, (B, T, 2), config.hand_drop, config.hand_drop_frames, dev)
    gone = (torch.rand((B, T), generator=gen, device=dev) < config.frame_drop if config.frame_drop > 0
            else torch.zeros((B, T), dtype=torch.bool, device=dev))
    lost = torch.stack([gone, gone | missing[..., 0], gone | missing[..., 1], gone], dim=-1)
    presence = presence & ~lost
    component = torch.as_tensor(COMPONENT_OF[:N], device=dev)
    return pts.masked_fill_(~presence[:, :, component, None], torch.nan), presence


def augment_batch(landmarks: torch.Tensor, presence: torch.Tensor, lengths: torch.Tensor, sizes: torch.Tensor,
                  config: AugmentConfig, generator: torch.Generator, min_lengths: torch.Tensor | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One random augmentation of each utterance of a padded batch.

    Args:
        landmarks: (B, T, N, C) raw Holistic landmarks (x, y in [0, 1], NaN where missing),
            N = 543 or the 33 pose rows (all that the pose features read), C = 4 or only x, y, z
            (3: what the features read; a visibility channel is carried along unchanged).
        presence: (B, T, 4) bool.
        lengths: (B,) long frames per utterance; later frames are padding (never read).
        sizes: (B, 2) image width and height in pixels.
        config: what to change and by how much.
        generator: the batch's generator, on the landmarks' device (see :func:`batch_seed`).
        min_lengths: (B,) long; a speed change never leaves fewer frames (nor fewer than the
            length when that is below it). Default 1.

    Returns:
        landmarks (B, T', N, C) float32 (NaN where missing and after each length), presence
        (B, T', 4) bool, lengths (B,) long.
    """
    B, T, N, _ = landmarks.shape
    dev = landmarks.device
    valid = valid_frames(lengths, T)
    pres = presence.bool() & valid[..., None]
    pts = landmarks.to(torch.float32, copy=True).masked_fill_(~valid[:, :, None, None], torch.nan)
    wh = sizes.to(dev, torch.float32)
    to_px = torch.stack([wh[:, 0], wh[:, 1], wh[:, 0]], dim=-1)[:, None, None]  # (B, 1, 1, 3)
    pts[..., :3] *= to_px  # pixels (z on the x scale, as MediaPipe)
    u = torch.rand((B, 18), generator=generator, device=dev)
    if config.body_p > 0:
        _proportions(pts, u, config)
    if config.mirror_p > 0:
        gate = (u[:, _MIRROR_P] < config.mirror_p)[:, None, None, None]
        mirrored = pts[:, :, torch.as_tensor(_MIRROR[:N], device=dev)]
        mirrored[..., 0] = wh[:, 0, None, None] - mirrored[..., 0]
        pts = torch.where(gate, mirrored, pts)
        pres = torch.where(gate[..., 0], pres[..., [0, 2, 1, 3]], pres)
    if config.affine_p > 0:
        _affine(pts, u, config, wh)
    if config.jitter > 0:
        _jitter(pts, generator, config, wh)
    pts[..., :3] /= to_px
    if config.speed_p > 0 and config.speed > 0:
        floor = min_lengths.to(dev) if min_lengths is not None else torch.ones_like(lengths)
        pts, pres, lengths = _resample(pts, pres, lengths, u, config, floor)
    pres = pres & valid_frames(lengths, pts.shape[1])[..., None]
    return (*_drop(pts, pres, u, generator, config), lengths)


class DeviceAugment:
    """Augments a batch of raw landmarks and computes its features, on the batch's device.

    Args:
        config: the augmentation.
        feature: ``"pose"`` (66-d) or ``"multimodal"`` (6516-d).
        seed: the run's seed.
        rank: the DDP rank (each rank draws its own).
        chunk: utterances augmented at once (one after the other from the batch's generator);
            default: the whole batch on an accelerator, :data:`CPU_CHUNK` on the CPU, where
            small chunks stay in the caches (about 1.7x faster than a batch of 32 at once)
            and need less memory.
    """

    def __init__(self, config: AugmentConfig, feature: str, seed: int, rank: int = 0, chunk: int | None = None) -> None:
        if feature not in FEATURE_FUNCTIONS:
            raise ValueError(f"augmentation computes {' or '.join(FEATURE_FUNCTIONS)} features, not {feature!r}")
        self.config, self.feature, self.seed, self.rank, self.chunk = config, feature, seed, rank, chunk

    def generator(self, epoch: int, step: int, device: torch.device) -> torch.Generator:
        """The generator of batch ``step`` of ``epoch`` (on ``device``)."""
        return torch.Generator(device=device).manual_seed(batch_seed(self.seed, epoch, step, self.rank))

    def __call__(self, batch: dict[str, Any], epoch: int, step: int,
                 device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(features (B, T', D) float32, lengths (B,) long) on ``device`` of a :func:`collate_landmarks` batch."""
        landmarks = batch["landmarks"].to(device, non_blocking=True)
        presence, lengths = batch["presence"].to(device), batch["lengths"].to(device)
        sizes, min_lengths = batch["sizes"].to(device), batch["min_lengths"].to(device)
        generator, function = self.generator(epoch, step, device), FEATURE_FUNCTIONS[self.feature][1]
        chunk = self.chunk or (CPU_CHUNK if device.type == "cpu" else len(landmarks))
        parts = []
        for i in range(0, len(landmarks), chunk):
            part = slice(i, i + chunk)
            frames = int(lengths[part].max())
            lm, pres, n = augment_batch(landmarks[part, :frames], presence[part, :frames], lengths[part], sizes[part],
                                        self.config, generator, min_lengths[part])
            parts.append((function(lm, pres, n, sizes[part]), n))
        if len(parts) == 1:
            return parts[0]
        frames = max(f.shape[1] for f, _ in parts)
        features = torch.zeros((len(landmarks), frames, parts[0][0].shape[2]), device=device)  # (B, T', D)
        for i, (f, _) in zip(range(0, len(landmarks), chunk), parts):
            features[i:i + len(f), :f.shape[1]] = f
        return features, torch.cat([n for _, n in parts])


class LandmarkDataset(FeatureDataset):
    """A :class:`FeatureDataset` with ``augment`` enabled whose items are the raw landmarks
    (not features): what :class:`DeviceAugment` needs. Items: ``id``, ``landmarks`` (T, N, 3)
    float32 x, y, z (N = 33 for pose features, 543 for multimodal; the visibility, which no
    feature reads, is not kept: a quarter less memory), ``presence`` (T, 4) bool, ``size``
    (width, height), ``min_length`` (fewest frames a speed change may leave) and ``targets``.

    Within the ``preload_gb`` budget each item is kept in memory from its first read on,
    in the process that reads it: construction reads nothing, and with DataLoader workers
    the first epoch's reading overlaps training (persistent workers keep what they read).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._constructing = True  # FeatureDataset.__init__ reads nothing through _load
        super().__init__(*args, **kwargs)
        self._constructing = False

    def _load(self, store, uid: str):
        if self._constructing:
            return None
        rows = FEATURE_FUNCTIONS[self.feature][0]
        return store.read(uid, "landmarks")[:, :rows, :3].copy(), store.read(uid, "presence")

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        index = key[1] if isinstance(key, tuple) else key
        arrays = self._features[index] if self._features is not None else None
        if arrays is None:
            arrays = self._read(index)
            if self._features is not None:
                self._features[index] = arrays
        landmarks, presence = arrays
        return {"id": self.ids[index], "landmarks": landmarks, "presence": presence, "size": self.sizes[index],
                "min_length": self.min_lengths[index], "targets": self.targets[index]}


def collate_landmarks(batch: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Pads :class:`LandmarkDataset` items into one batch.

    Returns:
        ``landmarks`` (B, T_max, N, C) float32 (NaN after each length), ``presence`` (B, T_max,
        4) bool, ``lengths`` (B,) long, ``sizes`` (B, 2) float64, ``min_lengths`` (B,) long,
        ``ids``, ``targets`` (sum L,) long, ``target_lengths`` (B,) long; any other item
        field (an array (N, ...)) as :func:`islpose.data.dataset.collate` pads it.
    """
    from islpose.data.dataset import collate

    lengths = [len(item["landmarks"]) for item in batch]
    first = batch[0]["landmarks"]
    landmarks = torch.full((len(batch), max(lengths), *first.shape[1:]), torch.nan, dtype=torch.float32)
    presence = torch.zeros((len(batch), max(lengths), 4), dtype=torch.bool)
    for i, item in enumerate(batch):
        landmarks[i, :lengths[i]] = torch.from_numpy(np.asarray(item["landmarks"], dtype=np.float32))
        presence[i, :lengths[i]] = torch.from_numpy(np.asarray(item["presence"], dtype=bool))
    rest = [{"features": np.zeros((1, 1), np.float32), **{k: v for k, v in item.items()
            if k not in ("landmarks", "presence", "size", "min_length")}} for item in batch]
    out = collate(rest)  # ids, targets and extra fields (distillation)
    out.update(landmarks=landmarks, presence=presence, lengths=torch.tensor(lengths, dtype=torch.long),
               sizes=torch.tensor([item["size"] for item in batch], dtype=torch.float64),
               min_lengths=torch.tensor([item["min_length"] for item in batch], dtype=torch.long))
    del out["features"]
    return out
