"""Knowledge distillation: a pose student learns from a teacher's frame posteriors.

The loss of a batch is::

    CTC + alpha * T**2 * KL(teacher_T || student_T)

(:mod:`islpose.train.kd_loss`), with the teacher's posteriors in every train item
(:mod:`islpose.data.teacher`).

The teacher's posteriors come from ``/utterances/<id>/teacher_logprobs`` (T_teacher, V)
of a feature store whose root attribute ``teacher_vocab`` must equal the student's
vocabulary (``islpose teacher export`` writes such stores, and so does
:func:`islpose.teacher.export_posteriors.export_posteriors` with a pose model).

Example:
    >>> from islpose.train import resolve_config
    >>> config = resolve_config("bilstm_optimized", distill={"alpha": 1.0, "temperature": 2.0})
    >>> distill(config, "feats.h5", "teacher.h5", "corpus.jsonl", "runs/kd")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from islpose.data import FeatureDataset
from islpose.data.teacher import WithTeacher, check_posteriors
from islpose.errors import IslposeError
from islpose.manifests import Problem, Utterance
from islpose.train.config import DistillConfig, RunConfig
from islpose.train.kd_loss import kd_loss
from islpose.train.loop import TrainResult, train
from islpose.vocab import Vocabulary


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

    def check(self, utterances: Sequence[Utterance], vocab: Vocabulary) -> list[Problem]:
        """Checks the teacher's vocabulary and that every utterance has posteriors over it.

        Raises:
            IslposeError: another vocabulary, posteriors of the wrong shape, or (with
                ``missing_teacher="error"``) utterances without posteriors.

        Returns:
            ``no-teacher`` problems of the utterances to skip (``missing_teacher="skip"``).
        """
        self.vocab = vocab
        problems = check_posteriors(self.path, utterances, vocab)
        if problems and self.config.missing_teacher == "error":
            raise IslposeError(
                f"{self.path}: {len(problems)} train utterance(s) have no teacher posteriors, "
                f"e.g. {problems[0].uid!r} (use --missing-teacher skip to train without them)"
            )
        return problems

    def dataset(self, base: FeatureDataset) -> torch.utils.data.Dataset:
        """``base`` with each item's teacher posteriors under ``teacher``."""
        if self.vocab is None:
            raise RuntimeError("Distiller.check must run before Distiller.dataset")
        return WithTeacher(base, self.path, self.vocab, self.preload_gb)

    def __call__(self, log_probs: torch.Tensor, out_lengths: torch.Tensor, batch: dict) -> torch.Tensor:
        """``alpha * T**2 * KL`` of one batch (log_probs (T', B, V), out_lengths (B,))."""
        c = self.config
        return c.alpha * kd_loss(log_probs, out_lengths, batch["teacher"], batch["teacher_lengths"], c.temperature)


def distill(
    config: RunConfig,
    features: str | Path,
    teacher: str | Path,
    manifest: str | Path,
    out_dir: str | Path,
    *,
    resume: bool = False,
    console=None,
) -> TrainResult:
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
