"""Run resolution of ``islpose teacher train``: the config of a new teacher run, or of one to
resume from its ``last.pt``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from islpose.errors import IslposeError
from islpose.teacher.config import TeacherConfig, load_teacher_config, teacher_config


def resolve_teacher_run(
    arch: str | None = None,
    config_path: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    resume: bool = False,
    out: str | Path | None = None,
    fixed: Mapping[str, object] | None = None,
) -> TeacherConfig:
    """The resolved config of a teacher run.

    Args:
        arch: the teacher's registry name (wins over the YAML's ``model``).
        config_path: a YAML teacher config (new runs).
        overrides: teacher ``train`` fields (``None`` values are ignored).
        resume: continue the run in ``out`` from its ``last.pt`` (its stored config).
        out: the run folder (needed with ``resume``).
        fixed: option name -> value of other options that may not change on resume.

    Raises:
        IslposeError: neither ``arch`` nor ``config_path`` for a new run, or a resume that
            cannot go on.
    """
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    if resume:
        from islpose.teacher.checkpoint import read_teacher_checkpoint
        from islpose.train.runs import resumable

        last = resumable(out, {"--arch": arch, "--config": config_path, **(fixed or {})})
        config = teacher_config(read_teacher_checkpoint(last)["config"], where=str(last))
    elif config_path is not None:
        config = load_teacher_config(config_path, arch)
    elif arch is not None:
        config = teacher_config({"model": arch})
    else:
        raise IslposeError("give --arch or --config (e.g. --config configs/teacher_dense_vit.yaml)")
    config.train = dataclasses.replace(config.train, **overrides)  # re-validates the values
    return config
