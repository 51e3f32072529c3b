"""One HDF5 file holding many utterances' landmarks and features (layout below; docs/reference/formats.md).

    /                      attrs: format, format_version, islpose_version,
                                  mediapipe_version, extractor (JSON)
    /utterances/<id>/      attrs: fps, width, height, num_frames, source, ...
        landmarks          (T, 543, 4) float32, chunked + lzf
        presence           (T, 4) bool
        pose               (T, 66) float32, contiguous (fast whole reads)
        multimodal         (T, 6516) float16, contiguous
        teacher_logprobs   (T_teacher, V) float32 (distillation stores)
    /staging/<id>/         an utterance being written; never listed or read

An utterance is built under ``/staging`` and moved into ``/utterances`` (a link
operation) only once complete, then the file is flushed, so a run killed mid-write
never leaves a half-written utterance that reads as valid; leftovers in ``/staging``
are removed the next time the file is opened for writing. HDF5 itself can leave torn
metadata when killed during a flush, so writes also go through an undo journal
(``<file>-journal``, :mod:`islpose.io.journal`) that rolls the file back to its last
flush when it is next opened.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from islpose.errors import StoreError
from islpose.io.atomic import atomic_path
from islpose.io.journal import JournaledFile, lock, recover

FORMAT = "islpose-features"
FORMAT_VERSION = 1
_UTT = "utterances"
_STAGING = "staging"

# name -> (per-frame shape, dtype or None for "any float"); None in a shape = any size.
FRAME_DATASETS: dict[str, tuple[tuple, Any]] = {
    "landmarks": ((543, 4), np.float32),
    "presence": ((4,), np.bool_),
    "pose": ((66,), np.float32),
    "multimodal": ((6516,), None),
}
OTHER_DATASETS: dict[str, tuple[tuple, Any]] = {"teacher_logprobs": ((None,), np.float32)}
_COMPRESSED = {"landmarks", "presence"}


def _check_uid(uid: str) -> str:
    if not isinstance(uid, str) or not uid or "/" in uid or uid in (".", ".."):
        raise StoreError(f"invalid utterance id {uid!r} (non-empty, no '/')")
    return uid


def _set_attrs(obj: Any, values: Mapping[str, Any]) -> None:
    """Sets HDF5 attributes; dicts and lists are stored as JSON."""
    for key, value in values.items():
        obj.attrs[key] = json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value


def _attr(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value.item() if isinstance(value, np.generic) else value


class FeatureStore:
    """An islpose HDF5 feature store.

    Args:
        path: the ``.h5`` file.
        mode: ``"r"`` read only; ``"a"`` read/write, created when missing; ``"w"`` create
            (an existing islpose store or empty file is replaced; any other file is refused).
        metadata: root attributes to set when the file is created (e.g.
            ``mediapipe_version``, ``extractor`` as a dict).

    Raises:
        StoreError: the file is missing (mode ``"r"``), is not HDF5, is an HDF5 file of
            another format or a newer version, or is locked by another writer.

    Example:
        >>> import tempfile
        >>> import numpy as np
        >>> tmp = tempfile.TemporaryDirectory()
        >>> with FeatureStore(f"{tmp.name}/feats.h5", "a") as store:
        ...     store.write("utt1", {"pose": np.zeros((10, 66), np.float32)}, attrs={"fps": 25.0})
        ...     x = store.read("utt1", "pose")  # (T, 66) float32
        ...     attrs = store.attrs("utt1")
        >>> x.shape, attrs["fps"], attrs["num_frames"]
        ((10, 66), 25.0, 10)
        >>> tmp.cleanup()
    """

    def __init__(self, path: str | Path, mode: str = "r", *, metadata: Mapping[str, Any] | None = None) -> None:
        if mode not in ("r", "a", "w"):
            raise ValueError(f"mode must be 'r', 'a' or 'w', not {mode!r}")
        self.path = Path(path)
        self.mode = mode
        if mode == "r" and not self.path.is_file():
            raise StoreError(f"{self.path}: feature store not found")
        recover(self.path)  # undo the writes of a writer that was killed
        existed = self.path.is_file() and self.path.stat().st_size > 0
        if existed and not h5py.is_hdf5(self.path):
            raise StoreError(f"{self.path}: not an HDF5 file")
        if existed and mode == "w":
            FeatureStore(self.path, "r").close()  # replaces only an islpose store
            existed = False
        self._journal: JournaledFile | None = None
        if mode != "r" and not existed:
            self._create(metadata or {})
            existed = True
        try:
            if mode == "r":
                self._f = h5py.File(self.path, "r")
            else:  # writes go through the undo journal (islpose/io/journal.py)
                self._journal = JournaledFile(self.path)
                self._f = h5py.File(self._journal, "r+")
        except OSError as exc:
            if self._journal is not None:
                self._journal.close()
            reason = "locked by another process" if "lock" in str(exc).lower() else str(exc)
            raise StoreError(f"{self.path}: cannot open feature store ({reason})") from exc
        try:
            if existed and (mode == "r" or len(self._f.attrs) or len(self._f)):
                self._check_format()
            else:
                self._init_root(metadata or {})
            if mode != "r":
                if _STAGING in self._f:
                    del self._f[_STAGING]  # leftovers of an interrupted write
                self.flush()
        except BaseException:
            self.close()
            raise

    def _create(self, metadata: Mapping[str, Any]) -> None:
        """Writes an empty store beside ``path`` and renames it over ``path`` (atomic)."""
        old = os.open(self.path, os.O_RDONLY) if self.path.exists() else None
        try:
            if old is not None:
                lock(old, self.path)  # not while another process writes it
            with atomic_path(self.path) as tmp:
                with h5py.File(tmp, "w") as self._f:
                    self._init_root(metadata)
        finally:
            if old is not None:
                os.close(old)

    def _check_format(self) -> None:
        fmt = _attr(self._f.attrs.get("format"))
        if fmt != FORMAT:
            raise StoreError(f"{self.path}: not an islpose feature store (format={fmt!r}, expected {FORMAT!r})")
        version = _attr(self._f.attrs.get("format_version"))
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise StoreError(
                f"{self.path}: store format version {version!r} is not supported "
                f"(this islpose reads version <= {FORMAT_VERSION}; upgrade islpose)"
            )

    def _init_root(self, metadata: Mapping[str, Any]) -> None:
        from islpose._version import __version__

        attrs = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "islpose_version": __version__,
            "mediapipe_version": "",
            "extractor": "{}",
        }
        self._f.attrs.update(attrs)
        self.set_metadata(**metadata)
        self._f.require_group(_UTT)

    # ----------------------------------------------------------------- metadata
    @property
    def metadata(self) -> dict[str, Any]:
        """Root attributes; ``extractor`` is decoded from JSON."""
        meta = {k: _attr(v) for k, v in self._f.attrs.items()}
        try:
            meta["extractor"] = json.loads(meta.get("extractor") or "{}")
        except (TypeError, ValueError) as exc:
            raise StoreError(f"{self.path}: corrupt 'extractor' attribute (not JSON: {exc})") from None
        return meta

    def set_metadata(self, **values: Any) -> None:
        """Sets root attributes (``extractor`` may be a dict; it is stored as JSON)."""
        self._writable()
        managed = {"format", "format_version"} & set(values)
        if managed:
            raise StoreError(f"root attribute {sorted(managed)[0]!r} is managed by the store")
        _set_attrs(self._f, values)

    # ----------------------------------------------------------------- reading
    def ids(self) -> list[str]:
        """Ids of the complete utterances, sorted."""
        return list(self._f[_UTT].keys()) if _UTT in self._f else []

    def __contains__(self, uid: object) -> bool:
        return isinstance(uid, str) and "/" not in uid and bool(uid) and f"{_UTT}/{uid}" in self._f

    def __len__(self) -> int:
        return len(self._f[_UTT]) if _UTT in self._f else 0

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids())

    def _group(self, uid: str) -> h5py.Group:
        _check_uid(uid)
        try:
            return self._f[f"{_UTT}/{uid}"]
        except KeyError:
            raise StoreError(f"{self.path}: no utterance {uid!r}") from None

    def datasets(self, uid: str) -> list[str]:
        """Names of the datasets stored for ``uid``."""
        return list(self._group(uid).keys())

    def attrs(self, uid: str, names: Iterable[str] | None = None) -> dict[str, Any]:
        """The utterance's attributes (fps, width, height, num_frames, source, ...), or only
        those of ``names`` that it has (cheaper: h5py reads attributes one by one)."""
        attrs = self._group(uid).attrs
        if names is None:
            return {k: _attr(v) for k, v in attrs.items()}
        return {k: _attr(v) for k in names if (v := attrs.get(k)) is not None}

    def num_frames(self, uid: str) -> int:
        return int(self._group(uid).attrs["num_frames"])

    def shape(self, uid: str, name: str) -> tuple[int, ...]:
        """Shape of one dataset without reading it."""
        return tuple(self._dataset(uid, name).shape)

    def _dataset(self, uid: str, name: str) -> h5py.Dataset:
        group = self._group(uid)
        if name not in group:
            raise StoreError(f"{self.path}: utterance {uid!r} has no {name!r} (has: {', '.join(group)})")
        return group[name]

    def read(self, uid: str, name: str = "pose") -> np.ndarray:
        """Reads one whole dataset of one utterance, e.g. ``pose`` -> (T, 66) float32."""
        _check_uid(uid)
        try:  # h5py's low-level calls: a third of the per-read cost of its high-level objects
            dsid = h5py.h5d.open(self._f.id, f"{_UTT}/{uid}/{name}".encode())
        except KeyError:
            self._dataset(uid, name)  # raises the error that says what is missing
            raise
        out = np.empty(dsid.shape, dtype=dsid.dtype)
        if out.size:
            dsid.read(h5py.h5s.ALL, h5py.h5s.ALL, out)
        return out

    # ----------------------------------------------------------------- writing
    def _writable(self) -> None:
        if self.mode == "r":
            raise StoreError(f"{self.path}: opened read-only")

    def write(
        self,
        uid: str,
        arrays: Mapping[str, np.ndarray],
        attrs: Mapping[str, Any] | None = None,
        *,
        overwrite: bool = False,
        compression: str | None = None,
    ) -> None:
        """Writes one utterance completely, or not at all.

        Args:
            uid: utterance id.
            arrays: datasets by name; the frame-aligned ones (``landmarks`` (T, 543, 4),
                ``presence`` (T, 4), ``pose`` (T, 66), ``multimodal`` (T, 6516)) must share T.
            attrs: utterance attributes; ``num_frames`` is set from the arrays.
            overwrite: replace an existing utterance (otherwise that is an error).
            compression: ``None`` (default) or ``"lzf"``/``"gzip"`` for the feature datasets.
        """
        self._writable()
        _check_uid(uid)
        if not arrays:
            raise StoreError(f"{uid}: nothing to write")
        if uid in self and not overwrite:
            raise StoreError(f"{self.path}: utterance {uid!r} already exists (use overwrite)")
        arrays = {name: self._checked(uid, name, arr) for name, arr in arrays.items()}
        lengths = {n: a.shape[0] for n, a in arrays.items() if n in FRAME_DATASETS}
        if len(set(lengths.values())) > 1:
            raise StoreError(f"{uid}: frame counts differ between datasets: {lengths}")
        staging = self._f.require_group(_STAGING)
        if uid in staging:
            del staging[uid]
        group = staging.create_group(uid)
        for name, arr in arrays.items():
            if name in _COMPRESSED or compression:
                chunks = (min(arr.shape[0], 256),) + arr.shape[1:]
                group.create_dataset(
                    name, data=arr, chunks=chunks, compression=compression or "lzf", shuffle=arr.dtype != np.bool_
                )
            else:
                group.create_dataset(name, data=arr)
        attrs = dict(attrs or {})
        if lengths:
            attrs["num_frames"] = next(iter(lengths.values()))
        elif "num_frames" not in attrs:
            attrs["num_frames"] = next(iter(arrays.values())).shape[0]
        _set_attrs(group, attrs)
        utterances = self._f.require_group(_UTT)
        if uid in utterances:
            del utterances[uid]
        self._f.move(f"{_STAGING}/{uid}", f"{_UTT}/{uid}")
        self.flush()

    def update_attrs(self, uid: str, values: Mapping[str, Any]) -> None:
        """Sets some attributes of a stored utterance (e.g. a source file's new modification time)."""
        self._writable()
        group = self._group(uid)
        if "num_frames" in values:
            raise StoreError("attribute 'num_frames' is managed by the store")
        _set_attrs(group, values)
        self.flush()

    def _checked(self, uid: str, name: str, arr: np.ndarray) -> np.ndarray:
        arr = np.asarray(arr)
        spec = FRAME_DATASETS.get(name) or OTHER_DATASETS.get(name)
        if spec is None:
            return arr
        frame_shape, dtype = spec
        ok = arr.ndim == 1 + len(frame_shape) and all(
            want is None or got == want for got, want in zip(arr.shape[1:], frame_shape)
        )
        if not ok or arr.shape[0] == 0:
            want = ", ".join("*" if d is None else str(d) for d in frame_shape)
            raise StoreError(f"{uid}: {name} must have shape (T>0, {want}), got {arr.shape}")
        if dtype is None:
            if arr.dtype not in (np.float16, np.float32):
                arr = arr.astype(np.float32)
        elif arr.dtype != dtype:
            arr = arr.astype(dtype)
        if name in ("pose", "multimodal", "teacher_logprobs") and not np.isfinite(arr).all():
            raise StoreError(f"{uid}: {name} contains NaN or inf")
        return arr

    # ----------------------------------------------------------------- lifetime
    def flush(self) -> None:
        """Writes everything to the file; what is written is kept if the process is killed."""
        self._f.flush()
        if self._journal is not None:
            self._journal.commit()

    def close(self) -> None:
        if self._f.id.valid:
            self._f.close()
        if self._journal is not None:
            self._journal.close()

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = f"{len(self)} utterances" if self._f.id.valid else "closed"
        return f"FeatureStore({str(self.path)!r}, mode={self.mode!r}, {state})"
