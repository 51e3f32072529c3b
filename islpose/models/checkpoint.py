"""Checkpoints that carry everything ``decode`` needs, loaded with ``weights_only=True``.

A checkpoint file is a dict of plain Python values and tensors::

    format          "islpose-checkpoint"
    format_version  2 (1: before model configs gained fields; see :func:`read_checkpoint`)
    model_name      registry name, e.g. "bilstm_optimized"
    config          the resolved run config: {"model", "model_config", "train"}
    vocab           list of tokens (index = position, "<blank>" first)
    meta            {"epoch", "dev_wer", "best_wer", "best_epoch", "islpose_version", ...}
    model_state     the model's state dict
    training_state  optional (last.pt): optimizer, scheduler, RNG states, early stopping
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from islpose.errors import IslposeError
from islpose.io.atomic import atomic_path
from islpose.vocab import Vocabulary

FORMAT = "islpose-checkpoint"
FORMAT_VERSION = 2
# Every checkpoint format islpose writes, for messages when one is given where another is expected.
KINDS = {FORMAT: "a student checkpoint", "islpose-teacher-checkpoint": "a teacher checkpoint"}


@dataclass
class Checkpoint:
    """A loaded checkpoint.

    Attributes:
        model: the model in eval mode with its weights loaded.
        vocab: the vocabulary it was trained with (``len(vocab)`` = output classes V).
        model_name: registry name of the model.
        config: the resolved run config as plain dicts (``model``, ``model_config``, ``train``).
        meta: epoch, dev WER and other facts about the checkpoint.
    """

    model: nn.Module
    vocab: Vocabulary
    model_name: str
    config: dict
    meta: dict


def save_checkpoint(
    path: str | Path, model: nn.Module, vocab: Vocabulary, config: dict, meta: dict, training_state: dict | None = None
) -> Path:
    """Writes a checkpoint atomically (temporary file, then rename).

    Args:
        path: destination ``.pt`` file.
        model: the model (unwrapped from DDP).
        vocab: its vocabulary.
        config: the resolved run config as plain dicts (see :meth:`RunConfig.to_dict`).
        meta: plain values (epoch, dev WER, ...).
        training_state: what resume needs (optimizer, scheduler, RNG, early stopping).
    """
    from islpose._version import __version__

    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_name": config["model"],
        "config": config,
        "vocab": list(vocab.tokens),
        "meta": {**meta, "islpose_version": __version__},
        "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    return write_payload(path, payload, training_state)


def write_payload(path: str | Path, payload: dict, training_state: dict | None = None) -> Path:
    """``torch.save`` of a checkpoint dict, atomically (temporary file, then rename)."""
    path = Path(path)
    if training_state is not None:
        payload = {**payload, "training_state": training_state}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def read_payload(
    path: str | Path, fmt: str, version: int, required: tuple[str, ...], map_location: Any = "cpu"
) -> dict:
    """Loads a checkpoint dict safely (``torch.load(weights_only=True)``) and checks its format.

    Raises:
        IslposeError: missing file, not loadable, another format (named when islpose
            knows it), a newer version, or missing keys.
    """
    path = Path(path)
    if not path.is_file():
        raise IslposeError(f"{path}: checkpoint not found")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception:  # noqa: BLE001 - the weights-only unpickler raises many kinds on foreign files
        # its messages (e.g. a bare magic number) tell a user nothing: say what to pass instead
        raise IslposeError(
            f"{path}: cannot be read as {KINDS[fmt]} (a weights-only PyTorch file); pass the "
            "best.pt or last.pt that training wrote in its --out folder"
        ) from None
    kind = data.get("format") if isinstance(data, dict) else None
    if kind != fmt:
        found = f"{KINDS[kind]} ({data.get('model_name')!r})" if kind in KINDS else "not an islpose checkpoint"
        raise IslposeError(f"{path}: {found}, expected {KINDS[fmt]}")
    found_version = data.get("format_version")
    if not isinstance(found_version, int) or found_version > version:
        raise IslposeError(
            f"{path}: checkpoint format version {found_version!r} is not supported (this islpose reads <= {version})"
        )
    missing = [k for k in required if k not in data]
    if missing:
        raise IslposeError(f"{path}: checkpoint lacks {', '.join(missing)}")
    return data


def read_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict:
    """Loads and checks the raw checkpoint dict (``torch.load(weights_only=True)``). In a
    version-1 checkpoint, a model config field added since takes the value the model had
    then (the model class's ``legacy_config``, e.g. ``logit_scale`` 1), not today's default.
    A model config field that was removed (the model class's ``removed_config``) is dropped,
    with a warning when its value was not the one that changes nothing.

    Raises:
        IslposeError: missing file, not a (safe) islpose checkpoint, or a newer format.
    """
    data = read_payload(
        path, FORMAT, FORMAT_VERSION, ("model_name", "config", "vocab", "meta", "model_state"), map_location
    )
    from islpose.models import MODELS

    model = MODELS.get(data["model_name"])
    saved = data["config"].get("model_config")
    if data["format_version"] < 2 and model is not None and isinstance(saved, dict):
        data["config"]["model_config"] = saved = {**getattr(model, "legacy_config", {}), **saved}
    if model is not None and isinstance(saved, dict):
        for key, neutral in getattr(model, "removed_config", {}).items():
            if key in saved and saved.pop(key) != neutral:
                warnings.warn(f"{path}: model_config.{key} is no longer supported and is ignored", stacklevel=2)
    return data


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> Checkpoint:
    """Loads a checkpoint and rebuilds its model (eval mode) and vocabulary.

    Raises:
        IslposeError: not a checkpoint, an unknown model name, or weights that do not fit
            the model its config describes.
    """
    from islpose.models import MODELS, build_model

    data = read_checkpoint(path, map_location)
    name = data["model_name"]
    if name not in MODELS:
        raise IslposeError(f"{path}: checkpoint of unknown model {name!r} (available: {', '.join(sorted(MODELS))})")
    try:
        vocab = Vocabulary.from_tokens(data["vocab"])
    except IslposeError as exc:
        raise IslposeError(f"{path}: bad vocabulary in checkpoint ({exc})") from None
    try:
        model = build_model(name, data["config"].get("model_config"), vocab_size=len(vocab))
    except IslposeError as exc:
        raise IslposeError(f"{path}: {exc}") from None
    load_weights(model, data["model_state"], path)
    model.to(map_location if isinstance(map_location, (str, torch.device)) else "cpu").eval()
    return Checkpoint(model=model, vocab=vocab, model_name=name, config=data["config"], meta=data["meta"])


def load_weights(model: nn.Module, state: dict, path: str | Path) -> None:
    """``model.load_state_dict(state)`` with a clear error when the weights do not fit."""
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())
        raise IslposeError(
            f"{path}: weights do not fit the model {getattr(model, 'name', '')!r} ({detail[:300]})"
        ) from None
