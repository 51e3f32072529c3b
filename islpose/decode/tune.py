"""Tuning the decoder on a dev set: LM weight, word score and beam, by grid search.

The model runs once (:func:`collect_emissions`); every setting of the grid decodes the
same emissions (:func:`tune_decoder`), and the best one (lowest WER; on a tie the smaller
beam, then the smaller word score and LM weight) is what ``islpose tune`` writes for
``islpose decode --decode-config``.

Example:
    >>> reader = EmissionReader("runs/bilstm/best.pt", "feats.h5", manifest="m.jsonl", split="dev")  # doctest: +SKIP
    >>> rows = tune_decoder(collect_emissions(reader), reader.references, reader.vocab,
    ...                     DecoderConfig(lm="glosses.arpa"))  # doctest: +SKIP
    >>> best(rows).config  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from islpose.decode.config import DecoderConfig
from islpose.decode.score import ScoreResult, score_texts
from islpose.errors import IslposeError
from islpose.vocab import Vocabulary

if TYPE_CHECKING:
    import numpy as np

BEAMS = (5, 10)
LM_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0)
WORD_SCORES = (-1.0, -0.5, 0.0, 0.5, 1.0, 2.0)


@dataclass
class TuneRow:
    """One setting of the grid and how it did.

    Attributes:
        config: the decoder settings.
        score: WER on the tuning set (undecodable utterances count as all deletions).
        seconds: search time over the whole set.
        search: where the search ran (``Decoder.search``: "greedy", "C++", "C++, rescored", "Python LM").
    """

    config: DecoderConfig
    score: ScoreResult
    seconds: float
    search: str


def collect_emissions(reader) -> list[tuple[str, np.ndarray]]:
    """Runs the model of an :class:`~islpose.decode.run.EmissionReader` once: (id, (T', V)
    log-probabilities) of every decodable utterance, to decode with many settings."""
    out = []
    for uids, log_probs, lengths in reader:  # (T', B, V), (B,)
        out += [(uid, log_probs[: int(n), b].numpy()) for b, (uid, n) in enumerate(zip(uids, lengths))]
    if not out:
        raise reader.nothing_decoded()
    return out


def grid(
    base: DecoderConfig,
    beams: Sequence[int] = BEAMS,
    lm_weights: Sequence[float] = LM_WEIGHTS,
    word_scores: Sequence[float] = WORD_SCORES,
) -> list[DecoderConfig]:
    """Every combination (LM weights only with an LM), ``base`` first; other fields from ``base``.
    Beam 1 is greedy decoding: tried once, without LM and word score."""
    weights = lm_weights if base.lm is not None else (base.lm_weight,)
    configs = [base] + [
        dataclasses.replace(base, beam_size=b, lm_weight=w, word_score=s)
        if b > 1
        else dataclasses.replace(base, beam_size=1, lm=None, lm_weight=base.lm_weight, word_score=0.0)
        for b in beams
        for w in weights
        for s in word_scores
    ]
    unique = list(dict.fromkeys(dataclasses.astuple(c) for c in configs))
    return [DecoderConfig(*values) for values in unique]


def tune_decoder(
    emissions: Sequence[tuple[str, np.ndarray]],
    references: Mapping[str, Sequence[str]],
    vocab: Vocabulary,
    configs: Sequence[DecoderConfig],
) -> list[TuneRow]:
    """Decodes the same emissions with each setting and scores it.

    Args:
        emissions: (id, (T', V) log-probabilities), e.g. from :func:`collect_emissions`.
        references: id -> glosses of every utterance to score (ids without emissions count
            as empty hypotheses).
        vocab: the model's vocabulary.
        configs: the settings to try (e.g. :func:`grid`); greedy for beam 1.

    Returns:
        One row per setting, in the order given.
    """
    from islpose.decode.decoders import build_decoder

    if not references:
        raise IslposeError("tuning needs reference glosses (a manifest split with glosses)")
    rows = []
    for config in configs:
        decoder = build_decoder(config, vocab)
        t0 = time.perf_counter()
        hyps = {uid: decoder.glosses(decoder.decode(lp)) for uid, lp in emissions}
        seconds = time.perf_counter() - t0
        score = score_texts(references, {u: hyps.get(u, []) for u in references})
        rows.append(TuneRow(config, score, seconds, decoder.search))
    return rows


def best(rows: Sequence[TuneRow]) -> TuneRow:
    """The lowest WER; on a tie the smaller beam, then the smaller |word score| and LM weight."""
    return min(rows, key=lambda r: (r.score.wer, r.config.beam_size, abs(r.config.word_score), r.config.lm_weight))


def table(rows: Sequence[TuneRow], top: int = 0) -> str:
    """The rows as a text table, best first (``top`` > 0: only that many)."""
    ranked = sorted(rows, key=lambda r: (r.score.wer, r.config.beam_size, abs(r.config.word_score), r.config.lm_weight))
    lines = [
        f"{'beam':>4} {'lm_weight':>9} {'word_score':>10} {'WER %':>7} {'S':>5} {'D':>5} {'I':>5} "
        f"{'search s':>8}  search"
    ]
    for r in ranked[: top or None]:
        c, s = r.config, r.score
        weight = f"{c.lm_weight:9.2f}" if c.lm else f"{'-':>9}"
        lines.append(
            f"{c.beam_size:4d} {weight} {c.word_score:10.2f} {100 * s.wer:7.2f} {s.substitutions:5d} "
            f"{s.deletions:5d} {s.insertions:5d} {r.seconds:8.2f}  {r.search}"
        )
    return "\n".join(lines)


@dataclass
class TuneResult:
    """What :func:`tune_store` found and wrote.

    Attributes:
        rows: one per setting tried, in the order of :func:`grid` (the base settings first).
        best: the winning row (:func:`best`), written to the output file.
        utterances: how many utterances the model's emissions cover.
        forward_seconds: the one model run.
        failed: ``(id, reason)`` of the utterances that could not be decoded (scored as all deletions).
    """

    rows: list[TuneRow]
    best: TuneRow
    utterances: int
    forward_seconds: float
    failed: list[tuple[str, str]]


def tune_store(
    checkpoint: str | Path,
    features: str | Path,
    manifest: str | Path,
    out: str | Path,
    *,
    split: str = "dev",
    base: DecoderConfig | None = None,
    beams: Sequence[int] = BEAMS,
    lm_weights: Sequence[float] = LM_WEIGHTS,
    word_scores: Sequence[float] = WORD_SCORES,
    batch_size: int = 16,
    device: str = "cpu",
    overwrite: bool = False,
    on_model_run: Callable[[int, float, int], None] | None = None,
) -> TuneResult:
    """Grid-searches the decoder on a manifest split and writes the best settings to ``out`` (YAML).

    The model runs once; every setting of :func:`grid` (``base`` first) decodes the same emissions.

    Args:
        checkpoint, features, manifest, split, batch_size, device: as for
            :class:`~islpose.decode.run.EmissionReader`; the split must have glosses.
        out: the decoder settings file (as ``islpose decode --decode-config`` reads); kept, an
            error, when it exists unless ``overwrite``.
        base: the settings kept fixed (beam_size_token, beam_threshold, lm) and tried first.
        beams, lm_weights, word_scores: the values to combine (LM weights only with ``base.lm``).
        overwrite: replace ``out`` when it exists.
        on_model_run: called once the model has run, before the grid is decoded, with the number
            of utterances, the model's seconds and the number of settings to try.

    Returns:
        The rows, the winner, and what the model run covered.
    """
    from islpose.decode.config import write_decoder_config
    from islpose.decode.run import EmissionReader
    from islpose.io.atomic import check_output

    check_output(out, overwrite)
    configs = grid(base or DecoderConfig(), beams, lm_weights, word_scores)
    for config in configs:
        config.check()
    reader = EmissionReader(checkpoint, features, manifest=manifest, split=split, batch_size=batch_size, device=device)
    if reader.references is None:
        raise IslposeError(f"{manifest}: split {split!r} has no glosses to tune on")
    emissions = collect_emissions(reader)
    if on_model_run is not None:
        on_model_run(len(emissions), reader.forward_seconds, len(configs))
    rows = tune_decoder(emissions, reader.references, reader.vocab, configs)
    winner = best(rows)
    write_decoder_config(winner.config, out)
    return TuneResult(rows, winner, len(emissions), reader.forward_seconds, list(reader.failed))
