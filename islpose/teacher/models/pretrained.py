"""Local pretrained weights for a teacher (never a download)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from islpose._optional import require
from islpose.errors import IslposeError


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
    path = Path(path)
    if not path.is_file():
        raise IslposeError(f"{path}: weights file not found")
    try:
        if path.suffix == ".safetensors":
            state = require("safetensors.torch", "teacher", "safetensors").load_file(str(path))
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
            raise IslposeError(
                f"{path}: {key} has shape {tuple(value.shape)}, the model expects {tuple(own[name].shape)}"
            )
        else:
            mapped[name] = value
    if not mapped:
        raise IslposeError(f"{path}: no weight fits {type(model).__name__} (e.g. {next(iter(state), 'none')!r})")
    model.load_state_dict(mapped, strict=False)
    return {"loaded": sorted(mapped), "ignored": ignored, "missing": sorted(set(own) - set(mapped))}
