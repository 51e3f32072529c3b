"""The registry of video teachers: names -> classes, and building one from its config.

Kept apart from the architectures (as timm's ``_registry``): an architecture imports
this module to register itself, this module imports no architecture.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from islpose.config import from_dict
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
    config_class = teacher_config_class(name)
    if config is None or isinstance(config, Mapping):
        config = from_dict(config_class, config, f"model_config of {name}")
    elif not isinstance(config, config_class):
        raise IslposeError(f"teacher {name!r} takes a {config_class.__name__}, not {type(config).__name__}")
    if vocab_size < 2:
        raise IslposeError(f"vocab_size must be at least 2 (<blank> and one gloss), got {vocab_size}")
    return TEACHERS[name](dataclasses.replace(config), vocab_size=vocab_size, text_vocab_size=text_vocab_size)
