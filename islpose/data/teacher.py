"""A student's train set with its teacher's frame posteriors (``islpose distill``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from islpose.data.dataset import FeatureDataset
from islpose.data.posteriors import TEACHER_DATASET, check_teacher_vocab
from islpose.errors import IslposeError
from islpose.io import FeatureStore
from islpose.manifests import Problem, Utterance
from islpose.vocab import Vocabulary


def check_posteriors(path: str | Path, utterances: Sequence[Utterance], vocab: Vocabulary) -> list[Problem]:
    """Checks that a teacher store fits ``vocab`` and has posteriors over it for the utterances.

    Raises:
        IslposeError: another vocabulary, or posteriors of the wrong shape.

    Returns:
        ``no-teacher`` problems of the utterances without posteriors.
    """
    problems = []
    with FeatureStore(path) as store:
        check_teacher_vocab(store, vocab)
        for u in utterances:
            if u.id not in store or TEACHER_DATASET not in store.datasets(u.id):
                problems.append(Problem("no-teacher", u.id, u.line, f"{u.id}: no {TEACHER_DATASET} in {path}"))
                continue
            shape = store.shape(u.id, TEACHER_DATASET)
            if len(shape) != 2 or shape[0] < 1 or shape[1] != len(vocab):
                raise IslposeError(
                    f"{path}: utterance {u.id!r}: {TEACHER_DATASET} has shape {shape}, "
                    f"expected (frames >= 1, {len(vocab)})"
                )
    return problems


class WithTeacher(torch.utils.data.Dataset):
    """The student's train set with a ``teacher`` field (T_teacher, V) in every item.

    Args:
        base: the student's train set.
        path: the teacher store (checked with :func:`check_posteriors`).
        vocab: the shared gloss vocabulary.
        preload_gb: keep the posteriors in memory when they take at most this much.
    """

    def __init__(self, base: FeatureDataset, path: str | Path, vocab: Vocabulary, preload_gb: float = 8.0) -> None:
        self.base = base
        self.teacher = FeatureDataset(
            path, [Utterance(uid) for uid in base.ids], vocab, TEACHER_DATASET, preload_gb=preload_gb
        )
        self.ids, self.lengths, self.references = base.ids, base.lengths, base.references
        self.in_memory = base.in_memory and self.teacher.in_memory

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> dict:
        return {**self.base[index], "teacher": self.teacher[index]["features"]}
