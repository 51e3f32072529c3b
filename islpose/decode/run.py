"""Decoding a feature store with a checkpoint: what ``islpose decode`` runs.

Example:
    >>> out = decode_store("runs/bilstm/best.pt", "feats.h5", manifest="m.jsonl", split="dev",
    ...                    config=DecoderConfig(beam_size=5))  # doctest: +SKIP
    >>> out.score.wer, out.hypotheses["utt1"]  # doctest: +SKIP

(:func:`decode_store` has an example that runs.)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
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

    def summary(self, config: DecoderConfig, inputs: dict, hypotheses: str | Path) -> dict:
        """The JSON summary of ``islpose decode --json``: ``inputs``, the decoder settings,
        the hypotheses file, the counts, the timings and (with references) the scores."""
        out = {
            **inputs,
            "decoder": vars(config),
            "hypotheses": str(hypotheses),
            "decoded": len(self.hypotheses),
            "failed": [{"id": u, "reason": r} for u, r in self.failed],
            "forward_seconds": self.forward_seconds,
            "search_seconds": self.search_seconds,
        }
        if self.score is not None:
            out.update(self.score.to_dict())
        return out


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
        raise IslposeError(
            f"{manifest}: {len(missing)} of {len(utts)} utterance(s) have no 'glosses' "
            f"(e.g. {missing[0]!r}); label all of them or none"
        )
    refs = {u.id: list(u.glosses) for u in labelled} if labelled else None
    return [u.id for u in utts], refs


class EmissionReader:
    """A checkpoint's model run over the selected utterances of a feature store.

    Selecting happens at once (``ids``, ``references``, and ``failed`` for utterances that
    are not in the store or have no frames); iterating runs the model, batch by batch
    (sorted by length to limit padding), and yields ``(ids, log_probs (T', B, V),
    out_lengths (B,))``. Utterances with NaN or inf features are added to ``failed``.

    Args:
        checkpoint: a ``.pt`` written by ``islpose train`` (model config and vocabulary inside).
        features: the HDF5 feature store.
        manifest: selects utterances (and gives references); None: every stored id.
        split: only this split of the manifest (None: all of it).
        batch_size: utterances per forward pass.
        device: torch device of the model, or ``auto`` (CUDA when available).
    """

    def __init__(
        self,
        checkpoint: str | Path,
        features: str | Path,
        *,
        manifest: str | Path | None = None,
        split: str | None = None,
        batch_size: int = 16,
        device: str = "cpu",
    ) -> None:
        from islpose.io import FeatureStore
        from islpose.models import input_dim
        from islpose.models.checkpoint import load_checkpoint

        if batch_size < 1:
            raise IslposeError(f"batch size must be >= 1, got {batch_size}")
        self.features, self.batch_size = features, batch_size
        self.device = resolve_device(device)
        ck = load_checkpoint(checkpoint, map_location="cpu")
        self.model = ck.model.to(self.device).eval()
        self.vocab = ck.vocab
        self.failed: list[tuple[str, str]] = []
        self.forward_seconds = 0.0
        feature, width = self.model.feature, input_dim(self.model)
        lengths: dict[str, int] = {}
        with FeatureStore(features) as store:
            self.ids, self.references = _select(manifest, split, store.ids())
            for uid in self.ids:
                if uid not in store:
                    self.failed.append((uid, "not in the feature store"))
                elif feature not in store.datasets(uid):
                    self.failed.append((uid, f"no {feature!r} features in the store"))
                else:
                    shape = store.shape(uid, feature)
                    if len(shape) != 2 or shape[1] != width:
                        raise IslposeError(
                            f"{features}: {feature!r} features of {uid!r} have shape {shape}, but "
                            f"the {ck.model_name} model of {checkpoint} needs (T, {width})"
                        )
                    if shape[0] == 0:
                        self.failed.append((uid, "no frames"))
                    else:
                        lengths[uid] = shape[0]
        self.order = sorted(lengths, key=lengths.__getitem__)

    def __iter__(self) -> Iterator[tuple[list[str], torch.Tensor, torch.Tensor]]:
        from islpose.io import FeatureStore

        with FeatureStore(self.features) as store:
            for start in range(0, len(self.order), self.batch_size):
                batch = []
                for uid in self.order[start : start + self.batch_size]:
                    x = store.read(uid, self.model.feature)  # (T, D)
                    if np.isfinite(x).all():
                        batch.append((uid, torch.from_numpy(x.astype(np.float32, copy=False))))
                    else:
                        self.failed.append((uid, "NaN or inf in the features"))
                if not batch:
                    continue
                lens = torch.tensor([len(x) for _, x in batch], dtype=torch.long)
                x = torch.nn.utils.rnn.pad_sequence([x for _, x in batch], batch_first=True)  # (B, T, D)
                t0 = time.perf_counter()
                with torch.inference_mode():
                    log_probs, out_lengths = self.model(x.to(self.device), lens.to(self.device))  # (T', B, V), (B,)
                    log_probs = log_probs.float().cpu()
                self.forward_seconds += time.perf_counter() - t0
                yield [uid for uid, _ in batch], log_probs, out_lengths.cpu()

    def nothing_decoded(self) -> IslposeError:
        """The error for a run in which no utterance could be decoded."""
        first = f" ({len(self.failed)} failed, e.g. {self.failed[0][0]!r}: {self.failed[0][1]})" if self.failed else ""
        return IslposeError(f"{self.features}: nothing could be decoded{first}")


def decode_store(
    checkpoint: str | Path,
    features: str | Path,
    *,
    manifest: str | Path | None = None,
    split: str | None = None,
    config: DecoderConfig | None = None,
    batch_size: int = 16,
    device: str = "cpu",
) -> DecodeOutput:
    """Runs a checkpoint's model over utterances of a feature store and decodes them.

    Args:
        checkpoint, features, manifest, split, batch_size, device: as for :class:`EmissionReader`.
        config: decoder settings (default: beam search, beam 5, no LM).

    Returns:
        Hypotheses, references and WER (when the manifest has glosses), failures, timings.
        Utterances missing from the store or with unusable features are listed in
        ``failed``, left out of the hypotheses and scored as empty hypotheses.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> import islpose
        >>> from islpose.testing import make_synthetic_corpus
        >>> tmp = tempfile.TemporaryDirectory()
        >>> corpus = make_synthetic_corpus(Path(tmp.name) / "corpus", num_glosses=4, num_signers=3,
        ...                                utterances_per_signer=4, seed=0)
        >>> config = islpose.resolve_config("bilstm_optimized", {
        ...     "model_config": {"projection_dim": 8, "hidden_dim": 8, "num_layers": 1},
        ...     "train": {"epochs": 1, "batch_size": 4, "device": "cpu", "progress": False}})
        >>> _ = islpose.train(config, corpus.store, corpus.manifest, Path(tmp.name) / "run")
        >>> from islpose.decode import DecoderConfig
        >>> out = islpose.decode(Path(tmp.name) / "run" / "best.pt", corpus.store, manifest=corpus.manifest,
        ...                      split="dev", config=DecoderConfig(beam_size=1))
        >>> sorted(out.hypotheses) == sorted(out.references), 0 <= out.score.wer
        (True, True)
        >>> tmp.cleanup()
    """
    reader = EmissionReader(checkpoint, features, manifest=manifest, split=split, batch_size=batch_size, device=device)
    decoder = build_decoder(config or DecoderConfig(), reader.vocab)
    out = DecodeOutput({}, None, None, reader.failed)
    labels: dict[str, list[int]] = {}
    for uids, log_probs, out_lengths in reader:
        t0 = time.perf_counter()
        labels.update(zip(uids, decoder.decode_batch(log_probs, out_lengths)))
        out.search_seconds += time.perf_counter() - t0
    out.forward_seconds = reader.forward_seconds
    if not labels:
        raise reader.nothing_decoded()
    out.hypotheses = {u: decoder.glosses(labels[u]) for u in reader.ids if u in labels}
    if reader.references is not None:
        out.references = reader.references
        out.score = score_texts(reader.references, {u: out.hypotheses.get(u, []) for u in reader.references})
    return out


def decode_to_files(
    checkpoint: str | Path,
    features: str | Path,
    out: str | Path,
    *,
    json_out: str | Path | None = None,
    manifest: str | Path | None = None,
    split: str | None = None,
    config: DecoderConfig | None = None,
    batch_size: int = 16,
    device: str = "cpu",
    overwrite: bool = False,
) -> DecodeOutput:
    """:func:`decode_store`, then the hypotheses written to ``out`` (and the JSON summary to ``json_out``).

    Both outputs are checked before the model runs: an existing file is kept (an error)
    unless ``overwrite``. The hypotheses file holds one ``id<TAB>glosses`` line per
    decoded utterance; the summary is :meth:`DecodeOutput.summary`.

    Args:
        checkpoint, features, manifest, split, config, batch_size, device: as for :func:`decode_store`.
        out: the hypotheses file.
        json_out: the JSON summary file, or None.
        overwrite: replace ``out`` and ``json_out`` when they exist.

    Returns:
        The :class:`DecodeOutput` (its ``failed`` utterances are not an error here).
    """
    from islpose.decode.score import write_glosses, write_json
    from islpose.io.atomic import check_output

    for path in (out, json_out):
        if path:
            check_output(path, overwrite)
    config = config or DecoderConfig()
    result = decode_store(
        checkpoint, features, manifest=manifest, split=split, config=config, batch_size=batch_size, device=device
    )
    write_glosses(result.hypotheses, out)
    if json_out:
        inputs = {"checkpoint": checkpoint, "features": features, "manifest": manifest, "split": split}
        write_json(result.summary(config, inputs, out), json_out)
    return result
