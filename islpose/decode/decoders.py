"""CTC decoders by name: ``greedy`` and ``beam`` (flashlight-text's lexicon-free beam search).

Both take a :class:`DecoderConfig` and a :class:`~islpose.Vocabulary`; ``--beam 1`` means
greedy. The beam search is a CTC prefix beam search: hypotheses with the same gloss
prefix are merged by adding their probabilities (``log_add``), so with a beam wide enough
to keep every prefix it finds the labelling of highest total probability. A narrow beam
sums only the alignments it kept, so when its best labelling differs from the greedy one
both are scored exactly (CTC forward over all alignments, plus the LM and insertion
terms) and the better one is returned: beam search never returns a labelling that scores
worse than greedy's on the model's own probabilities.

Scores: emissions are natural-log probabilities; an LM's scores are log10 (as KenLM
reports them), weighted by ``lm_weight``; ``word_score`` is added once per emitted gloss.
The lexicon-free decoder has no word score: it is folded into the LM's n-gram scores so
that the whole search runs in C++. Where KenLM cannot hold a folded score (a positive
log-probability) the fold is clamped and the search's n-best is rescored exactly.

Example:
    >>> from islpose import Vocabulary
    >>> dec = build_decoder(DecoderConfig(beam_size=5), Vocabulary(["GO", "I"]))  # doctest: +SKIP
    >>> dec.decode(log_probs)  # (T, V) -> label indices  # doctest: +SKIP
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from islpose._native import silenced_stderr
from islpose._optional import require
from islpose.decode.config import DecoderConfig
from islpose.decode.greedy import collapse, ctc_log_likelihood, greedy_decode, greedy_decode_batch
from islpose.decode.lm import NgramLM
from islpose.errors import IslposeError
from islpose.vocab import Vocabulary

if TYPE_CHECKING:  # decoding numpy emissions needs no torch (an app running an ONNX model)
    import torch


class Decoder:
    """Base class: turns (T, V) log-probabilities into label indices."""

    search = "greedy"  # where the search runs: "greedy" (NumPy/torch argmax), "C++", "C++, rescored", "Python LM"

    def __init__(self, config: DecoderConfig, vocab: Vocabulary) -> None:
        config.check()
        self.config = config
        self.vocab = vocab

    def _checked(self, log_probs: np.ndarray | torch.Tensor) -> np.ndarray:
        if not isinstance(log_probs, np.ndarray):  # a torch tensor
            log_probs = log_probs.detach().float().cpu().numpy()
        lp = np.ascontiguousarray(log_probs, dtype=np.float32)
        if lp.ndim != 2 or lp.shape[1] != len(self.vocab):
            raise IslposeError(f"emissions of shape {lp.shape} do not fit a vocabulary of {len(self.vocab)} tokens")
        return lp

    def decode(self, log_probs: np.ndarray | torch.Tensor) -> list[int]:
        """Args: log_probs (T, V) of one utterance. Returns: label indices (no blanks)."""
        raise NotImplementedError

    def decode_batch(self, log_probs: torch.Tensor, lengths: Sequence[int] | torch.Tensor) -> list[list[int]]:
        """Args: log_probs (T', B, V) as a model returns them; lengths (B,) valid frames.

        Returns:
            B label sequences.
        """
        lp = log_probs.detach().float().cpu()
        return [self.decode(lp[: int(n), b]) for b, n in enumerate(lengths)]  # (T'_b, V) each

    def glosses(self, labels: Sequence[int]) -> list[str]:
        """Label indices -> gloss strings."""
        return self.vocab.decode(labels)


class GreedyDecoder(Decoder):
    """Argmax per frame, merge repeats, drop blanks."""

    def decode(self, log_probs: np.ndarray | torch.Tensor) -> list[int]:
        return greedy_decode(self._checked(log_probs), self.vocab.blank_id)

    def decode_batch(self, log_probs: torch.Tensor, lengths: Sequence[int] | torch.Tensor) -> list[list[int]]:
        return greedy_decode_batch(log_probs, lengths, self.vocab.blank_id)


def _flashlight():
    """flashlight-text's decoder module and Dictionary class (one line naming the extra when missing)."""
    fl = require("flashlight.lib.text.decoder", "decode", "flashlight-text (beam search, --beam > 1)")
    return fl, require("flashlight.lib.text.dictionary", "decode", "flashlight-text").Dictionary


def _insertion_lm(fl, inner, lm_weight: float, word_score: float):
    """An LM whose score is ``lm_weight * inner + word_score`` per gloss (search runs it at weight 1).

    A Python callback, several times slower than a search that stays in C++: only used with a
    KenLM binary LM, which cannot be read back to fold the word score in (see :func:`_search_lm`),
    and as the exact reference in tests and benchmarks.
    """

    class InsertionLM(fl.LM):
        def __init__(self) -> None:
            fl.LM.__init__(self)

        def start(self, start_with_nothing: bool):
            return inner.start(start_with_nothing)

        def score(self, state, token: int):
            out, lm = inner.score(state, token)
            return out, lm_weight * lm + word_score

        def finish(self, state):
            out, lm = inner.finish(state)
            return out, lm_weight * lm

    return InsertionLM()


@dataclass
class _SearchLM:
    """The LM flashlight's search runs, and how a whole labelling is scored exactly.

    Attributes:
        lm: the LM the search runs (KenLM, ZeroLM, or a folded KenLM).
        weight: its weight in the search.
        word_score: the part of the word score the search does not hold (a Python callback adds it).
        exact: (LM, weight, word score) that score a labelling exactly, where the search's LM
            is only an approximation (a clamped fold); None when the search is exact.
    """

    lm: object
    weight: float
    word_score: float
    exact: tuple[object, float, float] | None = None


def _search_lm(config: DecoderConfig, vocab: Vocabulary, fold: bool) -> _SearchLM:
    """The LM for flashlight's search.

    A word score is folded into a KenLM model that the C++ search runs, so nothing is left
    over: into the ARPA LM's n-grams (:func:`~islpose.decode.lm.fold_scores`, at weight 1),
    or without an LM (or at LM weight 0) into a constant LM of ``-|word_score|`` per gloss
    run at weight ``-sign(word_score)``. Where a folded log-probability would be positive
    (KenLM cannot hold it) the fold is clamped (:func:`~islpose.decode.lm.clamped_fold`):
    the C++ search then runs on slightly other scores for some n-grams, and its n-best is
    rescored with the exact ones. Only a KenLM binary (which cannot be read back to fold),
    or ``fold=False``, leaves the word score to a Python callback.
    """
    from islpose.decode.lm import clamped_fold, constant_lm, fold_scores, is_arpa, read_arpa

    fl, Dictionary = _flashlight()
    ws = config.word_score
    if ws != 0 and fold:
        if config.lm is not None:
            _check_vocabulary(config.lm, vocab)
        if config.lm is None or config.lm_weight == 0:  # an LM at weight 0 adds nothing
            return _SearchLM(
                _load_lm(constant_lm(vocab.glosses, -abs(ws)), vocab, Dictionary), math.copysign(1.0, -ws), 0.0
            )
        if is_arpa(config.lm):
            lm = read_arpa(config.lm)
            folded = fold_scores(lm, config.lm_weight, ws)
            if folded is not None:
                return _SearchLM(_load_lm(folded, vocab, Dictionary, name=config.lm), 1.0, 0.0)
            clamped, weight = clamped_fold(lm, config.lm_weight, ws)
            exact = (_load_lm(config.lm, vocab, Dictionary), config.lm_weight, ws)
            return _SearchLM(_load_lm(clamped, vocab, Dictionary, name=config.lm), weight, 0.0, exact)
    if config.lm is None:
        return _SearchLM(fl.ZeroLM(), 1.0, ws)
    return _SearchLM(_load_lm(config.lm, vocab, Dictionary), config.lm_weight, ws)


class BeamSearchDecoder(Decoder):
    """CTC prefix beam search through flashlight-text's ``LexiconFreeDecoder``.

    Every vocabulary entry is one LM token, so the LM scores gloss n-grams. ``<blank>``
    doubles as flashlight's silence token with a zero silence score (glosses have no
    word-boundary token). ``native`` tells whether the whole search (LM and word score)
    runs in C++; ``rescored`` whether it ran on a clamped fold of LM and word score (see
    :func:`_search_lm`), so that its n-best is rescored exactly; ``fold=False`` keeps the
    word score in a Python callback (the exact reference the folded LM is tested against).
    """

    def __init__(self, config: DecoderConfig, vocab: Vocabulary, *, fold: bool = True) -> None:
        super().__init__(config, vocab)
        fl, _ = _flashlight()
        search = _search_lm(config, vocab, fold)
        self.native = search.word_score == 0
        self.rescored = search.exact is not None
        self.search = "Python LM" if not self.native else "C++, rescored" if self.rescored else "C++"
        # (LM or None, weight, word score) of the search, and the exact ones that lm_score uses
        self._search_terms = (None if isinstance(search.lm, fl.ZeroLM) else search.lm, search.weight, search.word_score)
        self._exact_terms = search.exact or self._search_terms
        search_lm, weight = search.lm, search.weight
        if not self.native:
            search_lm, weight = _insertion_lm(fl, search.lm, search.weight, search.word_score), 1.0
        self._search_lm = search_lm  # the decoder does not own it: keep it alive
        tokens = config.beam_size_token or len(vocab)
        options = fl.LexiconFreeDecoderOptions(
            config.beam_size, min(tokens, len(vocab)), config.beam_threshold, weight, 0.0, True, fl.CriterionType.CTC
        )
        blank = vocab.blank_id
        self._decoder = fl.LexiconFreeDecoder(options, search_lm, blank, blank, [])

    def lm_score(self, labels: Sequence[int]) -> float:
        """Weighted LM score plus insertion scores of a whole labelling (end of sentence included)."""
        return _labelling_scores(*self._exact_terms, [tuple(labels)])[0]

    def nbest(self, log_probs: np.ndarray | torch.Tensor) -> list[tuple[list[int], float]]:
        """The search's final hypotheses, best first.

        Args:
            log_probs: (T, V) log-probabilities of one utterance.

        Returns:
            (label indices, search score) pairs; the score is the log-probability summed over
            the alignments the beam kept, plus the LM and insertion terms (as the search's LM
            gives them: clamped where ``rescored``).
        """
        lp = self._checked(log_probs)  # (T, V) float32, contiguous
        if lp.shape[0] == 0:
            return [([], 0.0)]
        results = self._decoder.decode(lp.ctypes.data, *lp.shape)
        return [(collapse(r.tokens, self.vocab.blank_id), r.score) for r in results]

    def decode(self, log_probs: np.ndarray | torch.Tensor) -> list[int]:
        lp = self._checked(log_probs)
        if lp.shape[0] == 0:
            return []
        nbest = self.nbest(lp)
        best = nbest[0][0] if not self.rescored else self._rescore(nbest)
        greedy = greedy_decode(lp, self.vocab.blank_id)
        if best == greedy:
            return best
        # The search's score sums only the alignments it kept: compare both exactly.
        exact = ctc_log_likelihood(lp, [best, greedy], self.vocab.blank_id)  # (2,)
        return best if exact[0] + self.lm_score(best) >= exact[1] + self.lm_score(greedy) else greedy

    def _rescore(self, nbest: list[tuple[list[int], float]]) -> list[int]:
        """The best labelling of a search on a clamped LM, once its LM terms are replaced by the
        exact ones (hypotheses of one labelling, ending in a blank or not, are summed first)."""
        merged: dict[tuple[int, ...], float] = {}
        for labels, score in nbest:
            key = tuple(labels)
            merged[key] = np.logaddexp(merged[key], score) if key in merged else score
        ys = list(merged)
        exact = (
            np.array([merged[y] for y in ys])
            - np.array(_labelling_scores(*self._search_terms, ys))
            + np.array(_labelling_scores(*self._exact_terms, ys))
        )
        return list(ys[int(np.argmax(exact))])


def _labelling_scores(lm, lm_weight: float, word_score: float, labellings: Sequence[tuple[int, ...]]) -> list[float]:
    """``lm_weight`` x the LM's log10 score of each whole labelling (end of sentence included)
    + ``word_score`` per gloss, as flashlight's search adds them up (``lm`` None: no LM).
    The LM states of a prefix shared with the labelling before (in sorted order) are reused:
    an n-best list is mostly one prefix."""
    if lm is None or lm_weight == 0:
        return [word_score * len(y) for y in labellings]
    scores: dict[tuple[int, ...], float] = {}
    prev: tuple[int, ...] = ()
    stack = [(lm.start(False), 0.0)]  # stack[i]: LM state and summed score after i labels of prev
    for y in sorted(set(labellings)):
        shared = next((i for i, (a, b) in enumerate(zip(prev, y)) if a != b), min(len(prev), len(y)))
        del stack[shared + 1 :]
        for tok in y[shared:]:
            state, s = lm.score(stack[-1][0], int(tok))
            stack.append((state, stack[-1][1] + s))
        scores[y] = word_score * len(y) + lm_weight * (stack[-1][1] + lm.finish(stack[-1][0])[1])
        prev = y
    return [scores[y] for y in labellings]


def _check_vocabulary(path: str, vocab: Vocabulary) -> None:
    from islpose.decode.lm import arpa_vocabulary

    words = arpa_vocabulary(path)  # None for a KenLM binary
    if words is not None and not set(vocab.glosses) & words:
        raise IslposeError(f"{path}: the language model shares no gloss with the model's vocabulary")


def _load_lm(lm: str | NgramLM, vocab: Vocabulary, Dictionary: Callable, name: str | None = None):
    """flashlight's KenLM from an ARPA / KenLM binary file, or from an in-memory :class:`NgramLM`
    (written to a temporary ARPA file; ``name`` is the file it came from, for messages)."""
    from flashlight.lib.text.decoder.kenlm import KenLM

    from islpose.decode.lm import write_arpa

    if not isinstance(lm, (str, Path)):
        with tempfile.TemporaryDirectory(prefix="islpose-lm-") as tmp:
            return _load_lm(str(write_arpa(lm, Path(tmp) / "folded.arpa")), vocab, Dictionary, name or "folded LM")
    if name is None:
        _check_vocabulary(lm, vocab)
    try:
        with silenced_stderr():  # KenLM prints a progress bar while it reads an ARPA file
            return KenLM(str(lm), Dictionary(list(vocab.tokens)))
    except RuntimeError as exc:  # KenLM's parser errors; the last line says what is wrong
        raise IslposeError(f"{name or lm}: cannot load language model ({str(exc).strip().splitlines()[-1]})") from exc


DECODERS: dict[str, type[Decoder]] = {"greedy": GreedyDecoder, "beam": BeamSearchDecoder}


def build_decoder(config: DecoderConfig, vocab: Vocabulary) -> Decoder:
    """The decoder ``config`` selects (greedy for ``beam_size == 1``, beam search otherwise)."""
    config.check()
    return DECODERS[config.method](config, vocab)
