"""Dataclass configs from YAML mappings: one key per field, an unknown key is an error.

Shared by every pluggable part (student models, teachers, run configs), so it imports
nothing of theirs.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

from islpose.errors import IslposeError

T = TypeVar("T")


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
