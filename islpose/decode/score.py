"""Gloss files (``id<TAB>glosses``) and WER with jiwer.

Example:
    >>> r = score_texts({"u1": "I GO SCHOOL"}, {"u1": "I GO HOME NOW"})
    >>> (r.substitutions, r.deletions, r.insertions, r.ref_words)
    (1, 0, 1, 3)
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

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
        return (
            f"WER {100 * self.wer:.2f}% (S={self.substitutions} D={self.deletions} I={self.insertions}, "
            f"{self.ref_words} reference glosses, {self.utterances} utterances)"
        )


def _words(text: str | Sequence[str]) -> str:
    return " ".join(text.split() if isinstance(text, str) else text)


def score_texts(
    refs: Mapping[str, str | Sequence[str]],
    hyps: Mapping[str, str | Sequence[str]],
    *,
    ref_name: str = "reference",
    hyp_name: str = "hypotheses",
) -> ScoreResult:
    """Scores hypotheses against references, matched by utterance id.

    Args:
        refs: id -> reference glosses (a space-separated string or a list).
        hyps: id -> hypothesis glosses; must hold exactly the ids of ``refs``.
        ref_name, hyp_name: names used in error messages (e.g. the file paths).

    Raises:
        IslposeError: ids missing from or extra in ``hyps``, or no reference glosses at all.
    """
    return score_lists(*_paired(refs, hyps, ref_name, hyp_name))


def _paired(
    refs: Mapping[str, str | Sequence[str]], hyps: Mapping[str, str | Sequence[str]], ref_name: str, hyp_name: str
) -> tuple[list[str], list[str]]:
    """(reference strings, hypothesis strings) in the references' order, the ids checked."""
    missing = [i for i in refs if i not in hyps]
    extra = [i for i in hyps if i not in refs]
    for ids, what in ((missing, f"missing from {hyp_name}"), (extra, f"in {hyp_name} but not in {ref_name}")):
        if ids:
            raise IslposeError(
                f"{len(ids)} utterance id(s) {what}: {', '.join(map(repr, ids[:5]))}" + (" ..." if len(ids) > 5 else "")
            )
    ids = list(refs)
    ref_texts = [_words(refs[i]) for i in ids]
    if not any(ref_texts):
        raise IslposeError(f"{ref_name}: no reference glosses to score against")
    return ref_texts, [_words(hyps[i]) for i in ids]


def score_lists(references: Sequence[str], hypotheses: Sequence[str]) -> ScoreResult:
    """WER of paired space-separated gloss strings (same order, references non-empty)."""
    import jiwer

    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    out = jiwer.process_words(list(references), list(hypotheses))
    return ScoreResult(
        wer=float(out.wer),
        substitutions=out.substitutions,
        deletions=out.deletions,
        insertions=out.insertions,
        ref_words=out.hits + out.substitutions + out.deletions,
        utterances=len(references),
    )


@dataclass
class ErrorDetails:
    """Per-utterance alignments and the most frequent errors (``islpose score --details``).

    Attributes:
        alignments: id -> three lines (``REF:``, ``HYP:``, and the S/D/I marks under them),
            in the references' order.
        substitutions: (reference gloss, hypothesis gloss) -> count.
        deletions: reference gloss -> count.
        insertions: hypothesis gloss -> count.
    """

    alignments: dict[str, list[str]]
    substitutions: Counter
    deletions: Counter
    insertions: Counter

    def report(self, top: int = 20) -> str:
        """The alignments of the utterances with errors, then the ``top`` most frequent
        confusions, deletions and insertions (count, then gloss)."""
        lines = []
        for uid, rows in self.alignments.items():
            if rows[2].strip():
                lines += [uid, *(f"  {row}" for row in rows), ""]
        n_ok = sum(1 for rows in self.alignments.values() if not rows[2].strip())
        lines.append(
            f"{len(self.alignments) - n_ok} of {len(self.alignments)} utterances with errors "
            f"({n_ok} without are not shown)"
        )
        tables = (
            ("substitutions (reference -> hypothesis)", self.substitutions, lambda k: f"{k[0]} -> {k[1]}"),
            ("deletions", self.deletions, str),
            ("insertions", self.insertions, str),
        )
        for title, counts, show in tables:
            lines += ["", f"most frequent {title}: {sum(counts.values())} in all"]
            lines += [f"{n:6d}  {show(k)}" for k, n in counts.most_common(top)] or ["     -"]
        return "\n".join(lines) + "\n"


def _align_rows(ref: list[str], hyp: list[str], chunks) -> list[str]:
    """REF / HYP / marks lines of one jiwer alignment (``*`` fills the gaps, as jiwer prints them)."""
    top, bottom, marks = [], [], []
    mark = {"substitute": "S", "delete": "D", "insert": "I", "equal": " "}
    for c in chunks:
        r, h = ref[c.ref_start_idx : c.ref_end_idx], hyp[c.hyp_start_idx : c.hyp_end_idx]
        for i in range(max(len(r), len(h))):
            a = r[i] if i < len(r) else "*" * len(h[i])
            b = h[i] if i < len(h) else "*" * len(r[i])
            width = max(len(a), len(b))
            top.append(a.ljust(width))
            bottom.append(b.ljust(width))
            marks.append(mark[c.type].ljust(width))
    return ["REF: " + " ".join(top).rstrip(), "HYP: " + " ".join(bottom).rstrip(), "     " + " ".join(marks).rstrip()]


def error_details(
    refs: Mapping[str, str | Sequence[str]],
    hyps: Mapping[str, str | Sequence[str]],
    *,
    ref_name: str = "reference",
    hyp_name: str = "hypotheses",
) -> ErrorDetails:
    """Aligns each hypothesis with its reference (jiwer) and counts the errors by gloss.

    Args:
        refs, hyps, ref_name, hyp_name: as for :func:`score_texts` (the same checks).
    """
    import jiwer

    ids = list(refs)
    ref_texts, hyp_texts = _paired(refs, hyps, ref_name, hyp_name)
    out = jiwer.process_words(ref_texts, hyp_texts)
    alignments = {
        uid: _align_rows(r.split(), h.split(), chunks)
        for uid, r, h, chunks in zip(ids, ref_texts, hyp_texts, out.alignments)
    }
    subs, ins, dels = jiwer.collect_error_counts(out)
    return ErrorDetails(alignments, Counter(subs), Counter(dels), Counter(ins))


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


def score_files(
    ref: str | Path,
    hyp: str | Path,
    *,
    split: str | None = None,
    json_out: str | Path | None = None,
    details: str | Path | None = None,
    top: int = 20,
    overwrite: bool = False,
) -> tuple[ScoreResult, str | None]:
    """Scores a hypothesis file against references and writes the requested reports.

    Args:
        ref: ``id<TAB>glosses`` references, or a manifest (see :func:`read_references`).
        hyp: ``id<TAB>glosses`` hypotheses; every reference id needs exactly one.
        split: with a manifest ``ref``: only this split.
        json_out: write :meth:`ScoreResult.to_dict` here as JSON.
        details: write the summary and :meth:`ErrorDetails.report` (alignments, most frequent errors) here.
        top: how many of each kind of error the details list.
        overwrite: replace ``json_out`` and ``details`` when they exist (else they are kept, an error),
            checked before anything is read.

    Returns:
        The score, and the details report (None without ``details``).
    """
    from islpose.io.atomic import check_output, write_text_atomic

    for path in (json_out, details):
        if path:
            check_output(path, overwrite)
    refs, hyps = read_references(ref, split), read_glosses(hyp)
    result = score_texts(refs, hyps, ref_name=str(ref), hyp_name=str(hyp))
    report = None
    if details:
        report = error_details(refs, hyps, ref_name=str(ref), hyp_name=str(hyp)).report(top)
        Path(details).parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(details, f"{result.summary()}\n\n{report}")
    if json_out:
        write_json(result.to_dict(), json_out)
    return result, report
