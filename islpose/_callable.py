"""Packages that are also functions: ``islpose.extract(...)``, ``islpose.train(...)`` and
``islpose.decode(...)`` call the stage's main function, while ``islpose.extract.videos`` and
the like stay importable submodules."""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any


def make_callable(package: str, target: str) -> None:
    """Makes the imported module ``package`` callable: ``package(*args, **kwargs)`` calls
    ``target`` (``"module:function"``, imported on the first call)."""
    module_name, attr = target.split(":")

    class CallablePackage(types.ModuleType):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return getattr(importlib.import_module(module_name), attr)(*args, **kwargs)

    CallablePackage.__call__.__doc__ = f"Calls :func:`{module_name}.{attr}`."
    sys.modules[package].__class__ = CallablePackage
