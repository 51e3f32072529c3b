"""Decoding a feature store with a checkpoint: what ``islpose decode`` runs.

Example:
    >>> out = decode_store("runs/bilstm/best.pt", "feats.h5", manifest="m.jsonl", split="dev",
    ...                    config=DecoderConfig(beam_size=5))  # doctest: +SKIP
    >>> out.score.wer, out.hypotheses["utt1"]  # doctest: +SKIP
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from islpose.decode.decoders import DecoderConfig, build_decoder
from islpose.decode.score import ScoreResult, score_texts
from islpose.device import resolve_device
from islpose.errors import IslposeError


@dataclass
class DecodeOutput:
    """Result of :func:`decode_store`.

    Attributes:
        hypotheses: id -> glosses, in manifest (or store) order, decoded utterances only.
        references: id -> glosses of every selected utterance, or None when unlabelled.
        score: WER over every selected utterance (one that could not be decoded counts as
            an empty hypothesis: all its glosses are deletions), or None when unlabelled.
        failed: (id, reason) of utterances that could not be decoded.
        forward_seconds: time spent in the model.
        search_seconds: time spent in the decoder.
    """

    hypotheses: dict[str, list[str]]
    references: dict[str, list[str]] | None
    score: ScoreResult | None
    failed: list[tuple[str, str]] = field(default_factory=list)
    forward_seconds: float = 0.0
    search_seconds: float = 0.0


def _select(manifest: str | Path | None, split: str | None, store_ids: list[str]):
    """(ids to decode, references or None)."""
    if manifest is None:
        if split is not None:
            raise IslposeError("--split needs --manifest (the split names come from the manifest)")
        return store_ids, None
    from islpose.manifests import select_utterances

    utts = select_utterances(manifest, split)
    labelled = [u for u in utts if u.glosses is not None]
    if labelled and len(labelled) != len(utts):
        missing = [u.id for u in utts if u.glosses is None]
        raise IslposeError(f"{manifest}: {len(missing)} of {len(utts)} utterance(s) have no 'glosses' "
                           f"(e.g. {missing[0]!r}); label all of them or none")
    refs = {u.id: list(u.glosses) for u in labelled} if labelled else None
    return [u.id for u in utts], refs


def _lengths(store, ids: list[str], feature: str, width: int, failed: list, needs: str) -> dict[str, int]:
    """Frames of the utterances that can be decoded; the others go to ``failed``.

    Raises:
        IslposeError: features of another width than the model reads (``needs`` says what it reads).
    """
    lengths: dict[str, int] = {}
    for uid in ids:
        if uid not in store:
            failed.append((uid, "not in the feature store"))
        elif feature not in store.datasets(uid):
            failed.append((uid, f"no {feature!r} features in the store"))
        else:
            shape = store.shape(uid, feature)
            if len(shape) != 2 or shape[1] != width:
                raise IslposeError(f"{store.path}: {feature!r} features of {uid!r} have shape {shape}, but {needs}")
            if shape[0] == 0:
                failed.append((uid, "no frames"))
            else:
                lengths[uid] = shape[0]
    return lengths


def decode_store(checkpoint: str | Path, features: str | Path, *, manifest: str | Path | None = None,
                 split: str | None = None, config: DecoderConfig | None = None, batch_size: int = 16,
                 device: str = "cpu") -> DecodeOutput:
    """Runs a checkpoint's model over utterances of a feature store and decodes them.

    Args:
        checkpoint: a ``.pt`` written by ``islpose train`` (model config and vocabulary inside).
        features: the HDF5 feature store.
        manifest: selects utterances (and gives references); None decodes every stored id.
        split: only this split of the manifest (None: all of it).
        config: decoder settings (default: beam search, beam 5, no LM).
        batch_size: utterances per forward pass (sorted by length to limit padding).
        device: torch device of the model, or ``auto`` (CUDA when available).

    Returns:
        Hypotheses, references and WER (when the manifest has glosses), failures, timings.
        Utterances missing from the store or with unusable features are listed in
        ``failed``, left out of the hypotheses and scored as empty hypotheses.
    """
    from islpose.io import FeatureStore
    from islpose.models import input_dim
    from islpose.train.checkpoint import load_checkpoint

    config = config or DecoderConfig()
    if batch_size < 1:
        raise IslposeError(f"batch size must be >= 1, got {batch_size}")
    device_ = resolve_device(device)
    ck = load_checkpoint(checkpoint, map_location="cpu")
    model = ck.model.to(device_).eval()
    decoder = build_decoder(config, ck.vocab)
    feature, width = model.feature, input_dim(model)

    out = DecodeOutput({}, None, None)
    labels: dict[str, list[int]] = {}
    with FeatureStore(features) as store:
        ids, refs = _select(manifest, split, store.ids())
        lengths = _lengths(store, ids, feature, width, out.failed,
                           f"the {ck.model_name} model of {checkpoint} needs (T, {width})")
        order = sorted(lengths, key=lengths.__getitem__)
        for start in range(0, len(order), batch_size):
            batch = []
            for uid in order[start:start + batch_size]:
                x = store.read(uid, feature)  # (T, D)
                if np.isfinite(x).all():
                    batch.append((uid, torch.from_numpy(x.astype(np.float32, copy=False))))
                else:
                    out.failed.append((uid, "NaN or inf in the features"))
            if not batch:
                continue
            lens = torch.tensor([len(x) for _, x in batch], dtype=torch.long)
            x = torch.nn.utils.rnn.pad_sequence([x for _, x in batch], batch_first=True)  # (B, T, D)
            t0 = time.perf_counter()
            with torch.inference_mode():
                log_probs, out_lengths = model(x.to(device_), lens.to(device_))  # (T', B, V), (B,)
                log_probs = log_probs.float().cpu()
            t1 = time.perf_counter()
            for (uid, _), y in zip(batch, decoder.decode_batch(log_probs, out_lengths.cpu())):
                labels[uid] = y
            out.forward_seconds += t1 - t0
            out.search_seconds += time.perf_counter() - t1
    if not labels:
        first = f" ({len(out.failed)} failed, e.g. {out.failed[0][0]!r}: {out.failed[0][1]})" if out.failed else ""
        raise IslposeError(f"{features}: nothing could be decoded{first}")

    out.hypotheses = {u: decoder.glosses(labels[u]) for u in ids if u in labels}
    if refs is not None:
        out.references = refs
        out.score = score_texts(refs, {u: out.hypotheses.get(u, []) for u in refs})
    return out

