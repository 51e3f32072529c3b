"""Run configuration: dataclasses that YAML files map onto one to one.

A run config YAML has four top-level keys, and a fifth for distillation runs::

    model: bilstm_optimized          # registry name (islpose.models.MODELS)
    model_config: {...}              # the model's dataclass config
    train: {...}                     # TrainConfig
    augment: {...}                   # AugmentConfig (islpose.data.augment)
    distill: {...}                   # DistillConfig (``islpose distill`` runs only)

An unknown key anywhere is an error. Values resolve in this order (later wins): the
dataclass defaults, the model's ``train_defaults``, the YAML file, command-line options.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from islpose.config import from_dict, read_yaml
from islpose.data.augment import AugmentConfig
from islpose.errors import IslposeError


@dataclass
class TrainConfig:
    """Optimisation, schedule, batching and logging of ``islpose train``.

    Attributes:
        epochs: maximum number of epochs.
        batch_size: utterances per batch (per process under DDP); not used with ``max_frames``.
        max_frames: batches bounded by padded frames instead (utterances x longest utterance
            <= max_frames, per process; lhotse's ``max_duration``), so memory is bounded by
            frames: see :class:`~islpose.data.BucketBatchSampler`. None or 0: off.
        lr: peak learning rate of AdamW.
        weight_decay: AdamW weight decay.
        warmup_epochs: linear warmup from 10% of ``lr`` over this many epochs, then cosine
            decay to zero at ``epochs`` (both stepped every batch).
        grad_clip: maximum gradient norm (0 disables clipping).
        viterbi_epochs: over the first this many epochs the best-path (Viterbi) CTC loss is
            added, its weight falling linearly from ``viterbi_weight`` to 0 (0, the default,
            disables it): a hard-alignment start that leaves the blank plateau sooner but was
            measured worse on unseen signers (:mod:`islpose.train.best_path`, README).
            ``train_loss`` includes it.
        viterbi_weight: the weight of that loss at the first step.
        patience: stop after this many epochs without a better dev WER (0 disables).
        seed: seed of Python, NumPy and torch RNGs and of the batch order.
        bucketing: length-bucketed batches (otherwise plain random batches).
        bucket_pool: batches per sorting pool of the bucketing (bigger = tighter buckets,
            less random batch composition).
        num_workers: DataLoader workers (features are in memory, so 0 is usually fastest
            without augmentation; with ``augment.enabled`` they read and pad the landmarks,
            which are augmented and turned into features per batch on the training device,
            :mod:`islpose.data.device_augment`).
        preload_gb: read all features into memory when they take at most this many GiB.
        amp: bf16 autocast on CUDA (the CTC loss is always computed in fp32).
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``.
        threads: torch's CPU threads in each training process (0: torch's default, one per
            core; on a machine that other jobs share, 1 is often much faster).
        progress: show a progress bar.
    """

    epochs: int = 100
    batch_size: int = 32
    max_frames: int | None = None
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_epochs: int = 5
    grad_clip: float = 5.0
    viterbi_epochs: int = 0
    viterbi_weight: float = 1.0
    patience: int = 15
    seed: int = 0
    bucketing: bool = True
    bucket_pool: int = 50
    num_workers: int = 0
    preload_gb: float = 8.0
    amp: bool = True
    device: str = "auto"
    threads: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        checks = {
            "epochs": self.epochs >= 1, "batch_size": self.batch_size >= 1, "lr": self.lr > 0,
            "max_frames": (self.max_frames or 0) >= 0,
            "weight_decay": self.weight_decay >= 0, "warmup_epochs": self.warmup_epochs >= 0,
            "grad_clip": self.grad_clip >= 0, "patience": self.patience >= 0,
            "viterbi_epochs": self.viterbi_epochs >= 0, "viterbi_weight": self.viterbi_weight >= 0,
            "bucket_pool": self.bucket_pool >= 1, "num_workers": self.num_workers >= 0,
            "preload_gb": self.preload_gb >= 0, "threads": self.threads >= 0,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise IslposeError(f"train config: invalid value for {', '.join(f'{k}={getattr(self, k)!r}' for k in bad)}")


@dataclass
class DistillConfig:
    """Knowledge distillation from a teacher's frame posteriors (``islpose distill``).

    The loss is ``CTC + alpha * temperature**2 * KL(teacher_T || student_T)``, see
    :mod:`islpose.train.kd_loss`.

    Attributes:
        alpha: weight of the distillation term (0 = plain CTC training).
        temperature: softmax temperature of both distributions (> 0).
        missing_teacher: what an utterance without teacher posteriors gets: ``error``
            (stop before training) or ``skip`` (listed in ``skipped.tsv``, not trained on).
    """

    alpha: float = 1.0
    temperature: float = 2.0
    missing_teacher: str = "error"

    def __post_init__(self) -> None:
        if not (self.alpha >= 0 and self.temperature > 0):
            raise IslposeError(f"distill config: need alpha >= 0 and temperature > 0, got alpha={self.alpha!r}, "
                               f"temperature={self.temperature!r}")
        if self.missing_teacher not in ("error", "skip"):
            raise IslposeError(f"distill config: missing_teacher must be 'error' or 'skip', "
                               f"not {self.missing_teacher!r}")


@dataclass
class RunConfig:
    """Everything that defines a training run (written to ``RUN_DIR/config.yaml``).

    Attributes:
        model: registry name of the model.
        model_config: the model's config dataclass.
        train: training settings.
        augment: landmark augmentation of the train split.
        distill: distillation settings (``None``: plain CTC training).
    """

    model: str
    model_config: Any
    train: TrainConfig = field(default_factory=TrainConfig)
    distill: DistillConfig | None = None
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def to_dict(self) -> dict:
        """Plain nested dicts (safe for YAML and ``torch.load(weights_only=True)``)."""
        out = {"model": self.model, "model_config": dataclasses.asdict(self.model_config),
               "train": dataclasses.asdict(self.train), "augment": dataclasses.asdict(self.augment)}
        if self.distill is not None:
            out["distill"] = dataclasses.asdict(self.distill)
        return out


def resolve_config(
    model: str | None = None,
    yaml_data: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    where: str = "config",
    distill: Mapping[str, Any] | None = None,
) -> RunConfig:
    """Merges defaults, the model's train (and augment) defaults, a YAML mapping and CLI overrides.

    Args:
        model: model name from the command line (wins over the YAML's ``model``).
        yaml_data: the parsed YAML mapping (keys ``model``, ``model_config``, ``train``,
            ``augment``, ``distill``).
        overrides: ``TrainConfig`` fields from the command line; ``None`` values are ignored.
        where: name used in error messages (the YAML path).
        distill: ``DistillConfig`` fields from the command line (``None`` values are
            ignored); given (even empty), the run is a distillation run.
    """
    from islpose.models import MODELS, model_config_class

    yaml_data = dict(yaml_data or {})
    unknown = sorted(set(yaml_data) - {"model", "model_config", "train", "augment", "distill"})
    if unknown:
        raise IslposeError(f"{where}: unknown key(s) {', '.join(unknown)} "
                           "(known: model, model_config, train, augment, distill)")
    name = model or yaml_data.get("model")
    if not name:
        raise IslposeError("no model given: use --model NAME or `model:` in the config "
                           f"(available: {', '.join(sorted(MODELS))})")
    model_config = from_dict(model_config_class(name), yaml_data.get("model_config"), f"{where}: model_config")
    train_data = {**getattr(MODELS[name], "train_defaults", {}), **dict(yaml_data.get("train") or {})}
    train_data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    distill_config = None
    if distill is not None or "distill" in yaml_data:
        distill_data = {**dict(yaml_data.get("distill") or {}),
                        **{k: v for k, v in (distill or {}).items() if v is not None}}
        distill_config = from_dict(DistillConfig, distill_data, f"{where}: distill")
    augment_data = {**getattr(MODELS[name], "augment_defaults", {}), **dict(yaml_data.get("augment") or {})}
    augment = from_dict(AugmentConfig, augment_data, f"{where}: augment")
    return RunConfig(name, model_config, from_dict(TrainConfig, train_data, f"{where}: train"), distill_config,
                     augment)


def write_yaml(config: RunConfig | Any, path: str | Path) -> None:
    """Writes a resolved config (anything with ``to_dict``) atomically, so that ``--config``
    reproduces the run."""
    import yaml

    from islpose.io.atomic import write_text_atomic

    write_text_atomic(path, yaml.safe_dump(config.to_dict(), sort_keys=False))
