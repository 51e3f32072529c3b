"""Utterances of a feature store as CTC training examples, and their collation."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from islpose.errors import IslposeError
from islpose.io import FeatureStore
from islpose.manifests import Utterance
from islpose.vocab import Vocabulary


class FeatureDataset(torch.utils.data.Dataset):
    """One feature dataset (``pose`` or ``multimodal``) of the utterances of a split.

    Features are read from the store once and kept in memory (in their stored dtype) when
    they take at most ``preload_gb`` GiB; otherwise each item is read on access (one open
    store per process, so DataLoader workers are safe).

    Args:
        store_path: the HDF5 feature store.
        utterances: the utterances to serve (each must be in the store).
        vocab: maps glosses to target indices (unknown glosses -> ``<unk>``).
        feature: dataset name in the store, e.g. ``"pose"`` (T, 66) or ``"multimodal"`` (T, 6516).
        preload_gb: memory budget for keeping all features in memory.

    Raises:
        IslposeError: an utterance lacks the feature, or its features contain NaN or inf
            (the message names the store and the utterance).

    Items are dicts: ``id`` str, ``features`` (T, D) array, ``targets`` (L,) int64 array.
    """

    def __init__(self, store_path: str | Path, utterances: Sequence[Utterance], vocab: Vocabulary,
                 feature: str = "pose", *, preload_gb: float = 8.0) -> None:
        self.store_path = Path(store_path)
        self.feature = feature
        self.ids = [u.id for u in utterances]
        self.references = [" ".join(u.glosses or ()) for u in utterances]
        self.targets = [np.asarray(vocab.encode(u.glosses or ()), dtype=np.int64) for u in utterances]
        with FeatureStore(self.store_path) as store:
            shapes = [store.shape(uid, feature) for uid in self.ids]
            itemsize = store.read(self.ids[0], feature).dtype.itemsize if self.ids else 4
            nbytes = sum(int(np.prod(s)) for s in shapes) * itemsize
            self.lengths = [s[0] for s in shapes]
            self.in_memory = nbytes <= preload_gb * 2**30
            self._features = [self._checked(uid, store.read(uid, feature)) for uid in self.ids] \
                if self.in_memory else None
        self.dim = shapes[0][1] if shapes else 0
        self._store: FeatureStore | None = None
        self._pid = -1

    def _checked(self, uid: str, arr: np.ndarray) -> np.ndarray:
        if not np.isfinite(arr).all():
            bad = int(np.flatnonzero(~np.isfinite(arr).all(axis=tuple(range(1, arr.ndim))))[0])
            raise IslposeError(f"{self.store_path}: utterance {uid!r}: {self.feature} features contain "
                               f"NaN or inf (first at frame {bad}); re-extract or featurize it")
        return arr

    def _read(self, index: int) -> np.ndarray:
        if self._store is None or self._pid != os.getpid():
            self._store, self._pid = FeatureStore(self.store_path), os.getpid()
        uid = self.ids[index]
        return self._checked(uid, self._store.read(uid, self.feature))

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        features = self._features[index] if self._features is not None else self._read(index)
        return {"id": self.ids[index], "features": features, "targets": self.targets[index]}

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_store"], state["_pid"] = None, -1  # h5py handles do not cross processes
        return state


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
