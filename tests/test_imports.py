"""The package's import graph follows the layer order of ``islpose/__init__.py``: no import
cycles between modules, and between first-level subpackages no two-way imports, no cycles,
no import of a higher layer, and no import of ``train`` by ``recognize`` or ``export``.
Imports inside functions count too (a lazy import still ties two modules together); only
imports under ``if TYPE_CHECKING:`` are left out."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import islpose

PACKAGE = Path(__file__).resolve().parents[1] / "islpose"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The islpose modules ``path`` imports (``from pkg import name`` counts ``pkg.name``
    when that is a module, else ``pkg``)."""
    tree = ast.parse(path.read_text())
    skip = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for stmt in node.body
        for n in ast.walk(stmt)
    }
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names}
    return {m for m in found if m in modules and m != me}


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: imports_of(path, set(files)) for name, path in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    assert cycles(import_graph()) == []


# ---------------------------------------------------------------------------- layers


def layer_order(doc: str) -> list[set[str]]:
    """The layers written in the ``Layers`` section of the package docstring, lowest first:
    one line per layer, ``N. name, name  (comment)``."""
    section = doc.split("Layers", 1)[1]
    layers = []
    for line in section.splitlines():
        match = re.match(r"\s*(\d+)\.\s+([\w, ]+?)(?:\s{2,}|\s*\(|$)", line)
        if match:
            layers.append({name.strip() for name in match.group(2).split(",")})
    return layers


def unit(module: str) -> str:
    """The first-level part of islpose a module belongs to (``islpose.io.store`` -> ``io``;
    ``islpose`` itself -> ``islpose``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "islpose"


def unit_graph(graph: dict[str, set[str]]) -> dict[str, dict[str, list[str]]]:
    """unit -> unit it imports -> the module imports behind that edge."""
    out: dict[str, dict[str, list[str]]] = {}
    for module, imported in graph.items():
        for other in imported:
            a, b = unit(module), unit(other)
            out.setdefault(a, {})
            out.setdefault(b, {})
            if a != b:
                out[a].setdefault(b, []).append(f"{module} -> {other}")
    return out


FORBIDDEN = {("recognize", "train"), ("export", "train")}  # inference never imports training


def layer_violations(edges: dict[str, dict[str, list[str]]], layers: list[set[str]]) -> list[str]:
    """Every break of the layer rules in ``edges`` (unit -> imported unit -> module imports):
    a unit missing from the order, a two-way import, an import of a higher layer, a
    forbidden import, and a cycle between units."""
    rank = {name: i for i, names in enumerate(layers) for name in names}
    problems = [
        f"{u} is in no layer (add it to the Layers section of islpose/__init__.py)"
        for u in sorted(edges)
        if u not in rank
    ]
    for a in sorted(edges):
        for b, why in sorted(edges[a].items()):
            if a in edges.get(b, {}) and a < b:
                problems.append(f"two-way import {a} <-> {b}: {why[0]}; {edges[b][a][0]}")
            if a in rank and b in rank and rank[b] > rank[a]:
                problems.append(f"{a} (layer {rank[a]}) imports the higher {b} (layer {rank[b]}): {why[0]}")
            if (a, b) in FORBIDDEN:
                problems.append(f"{a} must not import {b}: {why[0]}")
    problems += [f"import cycle between {', '.join(c)}" for c in cycles({a: set(e) for a, e in edges.items()})]
    return problems


def test_the_layer_checker_finds_every_kind_of_break():
    layers = [{"io"}, {"features"}, {"train"}, {"recognize"}]
    ok = {
        "io": {},
        "features": {"io": ["f -> i"]},
        "train": {"features": ["t -> f"]},
        "recognize": {"features": ["r -> f"]},
    }
    assert layer_violations(ok, layers) == []
    bad = {
        "io": {"features": ["i -> f"]},
        "features": {"io": ["f -> i"]},
        "train": {},
        "recognize": {"train": ["r -> t"]},
        "new": {},
    }
    problems = layer_violations(bad, layers)
    assert any(p.startswith("new is in no layer") for p in problems)
    assert any(p.startswith("two-way import features <-> io") for p in problems)
    assert any(p.startswith("io (layer 0) imports the higher features") for p in problems)
    assert any(p.startswith("recognize must not import train") for p in problems)
    assert any(p.startswith("import cycle between features, io") for p in problems)


def test_the_layer_order_parses_from_the_package_docstring():
    layers = layer_order(islpose.__doc__)
    assert {"io", "assets"} in layers and any("cli" in names for names in layers)
    names = [name for names in layers for name in names]
    assert len(names) == len(set(names))


def test_subpackages_import_only_downward():
    assert layer_violations(unit_graph(import_graph()), layer_order(islpose.__doc__)) == []
