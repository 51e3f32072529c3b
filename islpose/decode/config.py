"""Decoder settings (no heavy imports: the CLI reads the defaults from here)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from islpose.errors import IslposeError


@dataclass
class DecoderConfig:
    """Decoding settings (the ``decode`` command's options map one-to-one onto these).

    Attributes:
        beam_size: hypotheses kept per frame; 1 = greedy decoding.
        beam_size_token: glosses tried per frame (the most probable ones); 0 = all.
        beam_threshold: drop hypotheses scoring this much (log) below the best one.
        lm: ARPA or KenLM binary gloss n-gram LM, or None.
        lm_weight: weight of the LM's log10 score.
        word_score: added once per emitted gloss (gloss insertion score).
    """

    beam_size: int = 5
    beam_size_token: int = 25
    beam_threshold: float = 25.0
    lm: str | None = None
    lm_weight: float = 0.5
    word_score: float = 0.0

    @property
    def method(self) -> str:
        """Registry name of the decoder these settings select."""
        return "greedy" if self.beam_size == 1 else "beam"

    def check(self) -> None:
        """Raises :class:`IslposeError` on impossible settings."""
        if self.beam_size < 1:
            raise IslposeError(f"beam size must be >= 1, got {self.beam_size}")
        if self.beam_size_token < 0:
            raise IslposeError(f"beam_size_token must be >= 0 (0 = all glosses), got {self.beam_size_token}")
        if not self.beam_threshold > 0:
            raise IslposeError(f"beam_threshold must be > 0, got {self.beam_threshold}")
        if self.beam_size == 1 and (self.lm is not None or self.word_score != 0):
            raise IslposeError("an LM or a word score needs beam search: use a beam size > 1")
        if self.lm is not None and not Path(self.lm).is_file():
            raise IslposeError(f"{self.lm}: language model file not found")
