"""Teacher checkpoints: everything needed to rebuild the teacher, loaded with ``weights_only=True``.

Kept apart from the students' checkpoints (:mod:`islpose.models.checkpoint`) because a
teacher also carries its text vocabulary and video config and is built from another
registry; a student command given a teacher checkpoint (or the reverse) fails clearly.
A file is a dict of plain values and tensors::

    format          "islpose-teacher-checkpoint"
    format_version  1
    model_name      teacher registry name, e.g. "dense_vit"
    config          TeacherConfig.to_dict(): model, model_config, video, loss, train
    vocab           gloss tokens ("<blank>" first), shared with the students
    text_vocab      text decoder tokens (empty without a text head)
    meta            epoch, dev WER, BLEU, islpose_version, ...
    model_state     the model's state dict
    training_state  optional (last.pt): optimizer, scheduler, RNG, early stopping
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from islpose.errors import IslposeError
from islpose.models.checkpoint import read_payload, write_payload
from islpose.teacher.config import TeacherConfig, teacher_config
from islpose.teacher.text import TextVocabulary
from islpose.vocab import Vocabulary

FORMAT = "islpose-teacher-checkpoint"
FORMAT_VERSION = 1


@dataclass
class TeacherCheckpoint:
    """A loaded teacher: ``model`` (eval mode), its vocabularies, config and meta."""

    model: nn.Module
    vocab: Vocabulary
    text_vocab: TextVocabulary | None
    config: TeacherConfig
    meta: dict


def save_teacher_checkpoint(
    path: str | Path,
    model: nn.Module,
    config: TeacherConfig,
    vocab: Vocabulary,
    text_vocab: TextVocabulary | None,
    meta: dict,
    training_state: dict | None = None,
) -> Path:
    """Writes a teacher checkpoint atomically (temporary file, then rename).

    Args:
        path: destination ``.pt`` file.
        model: the teacher (unwrapped from DDP).
        config: its run config.
        vocab: the gloss vocabulary (CTC head).
        text_vocab: the text decoder's vocabulary, or None.
        meta: plain values (epoch, dev WER, ...).
        training_state: what ``--resume`` needs.
    """
    from islpose._version import __version__

    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_name": config.model,
        "config": config.to_dict(),
        "vocab": list(vocab.tokens),
        "text_vocab": list(text_vocab.tokens) if text_vocab is not None else [],
        "meta": {**meta, "islpose_version": __version__},
        "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    return write_payload(path, payload, training_state)


def read_teacher_checkpoint(path: str | Path) -> dict:
    """Loads and checks the raw dict (``torch.load(weights_only=True)``, on the CPU).

    Raises:
        IslposeError: missing file, not a teacher checkpoint (e.g. a student's), or a newer format.
    """
    return read_payload(
        path, FORMAT, FORMAT_VERSION, ("model_name", "config", "vocab", "text_vocab", "meta", "model_state")
    )


def rebuild(data: dict, path: str | Path) -> tuple[TeacherConfig, Vocabulary, TextVocabulary | None]:
    """The config and vocabularies stored in a raw checkpoint dict."""
    try:
        config = teacher_config(data["config"], where=f"{path}: config")
        vocab = Vocabulary.from_tokens(data["vocab"])
        text_vocab = TextVocabulary.from_tokens(data["text_vocab"]) if data["text_vocab"] else None
    except IslposeError as exc:
        raise IslposeError(f"{path}: {exc}") from None
    return config, vocab, text_vocab


def load_teacher_checkpoint(path: str | Path, map_location: Any = "cpu") -> TeacherCheckpoint:
    """Loads a teacher checkpoint and rebuilds its model (eval mode, on ``map_location``).

    Raises:
        IslposeError: not a teacher checkpoint, or weights that do not fit its config.
    """
    from islpose.models.checkpoint import load_weights
    from islpose.teacher.models import build_teacher

    data = read_teacher_checkpoint(path)
    config, vocab, text_vocab = rebuild(data, path)
    model = build_teacher(
        config.model,
        config.model_config,
        vocab_size=len(vocab),
        text_vocab_size=len(text_vocab) if text_vocab is not None else 0,
    )
    load_weights(model, data["model_state"], path)
    return TeacherCheckpoint(model.to(map_location).eval(), vocab, text_vocab, config, data["meta"])
