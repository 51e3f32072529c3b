"""Teacher video models by name.

Every teacher registers under a name, takes a dataclass config (``config_class``; YAML
``model_config`` maps onto it) and is a :class:`VideoTeacher`:
``forward(frames (B, T, 3, H, W), lengths (B,), text (B, L) | None) -> TeacherOutput``
with CTC ``log_probs`` (T, B, V), ``lengths`` (B,) and ``text_logits`` (B, L-1, V_text).

Example:
    >>> from islpose.teacher.models import build_teacher
    >>> model = build_teacher("dense_vit", None, vocab_size=1229, text_vocab_size=3000)  # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Mapping

from torch import nn

from islpose.errors import IslposeError

TEACHERS: dict[str, type] = {}


def register_teacher(name: str) -> Callable[[type], type]:
    """Class decorator that adds a teacher to :data:`TEACHERS` under ``name``."""

    def add(cls: type) -> type:
        if name in TEACHERS:
            raise ValueError(f"teacher {name!r} is already registered")
        cls.name = name
        TEACHERS[name] = cls
        return cls

    return add


def teacher_config_class(name: str) -> type:
    """The config dataclass of teacher ``name``."""
    try:
        return TEACHERS[name].config_class
    except KeyError:
        raise IslposeError(f"unknown teacher {name!r} (available: {', '.join(sorted(TEACHERS))})") from None


def build_teacher(name: str, config: Any = None, *, vocab_size: int, text_vocab_size: int = 0) -> nn.Module:
    """Builds teacher ``name`` with random weights.

    Args:
        name: registry name (``dense_vit``, ``cnn_transformer``, ``timesformer``).
        config: None (defaults), a mapping (unknown keys are an error) or the config dataclass.
        vocab_size: gloss classes V of the CTC head (``<blank>`` included).
        text_vocab_size: words of the text decoder; 0 builds no text head.
    """
    from islpose.train.config import from_dict

    config_class = teacher_config_class(name)
    if config is None or isinstance(config, Mapping):
        config = from_dict(config_class, config, f"model_config of {name}")
    elif not isinstance(config, config_class):
        raise IslposeError(f"teacher {name!r} takes a {config_class.__name__}, not {type(config).__name__}")
    if vocab_size < 2:
        raise IslposeError(f"vocab_size must be at least 2 (<blank> and one gloss), got {vocab_size}")
    return TEACHERS[name](dataclasses.replace(config), vocab_size=vocab_size, text_vocab_size=text_vocab_size)


def load_init_weights(model: nn.Module, path: str | Path) -> dict:
    """Loads local pretrained weights into ``model`` (never a download).

    ``path`` is a ``.safetensors`` file or a torch file read with ``weights_only=True``: a
    state dict, or a dict holding one under ``model_state``/``state_dict``/``model``. Keys
    may be the model's own or its image backbone's (e.g. a torchvision ``resnet50`` state
    dict for ``cnn_transformer``); keys the model lacks are ignored and reported.

    Returns:
        ``{"loaded": [...], "ignored": [...], "missing": [...]}`` key lists.

    Raises:
        IslposeError: unreadable file, a shape mismatch, or no key that fits the model.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise IslposeError(f"{path}: weights file not found")
    try:
        if path.suffix == ".safetensors":
            try:
                from safetensors.torch import load_file
            except ImportError:
                raise IslposeError("reading .safetensors needs the safetensors package: pip install safetensors") from None
            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except IslposeError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file
        raise IslposeError(f"{path}: cannot read weights ({type(exc).__name__}: {exc})") from None
    for key in ("model_state", "state_dict", "model"):
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise IslposeError(f"{path}: not a state dict of tensors")
    own = model.state_dict()
    prefix = getattr(model, "backbone_prefix", "")
    mapped, ignored = {}, []
    for key, value in state.items():
        name = key if key in own else prefix + key if prefix + key in own else None
        if name is None:
            ignored.append(key)
        elif own[name].shape != value.shape:
            raise IslposeError(f"{path}: {key} has shape {tuple(value.shape)}, the model expects {tuple(own[name].shape)}")
        else:
            mapped[name] = value
    if not mapped:
        raise IslposeError(f"{path}: no weight fits {type(model).__name__} (e.g. {next(iter(state), 'none')!r})")
    model.load_state_dict(mapped, strict=False)
    return {"loaded": sorted(mapped), "ignored": ignored, "missing": sorted(set(own) - set(mapped))}


# Importing the architectures registers them.
from islpose.teacher.models import cnn_transformer, dense_vit, timesformer  # noqa: E402,F401

__all__ = ["TEACHERS", "build_teacher", "load_init_weights", "register_teacher", "teacher_config_class"]
