"""Gloss files (``id<TAB>glosses``) and WER with jiwer.

Example:
    >>> r = score_texts({"u1": "I GO SCHOOL"}, {"u1": "I GO HOME NOW"})
    >>> (r.substitutions, r.deletions, r.insertions, r.ref_words)
    (1, 0, 1, 3)
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping, Sequence

from islpose.errors import IslposeError


@dataclass(frozen=True)
class ScoreResult:
    """Word error rate over a set of utterances (WER = (S + D + I) / ref_words)."""

    wer: float
    substitutions: int
    deletions: int
    insertions: int
    ref_words: int
    utterances: int

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        """One line, e.g. ``WER 12.50% (S=3 D=1 I=1, 40 reference glosses, 8 utterances)``."""
        return (f"WER {100 * self.wer:.2f}% (S={self.substitutions} D={self.deletions} I={self.insertions}, "
                f"{self.ref_words} reference glosses, {self.utterances} utterances)")


def _words(text: str | Sequence[str]) -> str:
    return " ".join(text.split() if isinstance(text, str) else text)


def score_texts(refs: Mapping[str, str | Sequence[str]], hyps: Mapping[str, str | Sequence[str]],
                *, ref_name: str = "reference", hyp_name: str = "hypotheses") -> ScoreResult:
    """Scores hypotheses against references, matched by utterance id.

    Args:
        refs: id -> reference glosses (a space-separated string or a list).
        hyps: id -> hypothesis glosses; must hold exactly the ids of ``refs``.
        ref_name, hyp_name: names used in error messages (e.g. the file paths).

    Raises:
        IslposeError: ids missing from or extra in ``hyps``, or no reference glosses at all.
    """
    missing = [i for i in refs if i not in hyps]
    extra = [i for i in hyps if i not in refs]
    for ids, what in ((missing, f"missing from {hyp_name}"), (extra, f"in {hyp_name} but not in {ref_name}")):
        if ids:
            raise IslposeError(f"{len(ids)} utterance id(s) {what}: {', '.join(map(repr, ids[:5]))}"
                               + (" ..." if len(ids) > 5 else ""))
    ids = list(refs)
    ref_texts = [_words(refs[i]) for i in ids]
    if not any(ref_texts):
        raise IslposeError(f"{ref_name}: no reference glosses to score against")
    return score_lists(ref_texts, [_words(hyps[i]) for i in ids])


def score_lists(references: Sequence[str], hypotheses: Sequence[str]) -> ScoreResult:
    """WER of paired space-separated gloss strings (same order, references non-empty)."""
    import jiwer

    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    out = jiwer.process_words(list(references), list(hypotheses))
    return ScoreResult(wer=float(out.wer), substitutions=out.substitutions, deletions=out.deletions,
                       insertions=out.insertions, ref_words=out.hits + out.substitutions + out.deletions,
                       utterances=len(references))


def read_glosses(path: str | Path) -> dict[str, list[str]]:
    """Reads an ``id<TAB>glosses`` file (a line with only an id is an empty hypothesis).

    Raises:
        IslposeError: unreadable file or a repeated id (the message names file and line).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise IslposeError(f"{path}: cannot read gloss file ({getattr(exc, 'strerror', None) or exc})") from exc
    out: dict[str, list[str]] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        uid, tab, glosses = line.partition("\t")
        uid = uid.strip()
        if not uid or (not tab and " " in uid):
            raise IslposeError(f"{path}:{lineno}: expected 'id<TAB>glosses', got {line[:60]!r}")
        if uid in out:
            raise IslposeError(f"{path}:{lineno}: id {uid!r} appears twice")
        out[uid] = glosses.split()
    return out


def read_references(path: str | Path, split: str | None = None) -> dict[str, list[str]]:
    """References from an ``id<TAB>glosses`` file or a manifest (``.jsonl`` / ``.csv``, one split or all)."""
    path = Path(path)
    if path.suffix.lower() not in (".jsonl", ".ndjson", ".csv"):
        if split is not None:
            raise IslposeError(f"{path}: --split only applies to a manifest reference (.jsonl or .csv)")
        return read_glosses(path)
    from islpose.manifests import select_utterances

    utts = select_utterances(path, split, require=("glosses",))
    return {u.id: list(u.glosses) for u in utts}


def _write_atomic(path: Path, text: str) -> Path:
    from islpose.io.atomic import write_text_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(path, text)


def write_glosses(items: Mapping[str, Sequence[str]], path: str | Path) -> Path:
    """Writes ``id<TAB>glosses`` lines in the mapping's order (atomically)."""
    return _write_atomic(Path(path), "".join(f"{uid}\t{' '.join(g)}\n" for uid, g in items.items()))


def write_json(data: Mapping, path: str | Path) -> Path:
    """Writes a JSON summary (atomically)."""
    return _write_atomic(Path(path), json.dumps(data, indent=2) + "\n")
