"""Manifest checks against a feature store; each returns a list of :class:`Problem` so a
command can report all. The checks of a manifest on its own (:func:`check_manifest`,
:func:`raise_problems`) live in :mod:`islpose.manifests.manifest` and are re-exported here."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from islpose.ctc import min_ctc_frames, subsampled_length
from islpose.manifests.manifest import Manifest, Problem, check_manifest, raise_problems

if TYPE_CHECKING:
    from islpose.io import FeatureStore

__all__ = ["Problem", "check_against_store", "check_manifest", "raise_problems", "summarize", "validate_manifest"]


def check_against_store(
    manifest: Manifest,
    store: FeatureStore,
    *,
    subsample: int = 1,
    splits: Iterable[str] | None = None,
) -> list[Problem]:
    """Checks that each utterance has features and that its glosses fit CTC.

    Args:
        manifest: the manifest.
        store: an open feature store.
        subsample: the model's temporal subsampling factor (2 for ``bilstm_optimized``).
        splits: only check these splits (None: all).
    """
    wanted = None if splits is None else set(splits)
    stored = set(store.ids())
    problems: list[Problem] = []
    for u in manifest:
        if wanted is not None and u.split not in wanted:
            continue
        if u.id not in stored:
            problems.append(Problem("no-features", u.id, u.line, f"{u.id}: no features in {store.path}"))
            continue
        if u.glosses is None:
            continue
        frames = store.num_frames(u.id)
        out_len = subsampled_length(frames, subsample)
        need = min_ctc_frames(u.glosses)
        if out_len < need:
            problems.append(
                Problem(
                    "ctc-too-short",
                    u.id,
                    u.line,
                    f"{u.id}: {len(u.glosses)} glosses need {need} output frames but {frames} frames "
                    f"give {out_len} at subsampling {subsample}",
                )
            )
    return problems


def summarize(problems: Sequence[Problem]) -> Counter:
    """Counts problems by kind."""
    return Counter(p.kind for p in problems)


def validate_manifest(
    manifest: str | Path,
    features: str | Path | None = None,
    *,
    subsample: int = 1,
    splits: Iterable[str] | None = None,
    require: Sequence[str] = (),
) -> tuple[Manifest, list[Problem]]:
    """Everything wrong with a manifest file (:func:`check_manifest`, videos included) and, given
    a store, with its utterances there (:func:`check_against_store`).

    Args:
        manifest: the manifest file (read without stopping at its first problem).
        features: the feature store, or None.
        subsample: the model's temporal subsampling, for the CTC length check.
        splits: only check these splits against the store (None: all).
        require: fields every utterance must have.

    Returns:
        The manifest and its problems (empty when nothing is wrong).
    """
    from islpose.io import FeatureStore
    from islpose.manifests.manifest import read_manifest

    m = read_manifest(manifest, check=False)
    problems = check_manifest(m, videos=True, require=require)
    if features is not None:
        with FeatureStore(features) as store:
            problems += check_against_store(m, store, subsample=subsample, splits=splits)
    return m, problems
