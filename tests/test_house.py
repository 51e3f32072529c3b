"""House rules checked on the source: no import cycles, one atomic write, the declared Python."""
from __future__ import annotations

import ast
import configparser
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "islpose"


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """islpose modules that ``path`` imports anywhere (functions included; ``TYPE_CHECKING`` blocks not):
    ``from pkg import name`` counts as importing ``pkg.name`` when that is a module, else ``pkg``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test)
                   for n in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("islpose"):
            found |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                      for a in node.names}
    return found & set(modules)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles_among_islpose_modules():
    """Lazy imports inside functions count too: a cycle through them is still two modules that need
    each other (a registry importing its architectures and back, a config importing models and back)."""
    modules = _modules()
    graph = {name: _imports(path, modules) - {name} for name, path in modules.items()}
    assert _cycles(graph) == []


def test_the_cycle_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_only_io_atomic_renames_temporary_files():
    pattern = re.compile(r"os\.replace\(|os\.rename\(|\.rename\(|\.replace\(\s*(path|target|out)\b|[\"']\.tmp[\"']")
    offenders = [f"{path.relative_to(REPO)}:{n}" for path in PACKAGE.rglob("*.py") if path.name != "atomic.py"
                 for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert offenders == []


def test_the_code_parses_with_the_declared_oldest_python():
    """setup.cfg's python_requires: no module uses grammar newer than the minimum it declares
    (e.g. ``except*`` of 3.11). That minimum was checked by running the tests on it (README)."""
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    declared = config["options"]["python_requires"]
    match = re.fullmatch(r">=\s*3\.(\d+)", declared.strip())
    assert match, declared
    for path in PACKAGE.rglob("*.py"):
        ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=(3, int(match.group(1))))


def test_help_imports_no_heavy_dependency():
    import subprocess

    code = ("import sys\nfrom click.testing import CliRunner\nfrom islpose.cli.main import cli\n"
            "assert CliRunner().invoke(cli, ['--help']).exit_code == 0\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'h5py', 'cv2', 'mediapipe'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "[]"
