"""What the corpus recipes share: gloss spelling, ids, the result, writing the manifest.

Gloss normalisation rule (both recipes):

1. leading numbering (digits, then ``.`` or ``)``) is removed: ``"4. sad"`` -> ``"sad"``,
   ``"12) hot"`` -> ``"hot"``;
2. letters are upper-cased;
3. every run of characters other than letters, digits and apostrophes becomes one
   ``-``, and ``-`` at either end is dropped: ``"Big Large"`` -> ``BIG-LARGE``,
   ``"T-Shirt"`` -> ``T-SHIRT``, ``"Second (Number)"`` -> ``SECOND-NUMBER``.

A label that names one sign (an INCLUDE word folder) becomes one gloss this way; a gloss
sequence (ISL-CSLTR's ``SIGN GLOSSES``) is first split on spaces and commas and each
part normalised.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from islpose.manifests.manifest import Utterance

_NUMBERING = re.compile(r"^\s*\d+\s*[.)]\s*")
_NOT_GLOSS = re.compile(r"(?:[^\w']|_)+")


def _unnumbered(label: str) -> str:
    stripped = _NUMBERING.sub("", label, count=1)
    return stripped if stripped.strip() else label  # a label that is only a number keeps it


def _spell(text: str) -> str:
    return _NOT_GLOSS.sub("-", text.upper()).strip("-")


def normalize_gloss(label: str) -> str:
    """One gloss from a label (the rule is in the module docstring); '' when nothing is left."""
    return _spell(_unnumbered(label))


def normalize_glosses(sequence: str) -> tuple[str, ...]:
    """A gloss sequence: numbering removed, split on spaces and commas, each part spelled."""
    parts = (_spell(p) for p in re.split(r"[\s,]+", _unnumbered(sequence)))
    return tuple(p for p in parts if p)


def slug(text: str) -> str:
    """Lower-case id part: letters and digits, other runs become ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@dataclass
class Prepared:
    """What a recipe built.

    Attributes:
        corpus: recipe name.
        utterances: the manifest rows (video paths absolute).
        skipped: ``(what, reason)`` for every file or row left out.
    """

    corpus: str
    utterances: list[Utterance] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def skip(self, what: str, reason: str) -> None:
        self.skipped.append((what, reason))

    def split_counts(self) -> Counter:
        return Counter(u.split for u in self.utterances)

    def skip_reasons(self) -> Counter:
        return Counter(reason for _, reason in self.skipped)


def drop_duplicate_ids(result: Prepared) -> None:
    """Keeps the first utterance of every id; the others are skipped with the reason."""
    seen: set[str] = set()
    kept = []
    for u in result.utterances:
        if u.id in seen:
            result.skip(u.video or u.id, f"id {u.id!r} already used by another file")
            continue
        seen.add(u.id)
        kept.append(u)
    result.utterances = kept


def write_prepared(result: Prepared, out: str | Path, overwrite: bool = False) -> Path:
    """Writes the manifest with video paths relative to its folder; it must validate.

    Raises:
        IslposeError: ``out`` exists without ``overwrite``; no utterance was found.
        ManifestError: the built manifest does not validate (a recipe bug).
    """
    from islpose.errors import IslposeError
    from islpose.io.atomic import check_output
    from islpose.manifests.manifest import Manifest, check_manifest, raise_problems, write_manifest

    out = check_output(out, overwrite, "manifest")
    if not result.utterances:
        reasons = "; ".join(f"{n} x {r}" for r, n in result.skip_reasons().most_common(3))
        raise IslposeError(f"{result.corpus}: no usable videos found" + (f" (skipped: {reasons})" if reasons else ""))
    raise_problems(out, check_manifest(Manifest(result.utterances), require=("video", "glosses", "split")))
    base = out.resolve().parent
    rows = [dataclasses.replace(u, video=os.path.relpath(u.video, base)) for u in result.utterances]
    return write_manifest(rows, out)
