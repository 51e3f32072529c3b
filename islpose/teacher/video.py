"""The teacher's video data path: decode, sample, resize; a Dataset, a collate and a loader.

Frames are decoded with OpenCV in DataLoader workers and shipped to the main process as
``uint8`` (a quarter of the bytes of float32); :func:`normalize_frames` turns them into
normalised floats on the device, where that costs nothing.

Sampling (:class:`VideoConfig`): ``num_frames > 0`` samples every clip uniformly to exactly
that many frames (frames repeat when the clip is shorter); otherwise every
``frame_stride``-th frame is kept, clips longer than ``max_frames`` are uniformly
subsampled to it, and the collate pads each batch to the smallest of ``buckets`` that
holds its longest clip (fixed shapes for compiled models, less padding than one size).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from islpose.errors import IslposeError

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


@dataclass
class VideoConfig:
    """How videos become model input (YAML section ``video``).

    Attributes:
        size: frames are resized to ``size x size`` pixels.
        num_frames: > 0: sample every clip uniformly to exactly this many frames.
        frame_stride: with ``num_frames == 0``, keep every k-th frame.
        max_frames: with ``num_frames == 0``, longer clips are uniformly subsampled to this.
        buckets: with ``num_frames == 0``, padded batch lengths (e.g. ``[16, 32, 64, 128]``);
            empty: pad to the longest clip of the batch.
        fit: ``stretch`` (resize to a square) or ``pad`` (keep the aspect ratio, pad with
            the mean colour).
        mean: per-channel RGB mean of :func:`normalize_frames` (0-1 scale).
        std: per-channel RGB standard deviation.
        cache_mb: bounded LRU cache of decoded clips, in MiB per loader process
            (each DataLoader worker holds its own); 0 disables it.
    """

    size: int = 224
    num_frames: int = 0
    frame_stride: int = 1
    max_frames: int = 128
    buckets: list = field(default_factory=list)
    fit: str = "stretch"
    mean: list = field(default_factory=lambda: list(IMAGENET_MEAN))
    std: list = field(default_factory=lambda: list(IMAGENET_STD))
    cache_mb: float = 0.0

    def __post_init__(self) -> None:
        bad = [
            name
            for name, ok in {
                "size": self.size >= 16,
                "num_frames": self.num_frames >= 0,
                "frame_stride": self.frame_stride >= 1,
                "max_frames": self.max_frames >= 1,
                "fit": self.fit in ("stretch", "pad"),
                "cache_mb": self.cache_mb >= 0,
                "buckets": all(isinstance(b, int) and b >= 1 for b in self.buckets),
                "mean": len(self.mean) == 3,
                "std": len(self.std) == 3 and all(s > 0 for s in self.std),
            }.items()
            if not ok
        ]
        if bad:
            raise IslposeError(f"video config: invalid value for {', '.join(f'{k}={getattr(self, k)!r}' for k in bad)}")
        self.buckets = sorted(set(self.buckets))


def sample_indices(num_source: int, config: VideoConfig) -> np.ndarray:
    """Which source frames a clip of ``num_source`` frames is sampled to: (T,) int64, sorted."""

    def uniform(n: int, k: int) -> np.ndarray:  # centres of k equal segments of [0, n)
        return ((np.arange(k) + 0.5) * n / k).astype(np.int64)

    if config.num_frames:
        return uniform(num_source, config.num_frames)
    idx = np.arange(0, num_source, config.frame_stride, dtype=np.int64)
    return idx[uniform(len(idx), config.max_frames)] if len(idx) > config.max_frames else idx


def _resize(img: np.ndarray, config: VideoConfig) -> np.ndarray:
    """(H, W, 3) BGR uint8 -> (size, size, 3) RGB uint8."""
    import cv2

    s = config.size
    h, w = img.shape[:2]
    if config.fit == "stretch":
        out = cv2.resize(img, (s, s), interpolation=cv2.INTER_AREA)
    else:
        scale = s / max(h, w)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        small = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
        out = np.empty((s, s, 3), np.uint8)
        out[:] = np.round(np.array(config.mean[::-1]) * 255).astype(np.uint8)  # BGR order here
        top, left = (s - nh) // 2, (s - nw) // 2
        out[top : top + nh, left : left + nw] = small
    return cv2.cvtColor(out, cv2.COLOR_BGR2RGB)


def _decode(path: Path, config: VideoConfig, sample: bool) -> tuple[np.ndarray, dict]:
    """Decodes ``path`` sequentially; with ``sample``, converts only the frames that the
    container's frame count says will be sampled (grab decodes, retrieve converts)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise IslposeError(f"{path}: cannot open video (not a video file, or an unsupported codec)")
        hint = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        info = {
            "fps": float(cap.get(cv2.CAP_PROP_FPS) or 0.0),
            "width": int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            "height": int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        }
        wanted = sample_indices(hint, config) if sample and hint > 0 else None
        keep = None if wanted is None else set(wanted.tolist())
        frames: dict[int, np.ndarray] = {}
        n = 0
        while cap.grab():
            if keep is None or n in keep:
                ok, img = cap.retrieve()
                if not ok or img is None:
                    raise IslposeError(f"{path}: frame {n} cannot be decoded (corrupt video)")
                frames[n] = _resize(img, config)
            n += 1
    finally:
        cap.release()
    if n == 0:
        raise IslposeError(f"{path}: no decodable frames (truncated or not a video)")
    if wanted is None:
        wanted = sample_indices(n, config)
    elif n != hint:  # the container's frame count was wrong: decode again, keeping every frame
        return _decode(path, config, sample=False)
    info.update(num_frames=n, indices=wanted)
    return np.stack([frames[i] for i in wanted.tolist()]), info  # (T, S, S, 3)


def read_video(path: str | Path, config: VideoConfig | None = None) -> tuple[np.ndarray, dict]:
    """Decodes, samples and resizes one video.

    Args:
        path: the video file.
        config: sampling and size (defaults: every frame, 224x224).

    Returns:
        ``frames`` (T, size, size, 3) uint8 RGB and ``info``: ``fps``, ``width``,
        ``height``, ``num_frames`` (of the source) and ``indices`` (the sampled source frames).

    Raises:
        IslposeError: the file is missing, empty, not a video, or has no decodable frame.
    """
    path = Path(path)
    if not path.is_file():
        raise IslposeError(f"{path}: video not found")
    if path.stat().st_size == 0:
        raise IslposeError(f"{path}: empty file (0 bytes), not a video")
    return _decode(path, config or VideoConfig(), sample=True)


def normalize_frames(
    frames: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> torch.Tensor:
    """uint8 frames (..., 3, H, W) -> float32 ``(x / 255 - mean) / std`` on the same device."""
    mean_t = torch.tensor(mean, device=frames.device).view(3, 1, 1)
    std_t = torch.tensor(std, device=frames.device).view(3, 1, 1)
    return (frames.float().div_(255) - mean_t) / std_t


class _ClipCache:
    """LRU cache of decoded clips, bounded in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes, self.bytes, self.hits, self.misses = max_bytes, 0, 0, 0
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()

    def get(self, key: str) -> np.ndarray | None:
        clip = self._items.get(key)
        if clip is None:
            self.misses += 1
            return None
        self.hits += 1
        self._items.move_to_end(key)
        return clip

    def put(self, key: str, clip: np.ndarray) -> None:
        if clip.nbytes > self.max_bytes or key in self._items:
            return
        self._items[key] = clip
        self.bytes += clip.nbytes
        while self.bytes > self.max_bytes:
            self.bytes -= self._items.popitem(last=False)[1].nbytes

    def __len__(self) -> int:
        return len(self._items)


class VideoDataset(Dataset):
    """Utterances -> ``{"id", "frames" (T, 3, S, S) uint8, "glosses" (N,) long, "text" (L,) long}``.

    Args:
        utterances: manifest utterances, each with a ``video``.
        config: sampling, size and cache.
        gloss_vocab: when given, ``glosses`` holds CTC targets (every utterance needs glosses).
        text_vocab: when given, ``text`` holds ``<bos> words <eos>`` (every utterance needs text).
        skip_errors: an unreadable video yields ``{"id", "error"}`` (the collate lists it
            under ``failures``) instead of raising.
    """

    def __init__(
        self,
        utterances: Sequence[Any],
        config: VideoConfig,
        *,
        gloss_vocab: Any = None,
        text_vocab: Any = None,
        skip_errors: bool = False,
    ) -> None:
        needed = ["video"] + ["glosses"] * (gloss_vocab is not None) + ["text"] * (text_vocab is not None)
        for name in needed:
            missing = [u.id for u in utterances if not getattr(u, name)]
            if missing:
                raise IslposeError(f"{len(missing)} utterance(s) have no {name!r}, e.g. {missing[0]!r}")
        self.utterances = list(utterances)
        self.config = config
        self.gloss_vocab, self.text_vocab, self.skip_errors = gloss_vocab, text_vocab, skip_errors
        self.cache = _ClipCache(int(config.cache_mb * 2**20)) if config.cache_mb > 0 else None

    def __len__(self) -> int:
        return len(self.utterances)

    def clip(self, i: int) -> np.ndarray:
        """Decoded frames of utterance ``i``: (T, S, S, 3) uint8, from the cache when there."""
        utt = self.utterances[i]
        clip = self.cache.get(utt.video) if self.cache is not None else None
        if clip is None:
            clip = read_video(utt.video, self.config)[0]
            if self.cache is not None:
                self.cache.put(utt.video, clip)
        return clip

    def __getitem__(self, i: int) -> dict:
        utt = self.utterances[i]
        try:
            clip = self.clip(i)
        except IslposeError as exc:
            if not self.skip_errors:
                raise
            return {"id": utt.id, "error": str(exc)}
        item = {"id": utt.id, "frames": torch.from_numpy(clip).permute(0, 3, 1, 2)}  # (T, 3, S, S)
        if self.gloss_vocab is not None:
            item["glosses"] = torch.tensor(self.gloss_vocab.encode(utt.glosses), dtype=torch.long)
        if self.text_vocab is not None:
            item["text"] = torch.tensor(self.text_vocab.encode(utt.text), dtype=torch.long)
        return item


@dataclass
class VideoBatch:
    """A padded batch.

    Attributes:
        ids: utterance ids, (B,).
        frames: (B, T, 3, S, S) uint8, zero after each clip's length.
        lengths: (B,) long, frames per clip.
        targets: (B, N) long gloss ids padded with 0, or None.
        target_lengths: (B,) long, or None.
        text: (B, L) long ``<bos> ... <eos>`` padded with ``<pad>`` (0), or None.
        failures: ``(id, message)`` of the clips that could not be read (``skip_errors``).
    """

    ids: list
    frames: torch.Tensor
    lengths: torch.Tensor
    targets: torch.Tensor | None = None
    target_lengths: torch.Tensor | None = None
    text: torch.Tensor | None = None
    failures: list = field(default_factory=list)

    def to(self, device: Any, non_blocking: bool = False) -> VideoBatch:
        move = lambda t: None if t is None else t.to(device, non_blocking=non_blocking)  # noqa: E731
        return replace(
            self,
            frames=move(self.frames),
            lengths=move(self.lengths),
            targets=move(self.targets),
            target_lengths=move(self.target_lengths),
            text=move(self.text),
        )


def _pad(seqs: list[torch.Tensor], length: int, value: int = 0) -> torch.Tensor:
    out = seqs[0].new_full((len(seqs), length) + tuple(seqs[0].shape[1:]), value)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return out


class VideoCollate:
    """Pads :class:`VideoDataset` items into a :class:`VideoBatch` (picklable for workers).

    Args:
        buckets: sorted padded lengths; a batch is padded to the smallest one that holds
            its longest clip (longer batches: to their longest clip).
    """

    def __init__(self, buckets: Sequence[int] = ()) -> None:
        self.buckets = sorted(buckets)

    def __call__(self, items: list[dict]) -> VideoBatch:
        failures = [(it["id"], it["error"]) for it in items if "error" in it]
        items = [it for it in items if "error" not in it]
        if not items:
            empty = torch.zeros((0, 0, 3, 1, 1), dtype=torch.uint8)
            return VideoBatch([], empty, torch.zeros(0, dtype=torch.long), failures=failures)
        lengths = torch.tensor([len(it["frames"]) for it in items], dtype=torch.long)
        longest = int(lengths.max())
        padded = next((b for b in self.buckets if b >= longest), longest)
        batch = VideoBatch(
            [it["id"] for it in items], _pad([it["frames"] for it in items], padded), lengths, failures=failures
        )
        if "glosses" in items[0]:
            glosses = [it["glosses"] for it in items]
            batch.target_lengths = torch.tensor([len(g) for g in glosses], dtype=torch.long)
            batch.targets = _pad(glosses, max(1, int(batch.target_lengths.max())))
        if "text" in items[0]:
            texts = [it["text"] for it in items]
            batch.text = _pad(texts, max(len(t) for t in texts))
        return batch


def _worker_init(_: int) -> None:
    import cv2

    cv2.setNumThreads(1)  # one decoder thread per worker; the workers are the parallelism
    torch.set_num_threads(1)


def make_loader(
    dataset: VideoDataset,
    batch_size: int,
    *,
    num_workers: int = 0,
    shuffle: bool = False,
    sampler: Any = None,
    pin_memory: bool = False,
    prefetch_factor: int = 4,
    drop_last: bool = False,
) -> DataLoader:
    """A DataLoader that decodes in ``num_workers`` processes (persistent, so caches survive epochs).

    Workers are spawned, not forked: OpenCV's thread pool does not survive ``fork`` (a
    forked worker of a process that already used cv2 deadlocks in its first cv2 call).
    """
    extra = (
        {
            "prefetch_factor": prefetch_factor,
            "persistent_workers": True,
            "worker_init_fn": _worker_init,
            "multiprocessing_context": "spawn",
        }
        if num_workers > 0
        else {}
    )
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=VideoCollate(dataset.config.buckets),
        pin_memory=pin_memory,
        drop_last=drop_last,
        **extra,
    )
