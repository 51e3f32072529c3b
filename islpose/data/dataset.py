"""Utterances of a feature store as CTC training examples, and their collation."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from islpose.data.augment import POSE_ONLY, AugmentConfig, augment_landmarks, min_frames, utterance_rng
from islpose.errors import IslposeError
from islpose.features.compute import multimodal_features, pose_features
from islpose.features.layout import NUM_LANDMARKS
from islpose.io import FeatureStore
from islpose.manifests import Utterance
from islpose.vocab import Vocabulary


def _pose_features(pose: np.ndarray, presence: np.ndarray, width: float, height: float) -> np.ndarray:
    """pose_features of pose-only landmarks (T, 33, 4): the other rows are never read."""
    landmarks = np.full((len(pose), NUM_LANDMARKS, 4), np.nan, dtype=np.float32)
    landmarks[:, :POSE_ONLY] = pose
    return pose_features(landmarks, presence, width, height)


# feature -> (landmark rows that augmentation keeps and changes, the feature function (float32))
FEATURES = {
    "pose": (POSE_ONLY, _pose_features),
    "multimodal": (NUM_LANDMARKS, lambda lm, presence, w, h: multimodal_features(lm, presence, w, h, np.float32)),
}


class FeatureDataset(torch.utils.data.Dataset):
    """One feature dataset (``pose`` or ``multimodal``) of the utterances of a split.

    Features are read from the store once and kept in memory (in their stored dtype) when
    they take at most ``preload_gb`` GiB; otherwise each item is read on access (one open
    store per process, so DataLoader workers are safe). With ``augment`` enabled the raw
    ``landmarks`` and ``presence`` are kept or read instead, and every item is a fresh
    augmentation (:mod:`islpose.data.augment`, drawn from ``(seed, epoch, id)``) whose
    features are computed on access, i.e. in the DataLoader workers.

    Args:
        store_path: the HDF5 feature store.
        utterances: the utterances to serve (each must be in the store).
        vocab: maps glosses to target indices (unknown glosses -> ``<unk>``).
        feature: dataset name in the store, e.g. ``"pose"`` (T, 66) or ``"multimodal"`` (T, 6516).
        preload_gb: memory budget for keeping all features (or landmarks) in memory.
        augment: landmark augmentation (``None`` or not enabled: the stored features as they are).
        seed: base seed of the augmentation draws.
        subsample: the model's temporal subsampling (a speed change keeps enough frames for CTC).

    Raises:
        IslposeError: an utterance lacks the feature (or, augmenting, its landmarks), or its
            features contain NaN or inf (the message names the store and the utterance).

    Items are dicts: ``id`` str, ``features`` (T, D) array, ``targets`` (L,) int64 array.
    """

    def __init__(
        self,
        store_path: str | Path,
        utterances: Sequence[Utterance],
        vocab: Vocabulary,
        feature: str = "pose",
        *,
        preload_gb: float = 8.0,
        augment: AugmentConfig | None = None,
        seed: int = 0,
        subsample: int = 1,
    ) -> None:
        self.store_path = Path(store_path)
        self.feature = feature
        self.ids = [u.id for u in utterances]
        self.references = [" ".join(u.glosses or ()) for u in utterances]
        self.targets = [np.asarray(vocab.encode(u.glosses or ()), dtype=np.int64) for u in utterances]
        self.augment = augment if augment is not None and augment.enabled else None
        self.seed = seed
        if self.augment is not None and feature not in FEATURES:
            raise IslposeError(f"augmentation computes {' or '.join(FEATURES)} features, not {feature!r}")
        # Augmenting reads the raw landmarks (and presence) and computes the features per item.
        self._sources = ("landmarks", "presence") if self.augment else (feature,)
        self.min_lengths = [min_frames(t, subsample) for t in self.targets]
        with FeatureStore(self.store_path) as store:
            shapes = [store.shape(uid, feature) for uid in self.ids]
            self.lengths = [s[0] for s in shapes]
            for uid in self.ids:
                self._check_sources(store, uid)
            self.sizes = [(a["width"], a["height"]) for a in map(store.attrs, self.ids)] if self.augment else None
            itemsize = {name: store.read(self.ids[0], name).dtype.itemsize if self.ids else 4 for name in self._sources}
            rows = FEATURES[feature][0] / NUM_LANDMARKS if self.augment else 1.0  # landmark rows kept
            nbytes = sum(
                int(np.prod(store.shape(uid, name))) * itemsize[name] * (rows if name == "landmarks" else 1)
                for uid in self.ids
                for name in self._sources
            )
            self.in_memory = nbytes <= preload_gb * 2**30
            # per item, what it is made of: (features,), or (landmarks, presence) when augmenting
            self._features = [self._load(store, uid) for uid in self.ids] if self.in_memory else None
        self.dim = shapes[0][1] if shapes else 0
        self._store: FeatureStore | None = None
        self._pid = -1

    def _check_sources(self, store: FeatureStore, uid: str) -> None:
        if self.augment is None:
            return
        missing = [f"{name!r} dataset" for name in self._sources if name not in store.datasets(uid)]
        missing += [f"{name!r} attribute" for name in ("width", "height") if name not in store.attrs(uid)]
        if missing:
            raise IslposeError(
                f"{self.store_path}: utterance {uid!r} has no {missing[0]}, which "
                "augmentation needs (set `augment: {enabled: false}` to train on stored features)"
            )

    def _load(self, store: FeatureStore, uid: str) -> tuple[np.ndarray, ...]:
        if self.augment is None:
            return (self._checked(uid, store.read(uid, self.feature)),)
        return store.read(uid, "landmarks")[:, : FEATURES[self.feature][0]].copy(), store.read(uid, "presence")

    def _checked(self, uid: str, arr: np.ndarray) -> np.ndarray:
        if not np.isfinite(arr).all():
            bad = int(np.flatnonzero(~np.isfinite(arr).all(axis=tuple(range(1, arr.ndim))))[0])
            raise IslposeError(
                f"{self.store_path}: utterance {uid!r}: {self.feature} features contain "
                f"NaN or inf (first at frame {bad}); re-extract or featurize it"
            )
        return arr

    def _read(self, index: int) -> tuple[np.ndarray, ...]:
        if self._store is None or self._pid != os.getpid():
            self._store, self._pid = FeatureStore(self.store_path), os.getpid()
        return self._load(self._store, self.ids[index])

    def _compute(self, index: int, epoch: int) -> np.ndarray:
        """(T, D) features of item ``index``, augmented in ``epoch`` when augmenting."""
        arrays = self._features[index] if self._features is not None else self._read(index)
        if self.augment is None:
            return arrays[0]
        uid = self.ids[index]
        width, height = self.sizes[index]
        landmarks, presence = augment_landmarks(
            *arrays, width, height, self.augment, utterance_rng(self.seed, epoch, uid), self.min_lengths[index]
        )
        return self._checked(uid, FEATURES[self.feature][1](landmarks, presence, width, height))

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        """Item ``key``: an index, or ``(epoch, index)`` from :class:`EpochBatches` (augmentation
        draws depend on the epoch; a plain index means epoch 0)."""
        epoch, index = key if isinstance(key, tuple) else (0, key)
        return {"id": self.ids[index], "features": self._compute(index, epoch), "targets": self.targets[index]}

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_store"], state["_pid"] = None, -1  # h5py handles do not cross processes
        return state


class EpochBatches(torch.utils.data.Sampler):
    """A batch sampler's batches as ``(epoch, index)`` keys, so that DataLoader workers (which
    hold their own copy of the dataset) know the epoch of the augmentation draws.

    Args:
        batches: a batch sampler with an ``epoch`` attribute (``set_epoch`` sets it).
    """

    def __init__(self, batches: torch.utils.data.Sampler) -> None:
        self.batches = batches

    def __iter__(self):
        epoch = self.batches.epoch
        return ([(epoch, i) for i in batch] for batch in self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def collate(batch: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Pads a list of dataset items into one batch.

    Returns:
        ``features`` (B, T_max, D) float32 (zeros after each length), ``lengths`` (B,) long,
        ``ids`` list[str], ``targets`` (sum L,) long (concatenated), ``target_lengths`` (B,) long;
        any other item field (an array (N, ...), e.g. ``teacher`` (T_teacher, V)) becomes
        ``<field>`` (B, N_max, ...) float32 zero-padded and ``<field>_lengths`` (B,) long.
    """
    lengths = torch.tensor([len(item["features"]) for item in batch], dtype=torch.long)
    dim = batch[0]["features"].shape[1]
    features = torch.zeros(len(batch), int(lengths.max()), dim, dtype=torch.float32)  # (B, T, D)
    for i, item in enumerate(batch):
        features[i, : lengths[i]] = torch.from_numpy(np.asarray(item["features"], dtype=np.float32))
    targets = [torch.as_tensor(item["targets"], dtype=torch.long) for item in batch]
    out = {
        "features": features,
        "lengths": lengths,
        "ids": [item["id"] for item in batch],
        "targets": torch.cat(targets) if targets else torch.zeros(0, dtype=torch.long),  # (sum L,)
        "target_lengths": torch.tensor([len(t) for t in targets], dtype=torch.long),
    }
    for key in batch[0].keys() - {"id", "features", "targets"}:  # extra fields (distillation)
        arrays = [np.asarray(item[key], dtype=np.float32) for item in batch]
        sizes = torch.tensor([len(a) for a in arrays], dtype=torch.long)
        padded = torch.zeros(len(batch), int(sizes.max()), *arrays[0].shape[1:], dtype=torch.float32)  # (B, N, ...)
        for i, arr in enumerate(arrays):
            padded[i, : len(arr)] = torch.from_numpy(arr)
        out[key], out[f"{key}_lengths"] = padded, sizes
    return out
