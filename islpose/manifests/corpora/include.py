"""INCLUDE / INCLUDE-50 (AI4Bharat; Zenodo record 4010759): isolated ISL words.

Layout read: the category zips of the Zenodo record (``Adjectives_1of8.zip``, ...)
extracted anywhere under ROOT, each giving ``<Category>/<N>. <word>/<clip>.MOV``
(a wrapper folder such as ``Adjectives_1of8/`` above it is fine). The split is the
official one of the AI4Bharat/INCLUDE repository, ``train_test_paths/``
``include_{train,val,test}.txt`` (``include50_*.txt`` for ``--subset include50``), one
``<Category>/<N>. <word>/<clip>.MOV`` per line; they are looked for in
``ROOT/train_test_paths`` or any ``train_test_paths`` folder under ROOT, or given with
``--lists``. ``val`` becomes ``dev``; without a val list, dev is carved from train: 10% of
each gloss's train clips (at least 1 when it has 5 or more), chosen with the fixed seed 0.
The release names no signers, so ``signer`` is left empty. Each clip is one utterance
whose single gloss is the word folder's name, normalised (see
:mod:`islpose.manifests.corpora.common`).
"""

from __future__ import annotations

import dataclasses
import random
from collections import defaultdict
from pathlib import Path

from islpose.errors import IslposeError
from islpose.io.media import VIDEO_EXTENSIONS
from islpose.manifests.corpora.common import (
    Prepared,
    drop_duplicate_ids,
    normalize_gloss,
    slug,
)
from islpose.manifests.manifest import Utterance

SUBSETS = ("include", "include50")
_SPLITS = {"train": "train", "val": "dev", "test": "test"}
DEV_FRACTION, DEV_SEED = 0.1, 0
REPO = "github.com/AI4Bharat/INCLUDE"


def _key(parts: tuple[str, ...] | list[str]) -> str:
    """Category/word/clip, compared ignoring case and surrounding spaces."""
    return "/".join(p.strip().lower() for p in parts[-3:])


def find_lists(root: Path, subset: str, lists: Path | None = None) -> dict[str, Path]:
    """The official split lists of ``subset``: ``{"train": ..., "test": ..., ["val": ...]}``."""
    folders = [lists] if lists is not None else [root / "train_test_paths", *sorted(root.rglob("train_test_paths"))]
    for folder in folders:
        found = {s: folder / f"{subset}_{s}.txt" for s in _SPLITS if (folder / f"{subset}_{s}.txt").is_file()}
        if "train" in found and "test" in found:
            return found
    where = str(lists) if lists is not None else f"{root}/train_test_paths"
    raise IslposeError(
        f"{where}: INCLUDE's official split lists {subset}_train.txt and {subset}_test.txt not "
        f"found (they are in train_test_paths/ of {REPO}; pass their folder with --lists)"
    )


def _index_videos(root: Path, result: Prepared) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix.lower() not in VIDEO_EXTENSIONS:
            continue
        parts = path.relative_to(root).parts
        if len(parts) < 3:
            result.skip(str(path), "not inside <Category>/<N. word>/")
        elif _key(parts) in index:
            result.skip(str(path), f"second copy of {index[_key(parts)]}")
        else:
            index[_key(parts)] = path
    return index


def _carve_dev(utterances: list[Utterance]) -> list[Utterance]:
    """Moves a fixed-seed 10% of each gloss's train clips to dev."""
    by_gloss: dict[tuple, list[int]] = defaultdict(list)
    for i, u in enumerate(utterances):
        if u.split == "train":
            by_gloss[u.glosses].append(i)
    rng = random.Random(DEV_SEED)
    out = list(utterances)
    for gloss in sorted(by_gloss):
        members = sorted(by_gloss[gloss], key=lambda i: utterances[i].id)
        n = max(1, round(DEV_FRACTION * len(members))) if len(members) >= 5 else 0
        for i in rng.sample(members, n):
            out[i] = dataclasses.replace(out[i], split="dev")
    return out


def prepare_include(root: str | Path, subset: str = "include", lists: str | Path | None = None) -> Prepared:
    """Builds the INCLUDE (or INCLUDE-50) manifest rows from the extracted Zenodo zips.

    Args:
        root: the folder the category zips were extracted into.
        subset: ``include`` (263 signs) or ``include50``.
        lists: the folder with the official split lists (default: found under ROOT).

    Returns:
        One utterance per listed clip (one gloss, official split) and what was skipped:
        malformed list lines, listed clips that are missing, clips in no list.

    Raises:
        IslposeError: unknown subset, ROOT not a folder, split lists not found.
    """
    if subset not in SUBSETS:
        raise IslposeError(f"unknown INCLUDE subset {subset!r} (known: {', '.join(SUBSETS)})")
    root = Path(root)
    if not root.is_dir():
        raise IslposeError(f"{root}: not a folder")
    found = find_lists(root, subset, None if lists is None else Path(lists))
    result = Prepared(subset)
    index = _index_videos(root, result)
    listed: set[str] = set()
    for name, list_path in found.items():
        lines = list_path.read_text(encoding="utf-8-sig").splitlines()
        for lineno, line in enumerate(lines, 1):
            where, line = f"{list_path}:{lineno}", line.strip()
            parts = line.replace("\\", "/").split("/")
            if not line:
                continue
            gloss = normalize_gloss(parts[1]) if len(parts) == 3 else ""
            if len(parts) != 3 or Path(parts[2]).suffix.lower() not in VIDEO_EXTENSIONS or not gloss:
                result.skip(where, "malformed line (expected <Category>/<N. word>/<clip>.MOV)")
            elif _key(parts) in listed:
                result.skip(where, "clip listed twice")
            elif _key(parts) not in index:
                result.skip(where, "listed clip not found under ROOT")
            else:
                listed.add(_key(parts))
                uid = "include-" + slug(f"{parts[0]}-{gloss}-{Path(parts[2]).stem}")
                result.utterances.append(
                    Utterance(uid, video=str(index[_key(parts)].resolve()), glosses=(gloss,), split=_SPLITS[name])
                )
    for key, path in index.items():
        if key not in listed:
            result.skip(str(path), f"clip in none of the {subset} split lists")
    if "val" not in found:
        result.utterances = _carve_dev(result.utterances)
    drop_duplicate_ids(result)
    return result
