"""Export a teacher's frame-level CTC log-posteriors for ``islpose distill``.

Each utterance gets ``/utterances/<id>/teacher_logprobs`` (T_teacher, V) float32 (one row
per sampled video frame, rows are log-probabilities over the gloss vocabulary) in a
feature store whose root attribute ``teacher_vocab`` (JSON list of the tokens) lets
``distill`` check that teacher and student share the vocabulary. Re-running skips the
utterances already written; unreadable videos are listed at the end, never fatal.
"""
from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from islpose.errors import IslposeError, StoreError
from islpose.io import FeatureStore
from islpose.teacher.video import VideoConfig, VideoDataset, make_loader, normalize_frames
from islpose.vocab import Vocabulary

VOCAB_ATTR = "teacher_vocab"


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


def teacher_vocab(store: FeatureStore) -> Vocabulary:
    """The vocabulary a teacher store was exported with.

    Raises:
        StoreError: the store has no ``teacher_vocab`` (not written by a teacher export).
    """
    raw = store.metadata.get(VOCAB_ATTR)
    if not raw:
        raise StoreError(f"{store.path}: no {VOCAB_ATTR!r} attribute (not a teacher export)")
    return Vocabulary.from_tokens(json.loads(raw))


def check_teacher_vocab(store: FeatureStore, vocab: Vocabulary) -> None:
    """Raises StoreError unless the store's teacher vocabulary is exactly ``vocab``."""
    theirs = teacher_vocab(store)
    if theirs != vocab:
        diff = next((i for i, (a, b) in enumerate(zip(theirs.tokens, vocab.tokens)) if a != b),
                    min(len(theirs), len(vocab)))
        raise StoreError(f"{store.path}: teacher vocabulary ({len(theirs)} tokens) differs from this one "
                         f"({len(vocab)} tokens), first at index {diff}")


def export_teacher_logprobs(model: torch.nn.Module, vocab: Vocabulary, utterances: Sequence[Any],
                            video: VideoConfig, out: str | Path, *, batch_size: int = 4, num_workers: int = 0,
                            device: str | torch.device = "cpu", amp: bool = True, overwrite: bool = False,
                            teacher: dict | None = None,
                            progress: Callable[[int, int], None] | None = None) -> ExportReport:
    """Runs ``model`` over the utterances' videos and writes ``teacher_logprobs``.

    Args:
        model: a teacher (its CTC head must have ``len(vocab)`` outputs).
        vocab: the gloss vocabulary it was trained with (recorded in the store).
        utterances: manifest utterances with a ``video``.
        video: the video config the teacher was trained with.
        out: the store (created, or extended when it exists with the same vocabulary).
        batch_size: clips per forward pass.
        num_workers: video decoding workers.
        device: where the model runs (it is moved there).
        amp: bf16 autocast on CUDA (the log-softmax is float32 either way).
        overwrite: recompute utterances already in the store.
        teacher: facts recorded as the root attribute ``teacher`` (JSON), e.g. arch and checkpoint.
        progress: called with (done, total) after every batch.
    """
    if model.ctc_head.out_features != len(vocab):
        raise IslposeError(f"the teacher has {model.ctc_head.out_features} gloss outputs, the vocabulary "
                           f"{len(vocab)} tokens")
    device = torch.device(device)
    report = ExportReport()
    with FeatureStore(out, "a", metadata={VOCAB_ATTR: list(vocab.tokens), "teacher": teacher or {}}) as store:
        check_teacher_vocab(store, vocab)
        todo = [u for u in utterances if overwrite or u.id not in store]
        report.skipped = [u.id for u in utterances if u.id in store and not overwrite]
        if not todo:
            return report
        loader = make_loader(VideoDataset(todo, video, skip_errors=True), batch_size, num_workers=num_workers,
                             pin_memory=device.type == "cuda")
        sources = {u.id: u.video for u in todo}
        model = model.to(device).eval()
        autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if amp and device.type == "cuda"
                    else contextlib.nullcontext())
        done = 0
        for batch in loader:
            report.failures += batch.failures
            if batch.ids:
                batch = batch.to(device, non_blocking=True)
                with torch.inference_mode(), autocast:
                    out_ = model(normalize_frames(batch.frames, video.mean, video.std), batch.lengths)
                log_probs = out_.log_probs.float().cpu()  # (T, B, V)
                for b, uid in enumerate(batch.ids):
                    try:
                        store.write(uid, {"teacher_logprobs": log_probs[:int(out_.lengths[b]), b].numpy()},
                                    attrs={"source": sources[uid]}, overwrite=overwrite)
                        report.written.append(uid)
                    except StoreError as exc:
                        report.failures.append((uid, str(exc)))
            done += len(batch.ids) + len(batch.failures)
            if progress is not None:
                progress(done, len(todo))
    return report
