"""The CLI modules stay thin: options and printing over one library call per command.

Work on files and data (reading or writing them, checking outputs, looping over inputs)
belongs in the library, where the typed API gives it to Python users too. These checks
read the source of ``islpose/cli/*.py``, so they fail when such work comes back.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CLI = Path(__file__).resolve().parents[1] / "islpose" / "cli"
MODULES = sorted(p for p in CLI.glob("*.py") if p.name != "__init__.py")

# Libraries that only the library layer uses: data, tensors, files.
FORBIDDEN_IMPORTS = ("h5py", "numpy", "torch", "onnxruntime", "cv2", "mediapipe", "islpose.io", "shutil", "json")
# A loop in a CLI module may only print, fill a table or apply click options.
PRINTING_CALLS = {"echo", "print", "add_row", "add_column", "secho"}


def _imported(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _printing_only(statement: ast.stmt) -> bool:
    """An echo/print/table call, or ``command = option(command)`` (applying click options)."""
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call):
        func = statement.value.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        return name in PRINTING_CALLS
    if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Call):
        target = statement.targets[0]
        args = statement.value.args
        return (
            isinstance(target, ast.Name)
            and len(args) == 1
            and isinstance(args[0], ast.Name)
            and args[0].id == target.id
        )
    return False


def test_there_are_cli_modules():
    assert len(MODULES) >= 10, MODULES


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_cli_module_imports_no_data_or_file_library(path: Path):
    """Files, arrays and tensors are the library's business; a command only calls it."""
    bad = [
        name
        for name in _imported(ast.parse(path.read_text()))
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN_IMPORTS)
    ]
    assert not bad, f"{path.name} imports {bad}: move that work into the library"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_cli_loops_only_print(path: Path):
    """A loop over inputs (checking outputs, reading files, collecting results) is library work."""
    tree = ast.parse(path.read_text())
    bad = [
        f"{path.name}:{node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, (ast.For, ast.While, ast.AsyncFor))
        and not (isinstance(node, ast.For) and all(_printing_only(s) for s in node.body) and not node.orelse)
    ]
    assert not bad, f"loops that do more than print: {bad}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_cli_module_opens_no_file(path: Path):
    """No ``open``, ``mkdir``, ``write_text`` or ``unlink`` in a command: outputs are written by the library."""
    tree = ast.parse(path.read_text())
    names = {"open", "mkdir", "write_text", "write_bytes", "unlink", "rename", "rmtree"}
    bad = [
        f"{path.name}:{node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (getattr(node.func, "id", None) in names or getattr(node.func, "attr", None) in names)
    ]
    assert not bad, f"file operations in the CLI: {bad}"
