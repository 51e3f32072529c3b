"""Knowledge distillation: a pose student learns from a teacher's frame posteriors.

The loss of a batch is::

    CTC + alpha * T**2 * KL(teacher_T || student_T)

* ``student_T = softmax(student_log_probs / T)`` per output frame of the student.
* ``teacher_T = softmax(teacher_logprobs / T)`` per teacher frame (rows are normalised
  again, so a store holding logits works too), then resampled to the student's frame count
  by linear interpolation in probability space (a convex mix of two neighbouring teacher
  distributions is still a distribution). Frames are aligned by their centres: student frame
  ``t`` of ``T_s`` reads the teacher at ``(t + 0.5) * T_t / T_s - 0.5`` (as
  ``F.interpolate(mode="linear", align_corners=False)``), clamped to the utterance, so
  teacher and student may have any frame rates (the BiLSTM subsamples 2x, video teachers
  sample their own frames).
* The KL is summed over the vocabulary and averaged over the valid student frames of the
  batch: padding (of the student or of the teacher) never enters the loss.

The teacher's posteriors come from ``/utterances/<id>/teacher_logprobs`` (T_teacher, V)
of a feature store whose root attribute ``teacher_vocab`` must equal the student's
vocabulary (``islpose teacher export`` writes such stores, and so does
:func:`export_pose_teacher` for a pose-model teacher).

Example:
    >>> from islpose.train import resolve_config
    >>> config = resolve_config("bilstm_optimized", distill={"alpha": 1.0, "temperature": 2.0})
    >>> distill(config, "feats.h5", "teacher.h5", "corpus.jsonl", "runs/kd")  # doctest: +SKIP
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from islpose.data import FeatureDataset, collate
from islpose.errors import IslposeError
from islpose.io import FeatureStore
from islpose.manifests import Problem, Utterance
from islpose.train.config import DistillConfig, RunConfig
from islpose.train.loop import TrainResult, train
from islpose.vocab import Vocabulary

TEACHER_DATASET = "teacher_logprobs"


def resample_frames(x: torch.Tensor, lengths: torch.Tensor, out_lengths: torch.Tensor, out_max: int) -> torch.Tensor:
    """Linear interpolation of each utterance's frames to its own new frame count.

    Args:
        x: (B, N, V) frames, padded after ``lengths``.
        lengths: (B,) valid frames of ``x`` (>= 1).
        out_lengths: (B,) frames wanted per utterance.
        out_max: frames of the output (>= ``out_lengths.max()``).

    Returns:
        (B, out_max, V); row ``t < out_lengths[b]`` mixes the two input rows around
        ``(t + 0.5) * lengths[b] / out_lengths[b] - 0.5`` (clamped to the valid rows, so
        padding is never read); rows past ``out_lengths[b]`` are copies of valid rows.
    """
    t = torch.arange(out_max, device=x.device, dtype=torch.float64)[None, :]  # (1, T')
    src = (t + 0.5) * (lengths[:, None].double() / out_lengths.clamp(min=1)[:, None].double()) - 0.5  # (B, T')
    last = (lengths[:, None] - 1).double()
    src = torch.minimum(src.clamp(min=0.0), last)
    lo = src.floor().long()  # (B, T')
    hi = torch.minimum(lo + 1, lengths[:, None] - 1)
    w = (src - lo.double()).to(x.dtype)[..., None]  # (B, T', 1)

    def rows(index: torch.Tensor) -> torch.Tensor:
        return torch.gather(x, 1, index[..., None].expand(-1, -1, x.shape[-1]))  # (B, T', V)

    return rows(lo) * (1 - w) + rows(hi) * w


def kd_loss(student_log_probs: torch.Tensor, out_lengths: torch.Tensor, teacher_logprobs: torch.Tensor,
            teacher_lengths: torch.Tensor, temperature: float) -> torch.Tensor:
    """``T**2 * KL(teacher_T || student_T)`` averaged over the valid student frames.

    Args:
        student_log_probs: (T', B, V) the student's output (log-probabilities or logits).
        out_lengths: (B,) valid student frames.
        teacher_logprobs: (B, T_teacher_max, V) the teacher's log-probabilities (or
            logits), zero-padded after ``teacher_lengths``.
        teacher_lengths: (B,) valid teacher frames (>= 1).
        temperature: softmax temperature T.

    Returns:
        A scalar: the KL (summed over V) per valid student frame, times ``T**2``.
    """
    device = student_log_probs.device
    out_lengths, teacher_lengths = out_lengths.to(device), teacher_lengths.to(device)
    student = (student_log_probs.float().transpose(0, 1) / temperature).log_softmax(-1)  # (B, T', V)
    teacher = (teacher_logprobs.to(device).float() / temperature).softmax(-1)  # (B, T_teacher, V)
    teacher = resample_frames(teacher, teacher_lengths, out_lengths, student.shape[1])  # (B, T', V)
    kl = (torch.xlogy(teacher, teacher) - teacher * student).sum(-1)  # (B, T'), 0 log 0 = 0
    mask = torch.arange(student.shape[1], device=device)[None, :] < out_lengths[:, None]  # (B, T')
    return kl.masked_fill(~mask, 0.0).sum() / mask.sum().clamp(min=1) * temperature ** 2


class _WithTeacher(torch.utils.data.Dataset):
    """The student's train set with a ``teacher`` field (T_teacher, V) in every item."""

    def __init__(self, base: FeatureDataset, teacher: FeatureDataset) -> None:
        self.base, self.teacher = base, teacher
        self.ids, self.lengths, self.references = base.ids, base.lengths, base.references
        self.in_memory = base.in_memory and teacher.in_memory

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> dict:
        return {**self.base[index], "teacher": self.teacher[index]["features"]}


class Distiller:
    """The distillation term of the training loop (an :class:`islpose.train.loop.LossTerm`).

    Args:
        teacher: feature store with ``teacher_logprobs`` and the ``teacher_vocab`` attribute.
        config: alpha, temperature and what to do about missing teacher posteriors.
        preload_gb: keep the teacher posteriors in memory when they take at most this much.
    """

    def __init__(self, teacher: str | Path, config: DistillConfig, *, preload_gb: float = 8.0) -> None:
        self.path, self.config, self.preload_gb = Path(teacher), config, preload_gb
        self.vocab: Vocabulary | None = None
        self.utterances: dict[str, Utterance] = {}

    def check(self, utterances: Sequence[Utterance], vocab: Vocabulary) -> list[Problem]:
        """Checks the teacher's vocabulary and that every utterance has posteriors over it.

        Raises:
            IslposeError: another vocabulary, posteriors of the wrong shape, or (with
                ``missing_teacher="error"``) utterances without posteriors.

        Returns:
            ``no-teacher`` problems of the utterances to skip (``missing_teacher="skip"``).
        """
        from islpose.teacher.export import check_teacher_vocab

        self.vocab = vocab
        problems = []
        with FeatureStore(self.path) as store:
            check_teacher_vocab(store, vocab)
            for u in utterances:
                if u.id not in store or TEACHER_DATASET not in store.datasets(u.id):
                    problems.append(Problem("no-teacher", u.id, u.line,
                                            f"{u.id}: no {TEACHER_DATASET} in {self.path}"))
                    continue
                shape = store.shape(u.id, TEACHER_DATASET)
                if len(shape) != 2 or shape[0] < 1 or shape[1] != len(vocab):
                    raise IslposeError(f"{self.path}: utterance {u.id!r}: {TEACHER_DATASET} has shape {shape}, "
                                       f"expected (frames >= 1, {len(vocab)})")
        if problems and self.config.missing_teacher == "error":
            raise IslposeError(f"{self.path}: {len(problems)} train utterance(s) have no teacher posteriors, "
                               f"e.g. {problems[0].uid!r} (use --missing-teacher skip to train without them)")
        skip = {p.uid for p in problems}
        self.utterances = {u.id: u for u in utterances if u.id not in skip}
        return problems

    def dataset(self, base: FeatureDataset) -> torch.utils.data.Dataset:
        """``base`` with each item's teacher posteriors under ``teacher``."""
        if self.vocab is None:
            raise RuntimeError("Distiller.check must run before Distiller.dataset")
        teacher = FeatureDataset(self.path, [self.utterances[uid] for uid in base.ids], self.vocab,
                                 TEACHER_DATASET, preload_gb=self.preload_gb)
        return _WithTeacher(base, teacher)

    def __call__(self, log_probs: torch.Tensor, out_lengths: torch.Tensor, batch: dict) -> torch.Tensor:
        """``alpha * T**2 * KL`` of one batch (log_probs (T', B, V), out_lengths (B,))."""
        c = self.config
        return c.alpha * kd_loss(log_probs, out_lengths, batch["teacher"], batch["teacher_lengths"], c.temperature)


def distill(config: RunConfig, features: str | Path, teacher: str | Path, manifest: str | Path,
            out_dir: str | Path, *, resume: bool = False, console=None) -> TrainResult:
    """Trains ``config.model`` with CTC plus distillation from ``teacher`` (see module docstring).

    Args:
        config: a run config with a ``distill`` section (:class:`DistillConfig`).
        features: the student's feature store.
        teacher: the store with ``teacher_logprobs`` for the train utterances.
        manifest, out_dir, resume, console: as :func:`islpose.train.train`.

    Returns:
        The :class:`TrainResult`; utterances skipped for lack of teacher posteriors are in
        ``skipped`` (and ``skipped.tsv``) with kind ``no-teacher``.
    """
    if config.distill is None:
        raise IslposeError("distill needs a run config with a `distill` section (alpha, temperature)")
    distiller = Distiller(teacher, config.distill, preload_gb=config.train.preload_gb)
    return train(config, features, manifest, out_dir, resume=resume, console=console, loss_term=distiller)


def export_pose_teacher(checkpoint: str | Path, features: str | Path, out: str | Path, *,
                        ids: Sequence[str] | None = None, batch_size: int = 16, device: str = "cpu",
                        overwrite: bool = False):
    """Exports a pose model's (``islpose train`` checkpoint) frame log-posteriors as a teacher.

    A teacher need not watch video: a pose model trained on cleaner or richer landmarks
    than the student gets (the synthetic recipe in ``pipelines/recipes/`` uses one) writes
    the same ``teacher_logprobs`` (T', V) float32 and ``teacher_vocab`` as
    ``islpose teacher export``.

    Args:
        checkpoint: the teacher checkpoint (``best.pt``).
        features: the store with the features the teacher reads (``pose`` or ``multimodal``).
        out: the teacher store (created, or extended when its vocabulary is the same).
        ids: utterances to export (default: all in ``features``).
        batch_size: utterances per forward pass.
        device: where the model runs.
        overwrite: recompute utterances already in ``out``.

    Returns:
        An :class:`islpose.teacher.export.ExportReport` (written, skipped, failures).
    """
    from islpose.teacher.export import VOCAB_ATTR, ExportReport, check_teacher_vocab
    from islpose.train.checkpoint import load_checkpoint

    ckpt = load_checkpoint(checkpoint, map_location=device)
    report = ExportReport()
    with FeatureStore(features) as source:
        ids = list(source.ids() if ids is None else ids)
        missing = {uid for uid in ids if uid not in source}
    report.failures = [(uid, f"no features in {features}") for uid in ids if uid in missing]
    meta = {VOCAB_ATTR: list(ckpt.vocab.tokens), "teacher": {"model": ckpt.model_name, "checkpoint": str(checkpoint)}}
    with FeatureStore(out, "a", metadata=meta) as store:
        check_teacher_vocab(store, ckpt.vocab)
        report.skipped = [uid for uid in ids if uid in store and not overwrite]
        todo = [Utterance(uid) for uid in ids if uid not in missing and uid not in report.skipped]
        if not todo:
            return report
        dataset = FeatureDataset(features, todo, ckpt.vocab, ckpt.model.feature)
        order = np.argsort(dataset.lengths, kind="stable")
        batches = [order[i:i + batch_size].tolist() for i in range(0, len(order), batch_size)]
        for batch in torch.utils.data.DataLoader(dataset, batch_sampler=batches, collate_fn=collate):
            with torch.inference_mode():
                log_probs, out_lengths = ckpt.model(batch["features"].to(device), batch["lengths"].to(device))
            log_probs = log_probs.float().cpu()  # (T', B, V)
            for b, uid in enumerate(batch["ids"]):
                store.write(uid, {TEACHER_DATASET: log_probs[:int(out_lengths[b]), b].numpy()},
                            attrs={"source": str(features)}, overwrite=overwrite)
                report.written.append(uid)
    return report
