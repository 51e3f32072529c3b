"""Decoding and scoring: greedy and beam-search CTC decoding, gloss n-gram LMs, WER.

Light parts (settings, gloss files, scoring, LM building) import at once; the decoders
and :func:`decode_store` (torch, flashlight-text) load on first use. The package is also
callable: ``islpose.decode(checkpoint, features, ...)`` is :func:`islpose.decode.run.decode_store`.

Example:
    >>> from islpose.decode import score_texts
    >>> score_texts({"u1": "I GO SCHOOL"}, {"u1": "I GO"}).deletions
    1
"""

from __future__ import annotations

import importlib

from islpose._callable import make_callable
from islpose.decode.config import (
    DecoderConfig,
    load_decoder_config,
    resolve_decoder_config,
    write_decoder_config,
)
from islpose.decode.lm import (
    NgramLM,
    build_lm,
    build_lm_file,
    manifest_sentences,
    read_arpa,
    write_arpa,
)
from islpose.decode.score import (
    ErrorDetails,
    ScoreResult,
    error_details,
    read_glosses,
    read_references,
    score_files,
    score_lists,
    score_texts,
    write_glosses,
    write_json,
)

_LAZY = {
    "DECODERS": "islpose.decode.decoders",
    "BeamSearchDecoder": "islpose.decode.decoders",
    "Decoder": "islpose.decode.decoders",
    "GreedyDecoder": "islpose.decode.decoders",
    "build_decoder": "islpose.decode.decoders",
    "collapse": "islpose.decode.greedy",
    "ctc_log_likelihood": "islpose.decode.greedy",
    "greedy_decode": "islpose.decode.greedy",
    "greedy_decode_batch": "islpose.decode.greedy",
    "DecodeOutput": "islpose.decode.run",
    "EmissionReader": "islpose.decode.run",
    "decode_store": "islpose.decode.run",
    "decode_to_files": "islpose.decode.run",
    "TuneRow": "islpose.decode.tune",
    "collect_emissions": "islpose.decode.tune",
    "tune_decoder": "islpose.decode.tune",
    "TuneResult": "islpose.decode.tune",
    "tune_store": "islpose.decode.tune",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DecoderConfig",
    "ErrorDetails",
    "NgramLM",
    "ScoreResult",
    "build_lm",
    "build_lm_file",
    "error_details",
    "load_decoder_config",
    "manifest_sentences",
    "read_arpa",
    "read_glosses",
    "read_references",
    "resolve_decoder_config",
    "score_files",
    "score_lists",
    "score_texts",
    "write_arpa",
    "write_decoder_config",
    "write_glosses",
    "write_json",
    *_LAZY,
]


make_callable(__name__, "islpose.decode.run:decode_store")
