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

Example:
    >>> from islpose import Vocabulary
    >>> dec = build_decoder(DecoderConfig(beam_size=5), Vocabulary(["GO", "I"]))  # doctest: +SKIP
    >>> dec.decode(log_probs)  # (T, V) -> label indices  # doctest: +SKIP
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from islpose._native import silenced_stderr
from islpose._optional import require
from islpose.decode.config import DecoderConfig
from islpose.decode.greedy import collapse, ctc_log_likelihood, greedy_decode, greedy_decode_batch
from islpose.errors import IslposeError
from islpose.vocab import Vocabulary

class Decoder:
    """Base class: turns (T, V) log-probabilities into label indices."""

    def __init__(self, config: DecoderConfig, vocab: Vocabulary) -> None:
        config.check()
        self.config = config
        self.vocab = vocab

    def _checked(self, log_probs: np.ndarray | torch.Tensor) -> np.ndarray:
        if isinstance(log_probs, torch.Tensor):
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
        return greedy_decode_batch(log_probs, torch.as_tensor(lengths), self.vocab.blank_id)


def _flashlight():
    """flashlight-text's decoder module and Dictionary class (one line naming the extra when missing)."""
    fl = require("flashlight.lib.text.decoder", "decode", "flashlight-text (beam search, --beam > 1)")
    return fl, require("flashlight.lib.text.dictionary", "decode", "flashlight-text").Dictionary


def _insertion_lm(fl, inner, lm_weight: float, word_score: float):
    """An LM whose score is ``lm_weight * inner + word_score`` per gloss (search runs it at weight 1).

    flashlight's lexicon-free decoder has no word score of its own, so it is added here;
    the Python callback makes the search several times slower, so it is only used when
    ``word_score != 0``.
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


class BeamSearchDecoder(Decoder):
    """CTC prefix beam search through flashlight-text's ``LexiconFreeDecoder``.

    Every vocabulary entry is one LM token, so the LM scores gloss n-grams. ``<blank>``
    doubles as flashlight's silence token with a zero silence score (glosses have no
    word-boundary token).
    """

    def __init__(self, config: DecoderConfig, vocab: Vocabulary) -> None:
        super().__init__(config, vocab)
        fl, Dictionary = _flashlight()
        self.lm = fl.ZeroLM() if config.lm is None else _load_lm(config.lm, vocab, Dictionary)
        search_lm, weight = self.lm, config.lm_weight
        if config.word_score != 0:
            search_lm, weight = _insertion_lm(fl, self.lm, config.lm_weight, config.word_score), 1.0
        self._search_lm = search_lm  # the decoder does not own it: keep it alive
        tokens = config.beam_size_token or len(vocab)
        options = fl.LexiconFreeDecoderOptions(
            config.beam_size, min(tokens, len(vocab)), config.beam_threshold, weight, 0.0, True,
            fl.CriterionType.CTC)
        blank = vocab.blank_id
        self._decoder = fl.LexiconFreeDecoder(options, search_lm, blank, blank, [])

    def lm_score(self, labels: Sequence[int]) -> float:
        """Weighted LM score plus insertion scores of a whole labelling (end of sentence included)."""
        total = self.config.word_score * len(labels)
        if self.config.lm is None:
            return total
        state = self.lm.start(False)
        lm = 0.0
        for tok in labels:
            state, s = self.lm.score(state, int(tok))
            lm += s
        lm += self.lm.finish(state)[1]
        return total + self.config.lm_weight * lm

    def nbest(self, log_probs: np.ndarray | torch.Tensor) -> list[tuple[list[int], float]]:
        """The search's final hypotheses, best first.

        Args:
            log_probs: (T, V) log-probabilities of one utterance.

        Returns:
            (label indices, search score) pairs; the score is the log-probability summed over
            the alignments the beam kept, plus the LM and insertion terms.
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
        best, greedy = self.nbest(lp)[0][0], greedy_decode(lp, self.vocab.blank_id)
        if best == greedy:
            return best
        # The search's score sums only the alignments it kept: compare both exactly.
        exact = ctc_log_likelihood(lp, [best, greedy], self.vocab.blank_id)  # (2,)
        return best if exact[0] + self.lm_score(best) >= exact[1] + self.lm_score(greedy) else greedy


def _load_lm(path: str, vocab: Vocabulary, Dictionary: Callable):
    from flashlight.lib.text.decoder.kenlm import KenLM

    from islpose.decode.lm import arpa_vocabulary

    words = arpa_vocabulary(path)  # None for a KenLM binary
    if words is not None and not set(vocab.glosses) & words:
        raise IslposeError(f"{path}: the language model shares no gloss with the model's vocabulary")
    try:
        with silenced_stderr():  # KenLM prints a progress bar while it reads an ARPA file
            return KenLM(str(path), Dictionary(list(vocab.tokens)))
    except RuntimeError as exc:  # KenLM's parser errors; the last line says what is wrong
        raise IslposeError(f"{path}: cannot load language model ({str(exc).strip().splitlines()[-1]})") from exc


DECODERS: dict[str, type[Decoder]] = {"greedy": GreedyDecoder, "beam": BeamSearchDecoder}


def build_decoder(config: DecoderConfig, vocab: Vocabulary) -> Decoder:
    """The decoder ``config`` selects (greedy for ``beam_size == 1``, beam search otherwise)."""
    config.check()
    return DECODERS[config.method](config, vocab)
