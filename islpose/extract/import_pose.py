"""``islpose import-pose``: pose-format ``.pose`` recordings into a feature store.

The run is the one ``islpose extract`` uses (:func:`islpose.extract.runner.run_items`:
workers or Ray, resume of unchanged files, one failure per bad file, progress and
summary); only the per-file loader differs: :func:`load_pose` reads a file instead of
running MediaPipe. Items stream through the executor, so a large corpus is never held
in memory (only the list of paths is).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from islpose.errors import IslposeError
from islpose.extract.posefile import read_pose
from islpose.features.layout import Landmarks, nobody_detected
from islpose.io.pose import POSE_EXTENSIONS
from islpose.io.pose.binary import PoseFileError

if TYPE_CHECKING:
    from islpose.extract.runner import ImportConfig, Progress, Summary

IMPORTER = "pose-format .pose (v0.1/v0.2), MediaPipe Holistic components, first person"


def load_pose(path: Path, options: Any = None, on_frames: Callable[[int], None] | None = None) -> Landmarks:
    """The loader of :func:`~islpose.extract.runner.run_items` for one ``.pose`` file.

    Raises:
        PoseFileError: unreadable file, not Holistic, or nobody in it (no frame with both
            a body pose and a face, as ``extract`` requires).
    """
    rec = read_pose(path)
    reason = nobody_detected(rec.presence)
    if reason:
        raise PoseFileError(f"{path}: {reason}")
    if on_frames is not None:
        on_frames(rec.num_frames)
    return rec


def import_metadata(dtype: str = "float16") -> dict[str, Any]:
    """The root attributes of a store of imported ``.pose`` files (``import-pose``,
    ``recognize --store``), so that either can add to a store the other began."""
    return {"mediapipe_version": "", "extractor": {"importer": IMPORTER, "multimodal_dtype": dtype}}


def _several_people(out: Path, ids: Sequence[str]) -> str | None:
    """A note naming the imported files that hold more than one person, if any."""
    from islpose.io.store import FeatureStore

    with FeatureStore(out, "r") as store:
        many = [uid for uid in ids if int(store.attrs(uid).get("source_people", 1)) > 1]
    if not many:
        return None
    shown = ", ".join(many[:5]) + (" ..." if len(many) > 5 else "")
    return f"{len(many)} file(s) hold more than one person; only the first person was imported ({shown})"


def import_poses(
    inputs: Sequence[str | Path], out: str | Path, config: ImportConfig | None = None, progress: Progress | None = None
) -> Summary:
    """Imports ``.pose`` recordings into the feature store ``out`` (the layout ``extract`` writes).

    Args:
        inputs: ``.pose`` files, folders (searched recursively for ``*.pose``) and
            manifests whose rows have a ``pose`` field.
        out: the HDF5 feature store (created, resumed, or rebuilt with ``config.overwrite``).
        config: a :class:`~islpose.extract.runner.ImportConfig` (workers, executor,
            overwrite, verify, dtype); None: the defaults.
        progress: receives progress events (e.g. the CLI's progress bar).

    Returns:
        The run's :class:`~islpose.extract.runner.Summary`; failed files are listed
        there, never raised; its ``notes`` name files with more than one person.

    Raises:
        IslposeError: bad inputs, or an ``out`` that is not a feature store or holds
            utterances of another kind (e.g. extracted from videos).

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
        >>> summary = islpose.import_poses([Path(tmp.name) / "poses"], Path(tmp.name) / "imported.h5",
        ...                                ImportConfig(workers=1))
        >>> sorted(summary.done), summary.failed
        (['s00_u0000', 's01_u0000', 's02_u0000'], [])
        >>> with islpose.FeatureStore(Path(tmp.name) / "imported.h5") as store:
        ...     datasets = store.datasets("s00_u0000")
        >>> sorted(datasets)
        ['landmarks', 'multimodal', 'pose', 'presence']
        >>> tmp.cleanup()
    """
    from islpose.extract.inputs import MANIFEST_EXTENSIONS, find_sources
    from islpose.extract.runner import ImportConfig, run_items

    config = config or ImportConfig()
    items = find_sources(inputs, POSE_EXTENSIONS, what="pose", field="pose")
    out = Path(out)
    if out.suffix.lower() in POSE_EXTENSIONS | MANIFEST_EXTENSIONS:
        raise IslposeError(f"{out}: the last argument is the output store and should end in .h5")
    summary = run_items(items, out, load_pose, None, import_metadata(config.dtype), config, progress)
    if summary.done:
        note = _several_people(out, summary.done)
        if note:
            summary.notes.append(note)
    return summary
