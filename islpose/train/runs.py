"""Run resolution: the config of a new run, or of a run to resume from its ``last.pt``.

``islpose train``, ``islpose distill`` and ``islpose teacher train`` are thin commands over
these functions.

Example:
    >>> from islpose.train.runs import resolve_run
    >>> config = resolve_run("bilstm_optimized", overrides={"epochs": 3, "lr": None})
    >>> config.model, config.train.epochs, config.train.lr
    ('bilstm_optimized', 3, 0.001)
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from islpose.errors import IslposeError
from islpose.train.config import RunConfig, read_yaml, resolve_config

# TrainConfig fields that were removed -> the value under which they changed nothing. A stored
# config (a resumed run's last.pt) that still has them loads without them; removed model config
# fields are dropped by islpose.models.checkpoint.read_checkpoint.
REMOVED_TRAIN = {"viterbi_epochs": 0, "viterbi_weight": 1.0}


def drop_removed_keys(config: Mapping[str, Any], where: str = "config") -> dict:
    """A stored run config without the ``train`` fields of :data:`REMOVED_TRAIN` (a warning
    names each one whose value changed training, which a resumed run no longer applies).

    Args:
        config: the config as plain dicts (``model``, ``model_config``, ``train``, ...).
        where: the file it came from, for the warning.
    """
    out = dict(config)
    if isinstance(out.get("train"), Mapping):
        out["train"] = train = dict(out["train"])
        active = bool(train.get("viterbi_epochs"))  # the weight changed nothing while the epochs were 0
        for key in REMOVED_TRAIN:
            if key in train and train.pop(key) != REMOVED_TRAIN[key] and active:
                warnings.warn(f"{where}: train.{key} is no longer supported and is ignored", stacklevel=2)
    return out


def read_run_checkpoint(path: str | Path) -> dict:
    """A student checkpoint's raw dict (:func:`~islpose.models.checkpoint.read_checkpoint`)
    with the removed options dropped from its stored config."""
    from islpose.models.checkpoint import read_checkpoint

    data = read_checkpoint(path)
    data["config"] = drop_removed_keys(data["config"], str(path))
    return data


def stored_config(path: str | Path) -> dict:
    """The run config stored in a student checkpoint, without the removed options."""
    return read_run_checkpoint(path)["config"]


def resumable(out: str | Path | None, fixed: Mapping[str, object] | None = None) -> Path:
    """The ``last.pt`` that a resumed run (student or teacher) continues.

    Args:
        out: the run folder.
        fixed: option name -> value given (None when not given) of the options that
            would change the run; giving any of them is an error.

    Raises:
        IslposeError: no ``out``, a fixed option given, or no ``last.pt`` in ``out``.
    """
    if out is None:
        raise IslposeError("--resume needs --out (the run folder to continue)")
    out = Path(out)
    changed = [name for name, value in (fixed or {}).items() if value is not None]
    if changed:
        raise IslposeError(
            f"{', '.join(changed)} cannot change when resuming; the run's config is "
            f"{out / 'config.yaml'} (only --epochs, --patience, --device and a student's "
            "--threads may be given)"
        )
    last = out / "last.pt"
    if not last.is_file():
        raise IslposeError(f"{out}: nothing to resume (no last.pt)")
    return last


def resolve_run(
    model: str | None = None,
    config_path: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    resume: bool = False,
    out: str | Path | None = None,
    fixed: Mapping[str, object] | None = None,
    distill: Mapping[str, Any] | None = None,
) -> RunConfig:
    """The resolved config of a student run.

    A new run merges the model's defaults, the YAML file and ``overrides``; a resumed run
    takes the config stored in ``out/last.pt`` with ``overrides`` on top.

    Args:
        model: the model's registry name (wins over the YAML's ``model``).
        config_path: a YAML run config (new runs).
        overrides: ``TrainConfig`` fields (``None`` values are ignored).
        resume: continue the run in ``out``.
        out: the run folder (needed with ``resume``).
        fixed: option name -> value of the options that may not change on resume (each
            must be None); ``model`` and ``config_path`` are added to them.
        distill: ``DistillConfig`` fields; given (even empty), the run is a distillation run.

    Raises:
        IslposeError: an unknown key or bad value, no model, or a resume that cannot go on.
    """
    if not resume:
        yaml_data = read_yaml(config_path) if config_path else None
        return resolve_config(model, yaml_data, overrides, where=str(config_path or "config"), distill=distill)
    last = resumable(
        out,
        {
            "--model": model,
            "--config": config_path,
            **(fixed or {}),
            **{f"--{k.replace('_', '-')}": v for k, v in (distill or {}).items()},
        },
    )
    return resolve_config(yaml_data=stored_config(last), overrides=overrides, where=str(last), distill=distill)


def model_summary(config: RunConfig, manifest: str | Path) -> str:
    """The model of ``config`` (vocabulary from the manifest's train split), its parameter
    counts per part and the resolved config, as text (``islpose train --dry-run``)."""
    import yaml

    from islpose.models import build_model, count_parameters
    from islpose.vocab import Vocabulary

    vocab = Vocabulary.from_manifest(manifest, "train")
    model = build_model(config.model, config.model_config, vocab_size=len(vocab))
    lines = [
        str(model),
        "",
        f"vocabulary: {len(vocab)} tokens; input: {model.feature} features; temporal subsampling: {model.subsample}x",
    ]
    lines += [f"  {name:<22} {count_parameters(child):>12,}" for name, child in model.named_children()]
    lines += [f"  {'total':<22} {count_parameters(model):>12,} parameters", ""]
    return "\n".join(lines) + "\n" + yaml.safe_dump(config.to_dict(), sort_keys=False)
