"""The registry of CTC models: names -> classes, and building one from its config.

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

MODELS: dict[str, type[nn.Module]] = {}


def register_model(name: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator that adds a model to :data:`MODELS` under ``name``."""

    def add(cls: type[nn.Module]) -> type[nn.Module]:
        if name in MODELS:
            raise ValueError(f"model {name!r} is already registered")
        for attr in ("feature", "subsample", "config_class"):
            if not hasattr(cls, attr):
                raise TypeError(f"model {cls.__name__} lacks class attribute {attr!r}")
        cls.name = name
        MODELS[name] = cls
        return cls

    return add


def model_class(name: str) -> type[nn.Module]:
    """The class registered as ``name`` (an unknown name is an :class:`IslposeError`)."""
    try:
        return MODELS[name]
    except KeyError:
        raise IslposeError(f"unknown model {name!r} (available: {', '.join(sorted(MODELS))})") from None


def model_config_class(name: str) -> type:
    """The config dataclass of model ``name``."""
    return model_class(name).config_class


def build_model(name: str, config: Any = None, *, vocab_size: int) -> nn.Module:
    """Builds model ``name``.

    Args:
        name: registry name (see :data:`MODELS`).
        config: ``None`` (defaults), a dict (unknown keys are an error) or the model's
            config dataclass.
        vocab_size: output classes V, ``<blank>`` included.
    """
    cls = model_class(name)
    if config is None or isinstance(config, Mapping):
        config = from_dict(cls.config_class, config, f"model_config of {name}")
    elif not isinstance(config, cls.config_class):
        raise IslposeError(f"model {name!r} takes a {cls.config_class.__name__}, not {type(config).__name__}")
    if vocab_size < 2:
        raise IslposeError(f"vocab_size must be at least 2 (<blank> and one gloss), got {vocab_size}")
    return cls(dataclasses.replace(config), vocab_size=vocab_size)


def input_dim(model: nn.Module) -> int:
    """The feature width D a built model reads: its config's ``input_dim``, else the width
    of its ``feature`` dataset (66 pose, 6516 multimodal)."""
    from islpose.features.layout import MULTIMODAL_DIM, POSE_DIM

    width = getattr(getattr(model, "config", None), "input_dim", None)
    return int(width) if width else {"pose": POSE_DIM, "multimodal": MULTIMODAL_DIM}[model.feature]
