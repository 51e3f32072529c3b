"""Manifest checks against a feature store; each returns a list of :class:`Problem` so a
command can report all. The checks of a manifest on its own (:func:`check_manifest`,
:func:`raise_problems`) live in :mod:`islpose.manifests.manifest` and are re-exported here."""
from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Iterable, Sequence

from islpose.ctc import min_ctc_frames, subsampled_length
from islpose.manifests.manifest import Manifest, Problem, check_manifest, raise_problems

if TYPE_CHECKING:
    from islpose.io import FeatureStore

__all__ = ["Problem", "check_against_store", "check_manifest", "raise_problems", "summarize"]


def check_against_store(
    manifest: Manifest,
    store: "FeatureStore",
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
            problems.append(Problem(
                "ctc-too-short", u.id, u.line,
                f"{u.id}: {len(u.glosses)} glosses need {need} output frames but {frames} frames "
                f"give {out_len} at subsampling {subsample}"))
    return problems


def summarize(problems: Sequence[Problem]) -> Counter:
    """Counts problems by kind."""
    return Counter(p.kind for p in problems)
