"""House rules checked on the source: one atomic write, the declared Python, a light ``--help``
(import cycles: test_imports.py)."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "islpose"


def test_only_io_atomic_renames_temporary_files():
    pattern = re.compile(
        r"os\.replace\(|os\.rename\(|\.rename\(|(?<!dataclasses)\.replace\(\s*(path|target|out)\b|[\"']\.tmp[\"']"
    )
    offenders = [
        f"{path.relative_to(REPO)}:{n}"
        for path in PACKAGE.rglob("*.py")
        if path.name != "atomic.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []


def test_the_code_parses_with_the_declared_oldest_python():
    """pyproject.toml's requires-python: no module uses grammar newer than the minimum it declares
    (e.g. ``except*`` of 3.11). That minimum was checked by running the tests on it (README)."""
    import tomllib

    declared = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["requires-python"]
    match = re.fullmatch(r">=\s*3\.(\d+)", declared.strip())
    assert match, declared
    for path in PACKAGE.rglob("*.py"):
        ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=(3, int(match.group(1))))


def test_help_imports_no_heavy_dependency():
    import subprocess

    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom islpose.cli.main import cli\n"
        "assert CliRunner().invoke(cli, ['--help']).exit_code == 0\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'h5py', 'cv2', 'mediapipe'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "[]"


def test_import_islpose_imports_no_heavy_dependency():
    """``import islpose`` stays light; the API names load on first use, and ``help(islpose)``
    lists them."""
    import subprocess

    code = (
        "import sys, pydoc\nimport islpose\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'h5py', 'cv2', 'mediapipe', 'numpy'}))\n"
        "text = pydoc.render_doc(islpose)\n"
        "assert 'Recognizer' in text and 'import_poses' in text and 'Layers' in text\n"
        "assert callable(islpose.extract) and callable(islpose.train) and callable(islpose.decode)\n"
        "from islpose import FeatureStore, Recognition, Recognizer, Segment, Vocabulary, import_poses\n"
        "assert islpose.FeatureStore is FeatureStore and 'h5py' in sys.modules"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
