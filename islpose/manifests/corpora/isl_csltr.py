"""ISL-CSLTR (Elakkiya & Natarajan, Mendeley Data kcmpdxky7p, v1): continuous ISL sentences.

Layout read (the released ``ISL_CSLRT_Corpus`` folder, found anywhere under ROOT, so the
doubled ``ISL_CSLRT_Corpus/ISL_CSLRT_Corpus`` of some mirrors works too)::

    Videos_Sentence_Level/<sentence>/<sentence>.mp4, <sentence> (2).mp4, ...
    corpus_csv_files/ISL Corpus sign glosses.csv     columns "Sentence", "SIGN GLOSSES"

``Frames_*`` folders and the ``.xlsx`` details are not needed. A folder's sentence is
matched to its CSV row ignoring case, spaces and punctuation (the release spells some
folders differently, e.g. "collegeschool").

Signers: the release does not name them; each sentence folder holds one recording per
signer variant, numbered by the file name (no number = 1, ``(k)`` = k). That number is
the ``signer`` of the manifest, and the split holds variants out: test = variant 1,
dev = variant 2, train = the rest (``--test-signers`` / ``--dev-signers`` change it).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from pathlib import Path

from islpose.errors import IslposeError
from islpose.io.media import VIDEO_EXTENSIONS
from islpose.manifests.corpora.common import (
    Prepared,
    drop_duplicate_ids,
    normalize_glosses,
    slug,
)
from islpose.manifests.manifest import Utterance

GLOSS_CSV = "ISL Corpus sign glosses.csv"
VIDEO_DIR = "Videos_Sentence_Level"
_VARIANT = re.compile(r"\((\d+)\)\s*$")


def _find(root: Path, name: str, folder: bool) -> Path:
    direct = root / name
    if direct.is_dir() if folder else direct.is_file():
        return direct
    found = sorted(p for p in root.rglob(name) if (p.is_dir() if folder else p.is_file()))
    if not found:
        raise IslposeError(
            f"{root}: no {'folder' if folder else 'file'} {name!r} in it; expected the "
            f"ISL_CSLRT_Corpus release ({VIDEO_DIR}/ and corpus_csv_files/{GLOSS_CSV})"
        )
    return found[0]


def sentence_key(text: str) -> str:
    """How a sentence folder is matched to its CSV row: lower case, letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _open_csv(path: Path) -> io.StringIO:
    raw = path.read_bytes()
    try:
        return io.StringIO(raw.decode("utf-8-sig"), newline="")
    except UnicodeDecodeError:  # spreadsheet exports on Windows
        return io.StringIO(raw.decode("cp1252"), newline="")


def read_gloss_table(path: Path, result: Prepared) -> dict[str, tuple[str, tuple[str, ...]]]:
    """``sentence_key -> (sentence, glosses)`` from the CSV; bad rows go to ``result.skipped``."""
    reader = csv.DictReader(_open_csv(path))
    columns = {(name or "").strip().lower(): name for name in reader.fieldnames or []}
    if "sentence" not in columns or "sign glosses" not in columns:
        raise IslposeError(
            f"{path}: expected the columns 'Sentence' and 'SIGN GLOSSES', found "
            f"{', '.join(map(repr, reader.fieldnames or []))}"
        )
    table: dict[str, tuple[str, tuple[str, ...]]] = {}
    for row in reader:
        where = f"{path}:{reader.line_num}"
        sentence = " ".join((row.get(columns["sentence"]) or "").split())
        glosses = normalize_glosses(row.get(columns["sign glosses"]) or "")
        if not sentence or not glosses:
            result.skip(where, "CSV row without a sentence or without glosses")
            continue
        key = sentence_key(sentence)
        if key in table and table[key][1] != glosses:
            result.skip(where, "sentence listed again with other glosses (the first row is used)")
            continue
        table.setdefault(key, (sentence, glosses))
    return table


def variant(stem: str) -> int:
    """The recording number in a file name: ``"x (3)"`` -> 3, ``"x"`` -> 1."""
    match = _VARIANT.search(stem)
    return int(match.group(1)) if match else 1


def prepare_isl_csltr(
    root: str | Path, test_signers: Iterable[int] = (1,), dev_signers: Iterable[int] = (2,)
) -> Prepared:
    """Builds the ISL-CSLTR manifest rows (one per sentence video) from a downloaded release.

    Args:
        root: the folder holding the release (``ISL_CSLRT_Corpus`` or a folder above it).
        test_signers: signer variants held out for test.
        dev_signers: signer variants held out for dev (the others train).

    Returns:
        The utterances (glosses, sentence as ``text``, signer variant, split) and what was
        skipped with its reason.

    Raises:
        IslposeError: ROOT has no ``Videos_Sentence_Level`` or no gloss CSV; a signer in
            both held-out sets.
    """
    root = Path(root)
    if not root.is_dir():
        raise IslposeError(f"{root}: not a folder")
    test, dev = set(test_signers), set(dev_signers)
    if test & dev:
        raise IslposeError(f"signer variant(s) {sorted(test & dev)} cannot be in both dev and test")
    result = Prepared("isl-csltr")
    table = read_gloss_table(_find(root, GLOSS_CSV, folder=False), result)
    used = set()
    for folder in sorted(_find(root, VIDEO_DIR, folder=True).iterdir()):
        if not folder.is_dir():
            result.skip(str(folder), "file outside a sentence folder")
            continue
        entry = table.get(sentence_key(folder.name))
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            if path.suffix.lower() not in VIDEO_EXTENSIONS:
                result.skip(str(path), "not a video file")
            elif entry is None:
                result.skip(str(path), f"sentence folder has no row in {GLOSS_CSV}")
            elif path.stat().st_size == 0:
                result.skip(str(path), "empty file")
            else:
                sentence, glosses = entry
                used.add(sentence_key(sentence))
                k = variant(path.stem)
                split = "test" if k in test else "dev" if k in dev else "train"
                result.utterances.append(
                    Utterance(
                        f"csltr-{slug(sentence)}-{k}",
                        video=str(path.resolve()),
                        glosses=glosses,
                        split=split,
                        signer=str(k),
                        text=sentence,
                    )
                )
    for key, (sentence, _) in table.items():
        if key not in used:
            result.skip(sentence, f"sentence in {GLOSS_CSV} without videos")
    drop_duplicate_ids(result)
    return result
