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


TORCH_FREE = """
import sys
sys.modules["torch"] = None  # as if torch were not installed
from click.testing import CliRunner
from islpose.cli.main import cli
for args in {commands!r}:
    result = CliRunner().invoke(cli, args)
    print(result.exit_code, result.output.strip().splitlines()[-1])
"""


def test_commands_without_torch_name_the_extra_in_one_line(tmp_path):
    """Commands whose modules import torch at the top (train, decode, export, demo, ...) say
    which extra installs it, like the ones that import it late; a recognize with an ONNX
    model gets past torch (and fails on the missing file instead)."""
    import subprocess

    manifest, checkpoint = str(tmp_path / "m.jsonl"), tmp_path / "best.pt"
    checkpoint.write_bytes(b"x")
    commands = [
        ["train", "--manifest", manifest, "--dry-run"],
        ["demo", str(tmp_path / "demo"), "--quick"],
        ["export", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "x.onnx")],
        ["recognize", str(tmp_path / "a.pose"), "--checkpoint", str(checkpoint), "--out", str(tmp_path / "o")],
        [
            "recognize",
            str(tmp_path / "a.pose"),
            "--checkpoint",
            str(checkpoint.with_suffix(".onnx")),
            "--out",
            str(tmp_path / "o"),
            "--beam",
            "1",
        ],
    ]
    checkpoint.with_suffix(".onnx").write_bytes(b"x")
    out = subprocess.run(
        [sys.executable, "-c", TORCH_FREE.format(commands=commands)], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[:4] == ["1 error: PyTorch is not installed: pip install 'islpose[train]'"] * 3 + [
        "1 error: PyTorch (for a .pt checkpoint; an exported .onnx model needs none) is not installed: "
        "pip install 'islpose[train]'"
    ]
    assert out[4].startswith("1 error: ") and out[4].endswith(
        "best.onnx: not a loadable ONNX model; pass a model written by `islpose export --format onnx`"
    )
    assert not (tmp_path / "demo").exists() and not (tmp_path / "o").exists()


def test_missing_extra_message_only_for_known_modules():
    from islpose._optional import missing_extra_message

    assert (
        missing_extra_message(ModuleNotFoundError("x", name="cv2.aruco"))
        == "OpenCV is not installed: pip install 'islpose[extract]'"
    )
    assert missing_extra_message(ModuleNotFoundError("x", name="islpose.nothing")) is None
    assert missing_extra_message(ImportError("x")) is None


@pytest.mark.parametrize("module", ["cv2", "mediapipe"])
def test_extract_without_its_extra_is_one_line(module, monkeypatch, tmp_path):
    from click.testing import CliRunner

    from islpose.cli.main import cli

    (tmp_path / "a.mp4").write_bytes(b"x")
    monkeypatch.setitem(sys.modules, module, None)  # as if it were not installed
    result = CliRunner().invoke(cli, ["extract", str(tmp_path / "a.mp4"), str(tmp_path / "f.h5")])
    name = {"cv2": "OpenCV", "mediapipe": "MediaPipe"}[module]
    assert result.exit_code == 1
    assert result.output == f"error: {name} is not installed: pip install 'islpose[extract]'\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4"]
