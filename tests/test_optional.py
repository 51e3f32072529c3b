"""islpose._optional.require: a missing optional dependency is one line naming the extra."""
from __future__ import annotations

import sys

import pytest

from islpose._optional import require
from islpose.errors import IslposeError


def test_require_returns_the_module():
    assert require("json", "none") is sys.modules["json"]


def test_missing_module_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mediapipe", None)  # as if it were not installed
    with pytest.raises(IslposeError, match=r"^MediaPipe is not installed: pip install 'islpose\[extract\]'$"):
        require("mediapipe", "extract", "MediaPipe")
    with pytest.raises(IslposeError, match=r"^no_such_module_xyz is not installed: pip install 'islpose\[decode\]'$"):
        require("no_such_module_xyz", "decode")
