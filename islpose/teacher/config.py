"""Teacher run configuration: YAML files in ``configs/teacher_*.yaml`` map one to one onto
these dataclasses (an unknown key anywhere is an error)::

    model: dense_vit                # islpose.teacher.models.TEACHERS
    model_config: {...}             # the model's config dataclass (decoder: {...} nested)
    video: {...}                    # VideoConfig
    loss: {...}                     # HybridLossConfig
    train: {...}                    # TeacherTrainConfig
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from islpose.config import from_dict, read_yaml
from islpose.errors import IslposeError
from islpose.teacher.loss import HybridLossConfig
from islpose.teacher.video import VideoConfig


@dataclass
class TeacherTrainConfig:
    """Optimisation of ``islpose teacher train`` (defaults: the dense-ViT seed).

    Attributes:
        epochs: maximum epochs.
        batch_size: clips per step and process.
        grad_accum: steps whose gradients are summed before one optimizer update.
        encoder_lr: peak learning rate of the video encoder.
        decoder_lr: peak learning rate of the CTC head and the text decoder.
        weight_decay: AdamW weight decay (not on biases, norms and position embeddings).
        warmup_epochs: linear warmup from 10% of the rates, then cosine decay.
        grad_clip: maximum gradient norm (0: off).
        patience: early stopping on dev WER after this many epochs without improvement (0: off).
        amp: bf16 autocast on CUDA.
        seed: RNG seed.
        num_workers: video decoding workers.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
    """

    epochs: int = 200
    batch_size: int = 16
    grad_accum: int = 1
    encoder_lr: float = 5e-5
    decoder_lr: float = 1.5e-4
    weight_decay: float = 1e-3
    warmup_epochs: int = 5
    grad_clip: float = 0.5
    patience: int = 15
    amp: bool = True
    seed: int = 0
    num_workers: int = 8
    device: str = "auto"

    def __post_init__(self) -> None:
        bad = [
            k
            for k, ok in {
                "epochs": self.epochs >= 1,
                "batch_size": self.batch_size >= 1,
                "grad_accum": self.grad_accum >= 1,
                "encoder_lr": self.encoder_lr > 0,
                "decoder_lr": self.decoder_lr > 0,
                "weight_decay": self.weight_decay >= 0,
                "warmup_epochs": self.warmup_epochs >= 0,
                "grad_clip": self.grad_clip >= 0,
                "patience": self.patience >= 0,
                "num_workers": self.num_workers >= 0,
            }.items()
            if not ok
        ]
        if bad:
            raise IslposeError(
                f"teacher train config: invalid value for {', '.join(f'{k}={getattr(self, k)!r}' for k in bad)}"
            )


@dataclass
class TeacherConfig:
    """Everything that defines a teacher run."""

    model: str
    model_config: Any
    video: VideoConfig = field(default_factory=VideoConfig)
    loss: HybridLossConfig = field(default_factory=HybridLossConfig)
    train: TeacherTrainConfig = field(default_factory=TeacherTrainConfig)

    def to_dict(self) -> dict:
        """Plain nested dicts (YAML and ``torch.load(weights_only=True)`` safe)."""
        return {
            "model": self.model,
            **{k: dataclasses.asdict(getattr(self, k)) for k in ("model_config", "video", "loss", "train")},
        }


def teacher_config(data: Mapping[str, Any] | None, model: str | None = None, where: str = "config") -> TeacherConfig:
    """Builds a :class:`TeacherConfig` from a parsed YAML mapping.

    Args:
        data: mapping with keys ``model``, ``model_config``, ``video``, ``loss``, ``train``.
        model: registry name that overrides ``data["model"]``.
        where: name used in error messages (the YAML path).
    """
    from islpose.teacher.models import TEACHERS, teacher_config_class

    data = dict(data or {})
    known = ("model", "model_config", "video", "loss", "train")
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise IslposeError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(known)})")
    name = model or data.get("model")
    if not name:
        raise IslposeError(f"{where}: no teacher model given (available: {', '.join(sorted(TEACHERS))})")
    config = TeacherConfig(
        name,
        from_dict(teacher_config_class(name), data.get("model_config"), f"{where}: model_config"),
        from_dict(VideoConfig, data.get("video"), f"{where}: video"),
        from_dict(HybridLossConfig, data.get("loss"), f"{where}: loss"),
        from_dict(TeacherTrainConfig, data.get("train"), f"{where}: train"),
    )
    size = getattr(config.model_config, "image_size", None)
    if size is not None and size != config.video.size:
        raise IslposeError(f"{where}: model_config.image_size ({size}) differs from video.size ({config.video.size})")
    return config


def load_teacher_config(path: str | Path, model: str | None = None) -> TeacherConfig:
    """Reads a teacher YAML file (``yaml.safe_load``) into a :class:`TeacherConfig`."""
    return teacher_config(read_yaml(path), model, str(path))
