"""Gloss n-gram language models: build an ARPA file, read one back, query it.

:func:`build_lm` estimates an interpolated modified Kneser-Ney model (Chen & Goodman
1998, the smoothing KenLM's ``lmplz`` uses) from gloss sentences and :func:`write_arpa`
writes it in the ARPA format that KenLM (and so flashlight's beam search) loads.
Sentences are padded with one ``<s>`` and ``</s>``; ``<unk>`` gets the mass the
unigram level spreads uniformly over the vocabulary. Lower orders use continuation
counts except for n-grams that start with ``<s>`` (nothing precedes them). When the
counts-of-counts of an order are too thin to estimate the three discounts (tiny corpora),
KenLM's fallback discounts 0.5 / 1.0 / 1.5 are used.

Example:
    >>> lm = build_lm([["I", "GO", "SCHOOL"], ["I", "GO", "HOME"]], order=3)
    >>> round(sum(lm.prob(w, ("I", "GO")) for w in lm.vocabulary), 6)
    1.0
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from islpose.errors import IslposeError

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)
_NO_PROB = -99.0  # ARPA convention for log10(0) (the <s> unigram)


@dataclass
class NgramLM:
    """A back-off n-gram model as an ARPA file stores it.

    Attributes:
        order: n.
        probs: per order (index 0 = unigrams), n-gram tuple -> log10 probability.
        backoffs: n-gram tuple -> log10 back-off weight (absent = 0).
    """

    order: int
    probs: list[dict[tuple[str, ...], float]]
    backoffs: dict[tuple[str, ...], float]

    @property
    def vocabulary(self) -> list[str]:
        """Every word the model can predict (all unigrams except ``<s>``)."""
        return [g[0] for g in self.probs[0] if g[0] != BOS]

    def log10_prob(self, word: str, context: Sequence[str] = ()) -> float:
        """log10 P(word | context) with ARPA back-off (unknown words are ``<unk>``)."""
        if (word,) not in self.probs[0]:
            word = UNK
        context = (
            tuple(c if (c,) in self.probs[0] else UNK for c in context)[-(self.order - 1) :] if self.order > 1 else ()
        )
        backoff = 0.0
        for start in range(len(context) + 1):
            h = context[start:]
            p = self.probs[len(h)].get(h + (word,))
            if p is not None:
                return backoff + p
            backoff += self.backoffs.get(h, 0.0)
        raise IslposeError(f"word {word!r} is missing from the unigrams (and there is no <unk>)")

    def prob(self, word: str, context: Sequence[str] = ()) -> float:
        """P(word | context) (a probability, not a log)."""
        return 10.0 ** self.log10_prob(word, context)

    def sentence_log10_prob(self, words: Sequence[str]) -> float:
        """log10 P(words </s> | <s>)."""
        seq = [BOS, *words, EOS]
        return sum(self.log10_prob(w, seq[max(0, i - self.order + 1) : i]) for i, w in enumerate(seq) if i > 0)

    def cost_per_gloss(self, sentences: Iterable[Sequence[str]]) -> float:
        """-sum log10 P(sentence) / number of glosses: the LM's average cost of one gloss
        (``</s>`` included). A decoder word score of ``lm_weight * cost_per_gloss`` cancels
        the LM's pull towards short hypotheses on text like ``sentences``."""
        total, glosses = 0.0, 0
        for sent in sentences:
            total -= self.sentence_log10_prob(sent)
            glosses += len(sent)
        if glosses == 0:
            raise IslposeError("no glosses to measure the LM on")
        return total / glosses


def _discounts(counts: Counter) -> tuple[float, float, float]:
    """Modified Kneser-Ney discounts D1, D2, D3+ from the counts-of-counts n1..n4 (fallback when unusable)."""
    n = Counter(counts.values())
    n1, n2, n3, n4 = (n[i] for i in (1, 2, 3, 4))
    if min(n1, n2, n3, n4) == 0:
        return FALLBACK_DISCOUNTS
    y = n1 / (n1 + 2 * n2)
    d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    if not all(0 < di < i + 1 for i, di in enumerate(d)):
        return FALLBACK_DISCOUNTS
    return d


def _raw_counts(sentences: Iterable[Sequence[str]], order: int) -> list[Counter]:
    """k-gram counts of the padded sentences (index k-1), k = 1..order; empty sentences are skipped."""
    raw: list[Counter] = [Counter() for _ in range(order)]
    n_sentences = 0
    for sent in sentences:
        words = list(sent)
        if not words:
            continue
        if any(w in (BOS, EOS) for w in words):
            raise IslposeError(f"glosses may not be {BOS} or {EOS}: {' '.join(words)}")
        n_sentences += 1
        seq = [BOS, *words, EOS]
        for k in range(1, order + 1):
            for i in range(len(seq) - k + 1):
                raw[k - 1][tuple(seq[i : i + k])] += 1
    if n_sentences == 0:
        raise IslposeError("no gloss sentences to build a language model from")
    return raw


def _adjusted_counts(raw: list[Counter]) -> list[Counter]:
    """Kneser-Ney's adjusted counts: raw for the top order and for n-grams starting with <s>,
    otherwise the number of distinct words seen before the n-gram (continuation count)."""
    order = len(raw)
    adjusted: list[Counter] = [Counter() for _ in range(order)]
    adjusted[order - 1] = Counter(raw[order - 1])
    for k in range(order - 1, 0, -1):
        for gram in raw[k]:  # (k+1)-grams
            adjusted[k - 1][gram[1:]] += 1
        for gram, c in raw[k - 1].items():
            if gram[0] == BOS:
                adjusted[k - 1][gram] = c
    adjusted[0].pop((BOS,), None)
    return adjusted


def _interpolate(
    adjusted: list[Counter], vocab: list[str]
) -> tuple[list[dict[tuple[str, ...], float]], dict[tuple[str, ...], float]]:
    """Interpolated modified Kneser-Ney: per order P(w | h) (linear), and h -> its
    interpolation (back-off) weight."""
    interp: list[dict[tuple[str, ...], float]] = [{} for _ in adjusted]
    gammas: dict[tuple[str, ...], float] = {}
    for k, counts in enumerate(adjusted, 1):
        d = _discounts(counts)
        discount = lambda c, d=d: d[min(c, 3) - 1]  # noqa: E731
        by_context: dict[tuple[str, ...], list[tuple[str, int]]] = defaultdict(list)
        for gram, c in counts.items():
            by_context[gram[:-1]].append((gram[-1], c))
        for h, followers in by_context.items():
            total = sum(c for _, c in followers)
            gammas[h] = sum(discount(c) for _, c in followers) / total
            for w, c in followers:
                lower = interp[k - 2][h[1:] + (w,)] if k > 1 else 1.0 / len(vocab)
                interp[k - 1][h + (w,)] = (c - discount(c)) / total + gammas[h] * lower
    for w in vocab:  # unseen words (<unk>) get only the uniform share of the unigram level
        interp[0].setdefault((w,), gammas[()] / len(vocab))
    return interp, gammas


def build_lm(sentences: Iterable[Sequence[str]], order: int = 3) -> NgramLM:
    """Estimates an interpolated modified Kneser-Ney gloss LM.

    Args:
        sentences: gloss sequences (empty ones are skipped).
        order: n-gram order, >= 1.

    Returns:
        The model, ready for :func:`write_arpa`.
    """
    if order < 1:
        raise IslposeError(f"LM order must be >= 1, got {order}")
    raw = _raw_counts(sentences, order)
    vocab = sorted({g[0] for g in raw[0]} - {BOS} | {UNK})
    interp, gammas = _interpolate(_adjusted_counts(raw), vocab)
    probs = [{g: math.log10(p) for g, p in level.items()} for level in interp]
    probs[0][(BOS,)] = _NO_PROB
    backoffs = {h: math.log10(g) for h, g in gammas.items() if h and g != 1.0}
    return NgramLM(order, probs, backoffs)


def write_arpa(lm: NgramLM, path: str | Path) -> Path:
    """Writes ``lm`` as an ARPA file (atomically: a temporary file, then a rename)."""
    path = Path(path)
    lines = ["", "\\data\\"] + [f"ngram {k + 1}={len(p)}" for k, p in enumerate(lm.probs)]
    for k, grams in enumerate(lm.probs):
        lines += ["", f"\\{k + 1}-grams:"]
        for gram in sorted(grams):
            row = f"{grams[gram]:.7f}\t{' '.join(gram)}"
            if gram in lm.backoffs:
                row += f"\t{lm.backoffs[gram]:.7f}"
            lines.append(row)
    lines += ["", "\\end\\", ""]
    from islpose.io.atomic import write_text_atomic  # islpose.io loads h5py: only when writing

    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(path, "\n".join(lines))


def fold_scores(lm: NgramLM, lm_weight: float, word_score: float, *, clamp: bool = False) -> NgramLM | None:
    """The LM whose log10 "probability" of each gloss is ``lm_weight * log10 P + word_score``.

    Decoding with it at LM weight 1 gives every labelling the score it gets from ``lm`` at
    ``lm_weight`` plus ``word_score`` per gloss: an ARPA back-off score is one n-gram's
    log-probability plus back-off weights, so scaling all of them by ``lm_weight`` scales
    the score, and adding ``word_score`` to every n-gram of a gloss (not ``</s>``, not
    ``<s>``) adds it once per gloss. This puts the word score into the LM that flashlight's
    C++ search runs, instead of a Python callback.

    Args:
        lm: the model.
        lm_weight: weight of its log10 scores.
        word_score: added once per gloss.
        clamp: cap positive folded values at 0 instead of giving up. The folded model then
            scores an n-gram ``max(0, lm_weight * log10 P + word_score)`` lower than it should,
            so a search on it is no longer exact (its n-best must be rescored).

    Returns:
        The folded model, or None when a folded value would be positive and ``clamp`` is
        False: KenLM refuses positive log-probabilities (it keeps a flag in their sign bit),
        so a word score above ``-lm_weight * log10 P`` of some n-gram cannot be folded.
    """
    probs: list[dict[tuple[str, ...], float]] = []
    for level in lm.probs:
        folded = {}
        for gram, p in level.items():
            if gram == (BOS,):
                folded[gram] = p  # never predicted
                continue
            folded[gram] = lm_weight * p + (0.0 if gram[-1] == EOS else word_score)
            if folded[gram] > 0:
                if not clamp:
                    return None
                folded[gram] = 0.0
        probs.append(folded)
    return NgramLM(lm.order, probs, {h: lm_weight * b for h, b in lm.backoffs.items()})


def clamped_fold(lm: NgramLM, lm_weight: float, word_score: float) -> tuple[NgramLM, float]:
    """LM weight and word score folded into a model KenLM can hold, however large the word score.

    Where :func:`fold_scores` gives up (a folded log-probability ``f = lm_weight * log10 P +
    word_score`` is positive for some n-gram), the model either holds ``min(f, 0)`` and is
    run at weight 1, or holds ``min(-f, 0)`` and is run at weight -1 (exact for every n-gram
    with ``f >= 0``: the choice for large word scores). Whichever clamps fewer n-grams is
    returned. A search on it is not exact: its n-best must be rescored with the real terms.

    Returns:
        (folded model, the LM weight to run it at: 1.0 or -1.0).
    """

    def clamped(sign: float) -> int:
        return sum(
            sign * (lm_weight * p + (0.0 if gram[-1] == EOS else word_score)) > 0
            for level in lm.probs
            for gram, p in level.items()
            if gram != (BOS,)
        )

    sign = 1.0 if clamped(1.0) <= clamped(-1.0) else -1.0
    return fold_scores(lm, sign * lm_weight, sign * word_score, clamp=True), sign


def constant_lm(glosses: Iterable[str], score: float) -> NgramLM:
    """A bigram LM in which every gloss (and ``<unk>``) scores ``score`` and ``</s>`` scores 0
    (``score <= 0``; KenLM needs at least one bigram: ``<s> </s>``)."""
    if score > 0:
        raise IslposeError(f"a constant LM score must be <= 0, got {score}")
    unigrams = {(g,): score for g in [*glosses, UNK]}
    unigrams.update({(BOS,): _NO_PROB, (EOS,): 0.0})
    return NgramLM(2, [unigrams, {(BOS, EOS): 0.0}], {})


def _arpa_lines(path: Path):
    try:
        with path.open(encoding="utf-8") as handle:
            first = ""
            for lineno, line in enumerate(handle, 1):
                line = line.strip()
                if not first:
                    if not line:
                        continue
                    first = line
                    if first != "\\data\\":
                        return
                yield lineno, line
    except UnicodeDecodeError:  # a KenLM binary
        return
    except OSError as exc:
        raise IslposeError(f"{path}: cannot read language model ({exc.strerror or exc})") from exc


def is_arpa(path: str | Path) -> bool:
    """True when ``path`` is a text ARPA file (else, presumably, a KenLM binary)."""
    return next(_arpa_lines(Path(path)), None) is not None


def arpa_vocabulary(path: str | Path) -> set[str] | None:
    """The unigrams of an ARPA file, or None when it is not an ARPA file (a KenLM binary)."""
    words, in_unigrams, arpa = set(), False, False
    for _, line in _arpa_lines(Path(path)):
        arpa = True
        if line.startswith("\\"):
            if in_unigrams:
                break
            in_unigrams = line == "\\1-grams:"
        elif in_unigrams and len(line.split()) >= 2:
            words.add(line.split()[1])
    return words if arpa else None


def read_arpa(path: str | Path) -> NgramLM:
    """Reads an ARPA file (the inverse of :func:`write_arpa`)."""
    path = Path(path)
    if not is_arpa(path):
        raise IslposeError(f"{path}: not an ARPA file (no \\data\\ header)")
    counts: dict[int, int] = {}
    probs: list[dict[tuple[str, ...], float]] = []
    backoffs: dict[tuple[str, ...], float] = {}
    section = 0
    for lineno, line in _arpa_lines(path):
        if not line or line == "\\data\\":
            continue
        if line.startswith("ngram "):
            n, _, c = line[6:].partition("=")
            counts[int(n)] = int(c)
        elif line == "\\end\\":
            break
        elif line.startswith("\\") and line.endswith("-grams:"):
            section = int(line[1:-7])
            probs.extend({} for _ in range(section - len(probs)))
        elif section:
            parts = line.split()
            if len(parts) not in (section + 1, section + 2):
                raise IslposeError(f"{path}:{lineno}: expected a {section}-gram line, got {line!r}")
            gram = tuple(parts[1 : section + 1])
            probs[section - 1][gram] = float(parts[0])
            if len(parts) == section + 2:
                backoffs[gram] = float(parts[-1])
    for n, c in counts.items():
        if n > len(probs) or len(probs[n - 1]) != c:
            raise IslposeError(
                f"{path}: header says {c} {n}-grams, found {len(probs[n - 1]) if n <= len(probs) else 0}"
            )
    if not probs:
        raise IslposeError(f"{path}: no n-grams")
    return NgramLM(len(probs), probs, backoffs)


def manifest_sentences(manifest: str | Path, split: str | None = "train") -> list[tuple[str, ...]]:
    """The gloss sequences of one split of a manifest (None: every utterance), to build an LM from."""
    from islpose.manifests import select_utterances

    return [u.glosses for u in select_utterances(manifest, split, require=("glosses",))]


def build_lm_file(
    manifest: str | Path, out: str | Path, order: int = 3, split: str | None = "train", *, overwrite: bool = False
) -> tuple[NgramLM, list[tuple[str, ...]]]:
    """Builds a gloss LM from a manifest's split (:func:`build_lm`) and writes it to ``out`` as ARPA.

    Args:
        manifest: the manifest whose gloss sequences are the text.
        out: the ARPA file; kept, an error, when it exists unless ``overwrite``.
        order: the n-gram order.
        split: the split to learn from (None: every utterance).
        overwrite: replace ``out`` when it exists.

    Returns:
        The model and the sentences it was built from.
    """
    from islpose.io.atomic import check_output

    check_output(out, overwrite)
    sentences = manifest_sentences(manifest, split)
    model = build_lm(sentences, order)
    write_arpa(model, out)
    return model, sentences
