"""``islpose export-pose``: the landmarks of a feature store as pose-format ``.pose`` files."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from islpose.errors import IslposeError, StoreError
from islpose.extract.posefile import write_pose
from islpose.io.pose.binary import PoseFileError

if TYPE_CHECKING:
    from islpose.extract.runner import Progress, Summary
    from islpose.io.store import FeatureStore


def pose_targets(out_dir: Path, ids: Sequence[str], overwrite: bool) -> dict[str, Path]:
    """``id -> OUT_DIR/<id>.pose``, refusing ids that leave ``out_dir`` and files that exist.

    Raises:
        IslposeError: an id would write outside ``out_dir``, or files exist and
            ``overwrite`` is false (all of them are counted, the first few named).
    """
    root = out_dir.resolve()
    targets, existing = {}, []
    for uid in ids:
        target = out_dir / f"{uid}.pose"
        if not uid or "/" in uid or "\\" in uid or target.resolve().parent != root:
            raise IslposeError(f"utterance id {uid!r} would write outside {out_dir}; refusing")
        if target.exists() and not overwrite:
            existing.append(target)
        targets[uid] = target
    if existing:
        shown = ", ".join(str(p) for p in existing[:3]) + (" ..." if len(existing) > 3 else "")
        raise IslposeError(f"{len(existing)} .pose file(s) already exist ({shown}); pass --overwrite to replace them")
    return targets


def export_poses(
    store_path: str | Path,
    out_dir: str | Path,
    ids: Sequence[str] | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> Summary:
    """Writes ``OUT_DIR/<id>.pose`` (pose-format v0.2) for utterances of a feature store.

    Args:
        store_path: the feature store (needs ``landmarks``, ``presence`` and the ``fps``,
            ``width``, ``height`` attributes).
        out_dir: the output folder (created when missing).
        ids: utterances to export (None: all, in store order).
        overwrite: replace ``.pose`` files that exist (otherwise nothing is written and
            that is an error).
        progress: receives progress events (see :class:`islpose.extract.runner.Progress`).

    Returns:
        The run's :class:`~islpose.extract.runner.Summary`; an utterance that cannot be
        exported is listed in ``failed`` and the others are still written.

    Raises:
        IslposeError: unknown ids, ids that would leave ``out_dir``, existing files.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> import islpose
        >>> from islpose.extract.runner import ImportConfig
        >>> from islpose.testing import make_synthetic_corpus
        >>> tmp = tempfile.TemporaryDirectory()
        >>> corpus = make_synthetic_corpus(Path(tmp.name) / "corpus", num_glosses=4, num_signers=3,
        ...                                utterances_per_signer=1, seed=0)
        >>> summary = islpose.export_poses(corpus.store, Path(tmp.name) / "poses")
        >>> sorted(p.name for p in (Path(tmp.name) / "poses").iterdir())
        ['s00_u0000.pose', 's01_u0000.pose', 's02_u0000.pose']
        >>> tmp.cleanup()
    """
    from islpose.extract.runner import NoProgress, Summary
    from islpose.io.store import FeatureStore

    progress = progress or NoProgress()
    out_dir = Path(out_dir)
    summary, start = Summary(), time.perf_counter()
    with FeatureStore(store_path, "r") as store:
        ids = list(store.ids() if ids is None else dict.fromkeys(ids))
        unknown = [uid for uid in ids if uid not in store]
        if unknown:
            raise StoreError(
                f"{store_path}: no utterance(s) {', '.join(map(repr, unknown[:5]))}"
                + (" ..." if len(unknown) > 5 else "")
            )
        if out_dir.exists() and not out_dir.is_dir():
            raise IslposeError(f"{out_dir}: not a folder")
        targets = pose_targets(out_dir, ids, overwrite)
        out_dir.mkdir(parents=True, exist_ok=True)
        progress.start(len(ids))
        for uid, target in targets.items():
            try:
                frames = _export_one(store, store_path, uid, target)
            except (StoreError, PoseFileError, OSError) as exc:  # one file's failure; the rest go on
                summary.record(progress, uid, error=str(exc))
                continue
            progress.frames(frames)
            summary.record(progress, uid, frames)
    summary.seconds = time.perf_counter() - start
    return summary


def _export_one(store: FeatureStore, store_path: str | Path, uid: str, target: Path) -> int:
    """Writes one utterance's ``.pose`` file; returns its frame count."""
    attrs = store.attrs(uid)
    missing = [k for k in ("fps", "width", "height") if k not in attrs]
    if missing:
        raise StoreError(f"{store_path}: {uid}: no {'/'.join(missing)} attribute(s)")
    landmarks, presence = store.read(uid, "landmarks"), store.read(uid, "presence")
    write_pose(target, landmarks, float(attrs["fps"]), int(attrs["width"]), int(attrs["height"]), presence)
    return len(landmarks)
