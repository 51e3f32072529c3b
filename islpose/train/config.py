"""Run configuration: dataclasses that YAML files map onto one to one.

A run config YAML has three top-level keys, and a fourth for distillation runs::

    model: bilstm_optimized          # registry name (islpose.models.MODELS)
    model_config: {...}              # the model's dataclass config
    train: {...}                     # TrainConfig
    distill: {...}                   # DistillConfig (``islpose distill`` runs only)

An unknown key anywhere is an error. Values resolve in this order (later wins): the
dataclass defaults, the model's ``train_defaults``, the YAML file, command-line options.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Mapping, TypeVar

from islpose.errors import IslposeError

T = TypeVar("T")


@dataclass
class TrainConfig:
    """Optimisation, schedule, batching and logging of ``islpose train``.

    Attributes:
        epochs: maximum number of epochs.
        batch_size: utterances per batch (per process under DDP).
        lr: peak learning rate of AdamW.
        weight_decay: AdamW weight decay.
        warmup_epochs: linear warmup from 10% of ``lr`` over this many epochs, then cosine
            decay to zero at ``epochs`` (both stepped every batch).
        grad_clip: maximum gradient norm (0 disables clipping).
        patience: stop after this many epochs without a better dev WER (0 disables).
        seed: seed of Python, NumPy and torch RNGs and of the batch order.
        bucketing: length-bucketed batches (otherwise plain random batches).
        bucket_pool: batches per sorting pool of the bucketing (bigger = tighter buckets,
            less random batch composition).
        num_workers: DataLoader workers (features are in memory, so 0 is usually fastest).
        preload_gb: read all features into memory when they take at most this many GiB.
        amp: bf16 autocast on CUDA (the CTC loss is always computed in fp32).
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``.
        progress: show a progress bar.
    """

    epochs: int = 100
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_epochs: int = 5
    grad_clip: float = 5.0
    patience: int = 15
    seed: int = 0
    bucketing: bool = True
    bucket_pool: int = 50
    num_workers: int = 0
    preload_gb: float = 8.0
    amp: bool = True
    device: str = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        checks = {
            "epochs": self.epochs >= 1, "batch_size": self.batch_size >= 1, "lr": self.lr > 0,
            "weight_decay": self.weight_decay >= 0, "warmup_epochs": self.warmup_epochs >= 0,
            "grad_clip": self.grad_clip >= 0, "patience": self.patience >= 0,
            "bucket_pool": self.bucket_pool >= 1, "num_workers": self.num_workers >= 0,
            "preload_gb": self.preload_gb >= 0,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise IslposeError(f"train config: invalid value for {', '.join(f'{k}={getattr(self, k)!r}' for k in bad)}")


@dataclass
class DistillConfig:
    """Knowledge distillation from a teacher's frame posteriors (``islpose distill``).

    The loss is ``CTC + alpha * temperature**2 * KL(teacher_T || student_T)``, see
    :mod:`islpose.train.distill`.

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
        distill: distillation settings (``None``: plain CTC training).
    """

    model: str
    model_config: Any
    train: TrainConfig = field(default_factory=TrainConfig)
    distill: DistillConfig | None = None

    def to_dict(self) -> dict:
        """Plain nested dicts (safe for YAML and ``torch.load(weights_only=True)``)."""
        out = {"model": self.model, "model_config": dataclasses.asdict(self.model_config),
               "train": dataclasses.asdict(self.train)}
        if self.distill is not None:
            out["distill"] = dataclasses.asdict(self.distill)
        return out


def from_dict(cls: type[T], data: Mapping[str, Any] | None, where: str = "config") -> T:
    """Builds dataclass ``cls`` from a mapping; nested dataclass fields take mappings.

    Raises:
        IslposeError: an unknown key, or a value of the wrong type.
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise IslposeError(f"{where}: expected a mapping, got {type(data).__name__}")
    names = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise IslposeError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(names)})")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(hints.get(name, Any), value, f"{where}.{name}")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise IslposeError(f"{where}: {exc}") from None


def _coerce(kind: Any, value: Any, where: str) -> Any:
    if is_dataclass(kind):
        if not isinstance(value, Mapping):
            raise IslposeError(f"{where}: expected a mapping, got {value!r}")
        return from_dict(kind, value, where)
    if kind is bool:
        if not isinstance(value, bool):
            raise IslposeError(f"{where}: expected true or false, got {value!r}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise IslposeError(f"{where}: expected an integer, got {value!r}")
        return value
    if kind is float:
        if isinstance(value, str):  # YAML reads 1e-3 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise IslposeError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if kind is str and not isinstance(value, str):
        raise IslposeError(f"{where}: expected a string, got {value!r}")
    return value


def read_yaml(path: str | Path) -> dict:
    """Reads a YAML mapping with ``yaml.safe_load``."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise IslposeError(f"{path}: cannot read config ({exc.strerror or exc})") from exc
    except yaml.YAMLError as exc:
        raise IslposeError(f"{path}: not valid YAML ({exc})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise IslposeError(f"{path}: a config must be a YAML mapping")
    return data


def resolve_config(
    model: str | None = None,
    yaml_data: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    where: str = "config",
    distill: Mapping[str, Any] | None = None,
) -> RunConfig:
    """Merges defaults, the model's train defaults, a YAML mapping and CLI overrides.

    Args:
        model: model name from the command line (wins over the YAML's ``model``).
        yaml_data: the parsed YAML mapping (keys ``model``, ``model_config``, ``train``,
            ``distill``).
        overrides: ``TrainConfig`` fields from the command line; ``None`` values are ignored.
        where: name used in error messages (the YAML path).
        distill: ``DistillConfig`` fields from the command line (``None`` values are
            ignored); given (even empty), the run is a distillation run.
    """
    from islpose.models import MODELS, model_config_class

    yaml_data = dict(yaml_data or {})
    unknown = sorted(set(yaml_data) - {"model", "model_config", "train", "distill"})
    if unknown:
        raise IslposeError(f"{where}: unknown key(s) {', '.join(unknown)} "
                           "(known: model, model_config, train, distill)")
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
    return RunConfig(name, model_config, from_dict(TrainConfig, train_data, f"{where}: train"), distill_config)


def write_yaml(config: RunConfig, path: str | Path) -> None:
    """Writes the resolved config so that ``--config`` reproduces the run."""
    import yaml

    Path(path).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False), encoding="utf-8")
