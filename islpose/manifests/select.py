"""Choosing the utterances of a manifest split: the one place that rejects an empty split
or utterances lacking a field a command needs (glosses for training, scoring and LMs)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from islpose.errors import ManifestError
from islpose.manifests.manifest import Manifest, Utterance, read_manifest


def select_utterances(
    manifest: Manifest | str | Path, split: str | None = None, *, require: Sequence[str] = (), hint: str = ""
) -> list[Utterance]:
    """The utterances of one split of a manifest, in manifest order.

    Args:
        manifest: a read manifest or its path.
        split: ``train``, ``dev``, ``test``; None selects every utterance.
        require: fields every selected utterance must have, e.g. ``("glosses",)``.
        hint: appended to the error message (why the field or split is needed).

    Returns:
        The selected utterances (never empty).

    Raises:
        ManifestError: no utterance in the split, or some lack a required field (the
            message gives the count and the first id).
    """
    if not isinstance(manifest, Manifest):
        manifest = read_manifest(manifest)
    where = manifest.path or "manifest"
    utts = manifest.utterances if split is None else manifest.split(split)
    if not utts:
        raise ManifestError(f"{where}: no utterances" + (f" in split {split!r}" if split else "") + hint)
    for name in require:
        lacking = [u.id for u in utts if getattr(u, name) in (None, "", ())]
        if lacking:
            part = f" {split}" if split else ""
            raise ManifestError(
                f"{where}: {len(lacking)} of {len(utts)}{part} utterance(s) have no {name!r}, e.g. {lacking[0]!r}{hint}"
            )
    return utts
