"""``islpose featurize``: recompute the features of a store from its stored landmarks.

The new store is always built beside its target and renamed over it at the end, so a
killed or failed run leaves every file as it was: in place, STORE is replaced only when
every utterance succeeded; with ``--out``, OUT is written only when at least one did,
an existing OUT is replaced only with ``overwrite`` and only when it is an islpose
store. Building a new file also compacts it (HDF5 does not give freed space back).
"""

from __future__ import annotations

import time
from pathlib import Path

from islpose.errors import IslposeError, StoreError
from islpose.extract.runner import NoProgress, Progress, Summary
from islpose.features.compute import DTYPES, compute_features


def featurize(
    store_path: str | Path,
    out: str | Path | None = None,
    dtype: str = "float16",
    progress: Progress | None = None,
    overwrite: bool = False,
) -> Summary:
    """Recomputes ``pose`` and ``multimodal`` from the stored ``landmarks`` (no MediaPipe).

    Args:
        store_path: the feature store.
        out: write the result to this new store; None (or ``store_path``): in place.
        dtype: dtype of the multimodal features, ``float16`` or ``float32``.
        progress: receives progress events.
        overwrite: allow replacing an existing ``out`` (it must be an islpose store).

    Returns:
        The :class:`Summary` (an utterance without landmarks or image size fails; notes
        say when a target was kept as it was).

    Raises:
        IslposeError: a bad dtype, ``store_path`` not a store, or ``out`` exists and
            ``overwrite`` is not set or it is not an islpose store.
    """
    from islpose.io.atomic import Discard, atomic_path, check_output
    from islpose.io.store import FeatureStore

    if dtype not in DTYPES:
        raise IslposeError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    progress = progress or NoProgress()
    store_path = Path(store_path)
    FeatureStore(store_path, "r").close()  # a missing or foreign file is one clear error
    in_place = out is None or Path(out).resolve() == store_path.resolve()
    target = store_path if in_place else check_output(out, overwrite, "feature store")
    if not in_place and target.exists():
        FeatureStore(target, "r").close()  # never replaces a file that is not an islpose store
    summary = Summary()
    start = time.perf_counter()
    with atomic_path(target) as tmp:
        with FeatureStore(store_path, "r") as src:
            meta = src.metadata
            root = {
                "mediapipe_version": meta.get("mediapipe_version", ""),
                "extractor": {**meta["extractor"], "multimodal_dtype": dtype},
            }
            with FeatureStore(tmp, "w", metadata=root) as dst:
                _featurize_all(src, dst, DTYPES[dtype], summary, progress)
        if summary.failed and (in_place or not summary.done):
            summary.notes.append(f"{target}: left as it was ({len(summary.failed)} utterance(s) failed)")
            raise Discard
    summary.seconds = time.perf_counter() - start
    return summary


def _featurize_all(src, dst, dtype, summary: Summary, progress: Progress) -> None:
    """Copies every utterance of ``src`` into ``dst`` with recomputed features."""
    progress.start(len(src))
    for uid in src.ids():
        try:
            attrs = src.attrs(uid)
            arrays = {name: src.read(uid, name) for name in src.datasets(uid)}
            if "landmarks" not in arrays or "presence" not in arrays:
                raise StoreError(f"{src.path}: {uid}: no landmarks/presence stored")
            if "width" not in attrs or "height" not in attrs:
                raise StoreError(f"{src.path}: {uid}: no width/height attributes")
            arrays.update(
                compute_features(arrays["landmarks"], arrays["presence"], attrs["width"], attrs["height"], dtype)
            )
            dst.write(uid, arrays, attrs, overwrite=True)
        except (StoreError, ValueError, TypeError) as exc:
            summary.record(progress, uid, error=str(exc))
            continue
        progress.frames(len(arrays["landmarks"]))
        summary.record(progress, uid, len(arrays["landmarks"]))
