"""Export a teacher's frame-level CTC log-posteriors for ``islpose distill``: one exporter for
every kind of teacher.

A teacher is a model and a source of its inputs: :class:`VideoSource` (RGB clips of
manifest videos, for ``islpose teacher train`` teachers) or :class:`FeatureSource`
(landmark features of a store, for a pose model used as a teacher). :func:`export_posteriors`
writes ``teacher_logprobs`` (T_teacher, V) float32 per utterance into a store (layout:
:mod:`islpose.data.posteriors`). Re-running skips the utterances already written, a
store of another teacher is refused, unreadable inputs are listed at the end, never fatal.

Example:
    >>> ckpt = load_teacher_checkpoint("runs/teacher/best.pt")  # doctest: +SKIP
    >>> export_posteriors(ckpt.model, ckpt.vocab, VideoSource(utts, ckpt.config.video), "post.h5")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from islpose.data.posteriors import (
    IDENTITY_ATTR,
    TEACHER_DATASET,
    VOCAB_ATTR,
    check_teacher_vocab,
    claim_for_teacher,
    weights_sha256,
)
from islpose.errors import IslposeError, StoreError
from islpose.io import FeatureStore
from islpose.vocab import Vocabulary

# (written: (id, (T, V) float32 log-probabilities, attrs), failed: (id, message)) per batch
Batch = tuple[list[tuple[str, np.ndarray, dict]], list[tuple[str, str]]]


@dataclass
class ExportReport:
    """Attributes:
    written: ids written in this run.
    skipped: ids already in the store (not recomputed).
    failures: ``(id, message)`` of the utterances that could not be exported.
    """

    written: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    failures: list = field(default_factory=list)


class VideoSource:
    """RGB clips of manifest utterances, decoded as the teacher was trained.

    Args:
        utterances: utterances with a ``video``.
        video: the teacher's :class:`~islpose.teacher.video.VideoConfig`.
        num_workers: video decoding workers.
    """

    def __init__(self, utterances: Sequence[Any], video: Any, num_workers: int = 0) -> None:
        self.utterances = {u.id: u for u in utterances}
        self.ids, self.video, self.num_workers = list(self.utterances), video, num_workers

    def batches(
        self, model: torch.nn.Module, ids: Sequence[str], batch_size: int, device: torch.device, amp: bool
    ) -> Iterator[Batch]:
        from islpose.teacher.video import VideoDataset, make_loader, normalize_frames

        loader = make_loader(
            VideoDataset([self.utterances[i] for i in ids], self.video, skip_errors=True),
            batch_size,
            num_workers=self.num_workers,
            pin_memory=device.type == "cuda",
        )
        autocast = (
            torch.autocast("cuda", dtype=torch.bfloat16) if amp and device.type == "cuda" else contextlib.nullcontext()
        )
        for batch in loader:
            written = []
            if batch.ids:
                batch = batch.to(device, non_blocking=True)
                with torch.inference_mode(), autocast:
                    out = model(normalize_frames(batch.frames, self.video.mean, self.video.std), batch.lengths)
                log_probs = out.log_probs.float().cpu()  # (T, B, V)
                written = [
                    (uid, log_probs[: int(out.lengths[b]), b].numpy(), {"source": self.utterances[uid].video})
                    for b, uid in enumerate(batch.ids)
                ]
            yield written, list(batch.failures)


class FeatureSource:
    """Utterances of a feature store, read as a pose model (``islpose train`` checkpoint) reads them.

    Args:
        features: the store with the model's ``pose`` or ``multimodal`` features.
        ids: utterances to export (default: every one in the store).
    """

    def __init__(self, features: str | Path, ids: Sequence[str] | None = None) -> None:
        self.features = Path(features)
        with FeatureStore(self.features) as store:
            self.ids = list(store.ids() if ids is None else ids)
            self.stored = {uid for uid in self.ids if uid in store}

    def batches(
        self, model: torch.nn.Module, ids: Sequence[str], batch_size: int, device: torch.device, amp: bool
    ) -> Iterator[Batch]:
        from islpose.data import FeatureDataset, collate
        from islpose.manifests import Utterance

        missing = [(uid, f"no features in {self.features}") for uid in ids if uid not in self.stored]
        if missing:
            yield [], missing
        todo = [Utterance(uid) for uid in ids if uid in self.stored]
        if not todo:
            return
        dataset = FeatureDataset(self.features, todo, Vocabulary(), model.feature)
        order = np.argsort(dataset.lengths, kind="stable")
        for index in [order[i : i + batch_size].tolist() for i in range(0, len(order), batch_size)]:
            batch = collate([dataset[i] for i in index])
            with torch.inference_mode():
                log_probs, out_lengths = model(batch["features"].to(device), batch["lengths"].to(device))
            log_probs = log_probs.float().cpu()  # (T', B, V)
            yield (
                [
                    (uid, log_probs[: int(out_lengths[b]), b].numpy(), {"source": str(self.features)})
                    for b, uid in enumerate(batch["ids"])
                ],
                [],
            )


def export_posteriors(
    model: torch.nn.Module,
    vocab: Vocabulary,
    source: VideoSource | FeatureSource,
    out: str | Path,
    *,
    batch_size: int = 4,
    device: str | torch.device = "cpu",
    amp: bool = True,
    overwrite: bool = False,
    teacher: dict | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ExportReport:
    """Runs a teacher over its inputs and writes ``teacher_logprobs`` into ``out``.

    Args:
        model: the teacher: a video teacher (with :class:`VideoSource`) or a pose model
            (with :class:`FeatureSource`), ``len(vocab)`` outputs.
        vocab: the gloss vocabulary it was trained with (recorded in the store).
        source: the inputs and the utterances to export (``source.ids``).
        out: the store (created, or extended when it holds this teacher's posteriors).
        batch_size: utterances per forward pass.
        device: where the model runs (it is moved there).
        amp: bf16 autocast on CUDA (video teachers; the log-softmax is float32 either way).
        overwrite: recompute utterances already in the store (of this teacher).
        teacher: facts recorded as the root attribute ``teacher`` (JSON), e.g. arch and checkpoint.
        progress: called with (done, total) after every batch.

    Raises:
        StoreError: ``out`` is not a teacher store, has another vocabulary, or holds the
            posteriors of another teacher (other weights).
    """
    width = model.ctc_head.out_features if hasattr(model, "ctc_head") else len(vocab)
    if width != len(vocab):
        raise IslposeError(f"the teacher has {width} gloss outputs, the vocabulary {len(vocab)} tokens")
    device = torch.device(device)
    model = model.to(device).eval()
    identity = weights_sha256(model)
    report = ExportReport()
    meta = {VOCAB_ATTR: list(vocab.tokens), IDENTITY_ATTR: identity, "teacher": teacher or {}}
    with FeatureStore(out, "a", metadata=meta) as store:
        check_teacher_vocab(store, vocab)
        claim_for_teacher(store, identity)
        report.skipped = [uid for uid in source.ids if uid in store and not overwrite]
        todo = [uid for uid in source.ids if overwrite or uid not in store]
        done = 0
        for written, failures in source.batches(model, todo, batch_size, device, amp) if todo else ():
            report.failures += failures
            for uid, log_probs, attrs in written:
                try:
                    store.write(uid, {TEACHER_DATASET: log_probs}, attrs=attrs, overwrite=overwrite)
                    report.written.append(uid)
                except StoreError as exc:
                    report.failures.append((uid, str(exc)))
            done += len(written) + len(failures)
            if progress is not None:
                progress(done, len(todo))
    return report


def export_teacher(
    checkpoint: str | Path,
    manifest: str | Path,
    out: str | Path,
    *,
    split: str | None = None,
    device: str = "auto",
    batch_size: int = 4,
    overwrite: bool = False,
) -> tuple[ExportReport, int]:
    """Runs a video teacher checkpoint over a manifest's videos and writes its posteriors (:func:`export_posteriors`).

    Args:
        checkpoint: the teacher checkpoint (``islpose teacher train``'s best.pt).
        manifest: the manifest; its utterances with a ``video`` are exported.
        out: the posteriors store (created, or extended when it holds this teacher's).
        split: only this split (None: every utterance with a video).
        device: auto, cpu, cuda or cuda:N.
        batch_size: clips per forward pass.
        overwrite: recompute utterances already in ``out``.

    Returns:
        The report, and how many utterances were to export.

    Raises:
        IslposeError: no utterance (of ``split``) has a video.
    """
    from islpose.device import resolve_device
    from islpose.manifests import select_utterances
    from islpose.teacher.checkpoint import load_teacher_checkpoint

    dev = resolve_device(device)
    ckpt = load_teacher_checkpoint(checkpoint, dev)
    utts = [u for u in select_utterances(manifest, split) if u.video]
    if not utts:
        raise IslposeError(f"{manifest}: no utterance{f' of split {split!r}' if split else ''} has a 'video'")
    report = export_posteriors(
        ckpt.model,
        ckpt.vocab,
        VideoSource(utts, ckpt.config.video),
        out,
        batch_size=batch_size,
        device=dev,
        amp=ckpt.config.train.amp,
        overwrite=overwrite,
        teacher={
            "arch": ckpt.config.model,
            "checkpoint": str(checkpoint),
            "epoch": ckpt.meta.get("epoch"),
            "dev_wer": ckpt.meta.get("dev_wer"),
        },
    )
    return report, len(utts)
