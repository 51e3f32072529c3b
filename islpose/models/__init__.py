"""CTC models by name.

Every model class registers under a name and has:

* ``feature``: the feature-store dataset it reads (``"pose"`` or ``"multimodal"``),
* ``subsample``: temporal subsampling, output frames = ``ceil(T / subsample)``,
* ``config_class``: its dataclass config (YAML ``model_config`` maps onto it),
* ``train_defaults``: ``TrainConfig`` values that differ from the generic defaults,
* ``forward(x (B, T, D) float, lengths (B,) long) -> (log_probs (T', B, V), out_lengths (B,))``.

Example:
    >>> from islpose.models import build_model
    >>> model = build_model("bilstm_optimized", {"dropout": 0.1}, vocab_size=30)  # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import torch
from torch import nn

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
    from islpose.train.config import from_dict

    cls = model_class(name)
    if config is None or isinstance(config, Mapping):
        config = from_dict(cls.config_class, config, f"model_config of {name}")
    elif not isinstance(config, cls.config_class):
        raise IslposeError(f"model {name!r} takes a {cls.config_class.__name__}, not {type(config).__name__}")
    if vocab_size < 2:
        raise IslposeError(f"vocab_size must be at least 2 (<blank> and one gloss), got {vocab_size}")
    return cls(dataclasses.replace(config), vocab_size=vocab_size)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def lengths_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B,) lengths -> (B, max_len) bool mask, True on valid frames."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def run_bilstm(lstm: nn.Module, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """A one-layer bidirectional LSTM over a padded batch, blind to the padding.

    Args:
        lstm: a bidirectional ``nn.LSTM`` (batch first; run on packed sequences) or its
            :class:`PaddedBiLSTM` twin (no packing: what ONNX export uses).
        x: (B, T, D) input, padded after each length; lengths: (B,) valid frames.

    Returns:
        (B, T, 2H), zero on padded frames.
    """
    if isinstance(lstm, PaddedBiLSTM):
        return lstm(x, lengths)
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    return nn.utils.rnn.pad_packed_sequence(lstm(packed)[0], batch_first=True, total_length=x.shape[1])[0]


class PaddedBiLSTM(nn.Module):
    """A one-layer bidirectional LSTM without packed sequences (exportable to ONNX).

    The backward direction runs forwards over each utterance reversed within its own
    length, so padding never enters a valid frame's state: the outputs equal the packed
    ``nn.LSTM``'s (padded frames are zero).
    """

    def __init__(self, lstm: nn.LSTM) -> None:
        super().__init__()
        if not (lstm.bidirectional and lstm.batch_first and lstm.num_layers == 1 and lstm.proj_size == 0):
            raise ValueError("PaddedBiLSTM takes a one-layer, batch-first, bidirectional nn.LSTM")
        self.directions = nn.ModuleList()
        for suffix in ("", "_reverse"):
            one = nn.LSTM(lstm.input_size, lstm.hidden_size, batch_first=True, bias=lstm.bias)
            one.load_state_dict({k: getattr(lstm, k + suffix) for k in one.state_dict()})
            self.directions.append(one)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, D), (B,) -> (B, T, 2H)."""
        t = torch.arange(x.shape[1], device=x.device)[None, :]  # (1, T)
        n = lengths[:, None]  # (B, 1)
        index = torch.where(t < n, n - 1 - t, t)  # (B, T): reversal within each length

        def flip(h: torch.Tensor) -> torch.Tensor:
            return h.gather(1, index[..., None].expand(-1, -1, h.shape[-1]))

        forward = self.directions[0](x)[0]
        backward = flip(self.directions[1](flip(x))[0])
        return torch.cat([forward, backward], dim=-1) * (t < n)[..., None].to(x.dtype)


# Importing the architectures registers them.
from islpose.models import bilstm_optimized, mobilenet_v3_1d  # noqa: E402,F401

__all__ = ["MODELS", "PaddedBiLSTM", "build_model", "count_parameters", "lengths_mask", "model_class", "model_config_class",
           "register_model", "run_bilstm"]
