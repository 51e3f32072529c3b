"""Decoder settings (no heavy imports: the CLI reads the defaults from here)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
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


def load_decoder_config(path: str | Path) -> DecoderConfig:
    """Reads decoder settings from a YAML file (as ``islpose tune`` writes them); its keys are
    the fields of :class:`DecoderConfig`, an unknown key is an error. A relative ``lm`` path
    is relative to the YAML file's folder.

    Example:
        >>> config = load_decoder_config("runs/bilstm/decode.yaml")  # doctest: +SKIP
        >>> decoder = build_decoder(config, vocab)  # doctest: +SKIP
    """
    from islpose.config import from_dict, read_yaml

    path = Path(path)
    config = from_dict(DecoderConfig, read_yaml(path), str(path))
    if config.lm is not None and not Path(config.lm).is_absolute():
        config.lm = str(path.parent / config.lm)
    config.check()
    return config


def write_decoder_config(config: DecoderConfig, path: str | Path) -> Path:
    """Writes ``config`` as YAML (atomically) for :func:`load_decoder_config`; the LM path is
    written relative to the YAML file's folder when it lies under it, else absolute."""
    import dataclasses
    import os

    import yaml

    from islpose.io.atomic import write_text_atomic

    path = Path(path)
    data = dataclasses.asdict(config)
    if config.lm is not None:
        lm, folder = Path(config.lm).resolve(), path.parent.resolve()
        data["lm"] = os.path.relpath(lm, folder) if lm.is_relative_to(folder) else str(lm)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(path, yaml.safe_dump(data, sort_keys=False))


def resolve_decoder_config(
    path: str | Path | None, options: Mapping[str, object], given: Iterable[str] = ()
) -> DecoderConfig:
    """The decoder settings of a command: ``options`` alone, or a settings file overridden by some of them.

    Args:
        path: a YAML file of decoder settings (as :func:`write_decoder_config` writes), or None.
        options: :class:`DecoderConfig` field -> value (e.g. every option of a command, defaults included).
        given: the fields of ``options`` the user set explicitly; with ``path`` only these override the file.

    Returns:
        ``DecoderConfig(**options)`` without ``path``; else the file's settings with the ``given`` fields replaced.

    Example:
        >>> resolve_decoder_config(None, {"beam_size": 1}).method
        'greedy'
    """
    if path is None:
        return DecoderConfig(**options)
    wanted = set(given)
    return dataclasses.replace(load_decoder_config(path), **{k: v for k, v in options.items() if k in wanted})
