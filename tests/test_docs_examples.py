"""The documentation's examples run: every ```python block of ``docs/**/*.md`` is executed (the
blocks of one page in order, in one namespace, in an empty working directory), except blocks
marked ``<!-- docs-test: skip (reason) -->`` on the line before them. The README's Python
example uses only names the API has, and no page or docstring reads as a lab log."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
SKIP = re.compile(r"<!-- docs-test: skip \((.+)\) -->\n$")
# Pages whose examples need a running server's extras and a trained model; they are checked
# for syntax only.
SYNTAX_ONLY = {"serve.md": "needs the serve extra and a trained checkpoint"}
# Pages whose examples train a model (a few seconds).
SLOW = {"getting-started.md"}


def blocks(path: Path) -> list[tuple[str, str | None]]:
    """(code, skip reason or None) of every python block of a Markdown page."""
    text = path.read_text()
    out = []
    for match in BLOCK.finditer(text):
        skip = SKIP.search(text[: match.start()])
        out.append((match.group(1), skip.group(1) if skip else SYNTAX_ONLY.get(path.name)))
    return out


PAGES = sorted(p for p in DOCS.rglob("*.md") if any(reason is None for _, reason in blocks(p)))


def test_the_docs_have_examples_that_run_and_every_skip_says_why():
    assert len(PAGES) >= 5, [p.name for p in PAGES]
    for page in DOCS.rglob("*.md"):
        for code, reason in blocks(page):
            compile(code, str(page), "exec")  # every example is at least valid Python
            assert reason is None or reason.strip(), page


@pytest.mark.parametrize(
    "page",
    [pytest.param(p, id=str(p.relative_to(DOCS)), marks=[pytest.mark.slow] if p.name in SLOW else []) for p in PAGES],
)
def test_docs_page_examples_run(page, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # nothing an example writes lands in the checkout
    namespace: dict = {"__name__": "__docs__"}
    for code, reason in blocks(page):
        if reason is None:
            exec(compile(code, str(page), "exec"), namespace)


def test_the_readme_python_example_names_only_what_the_api_has():
    import islpose

    text = (REPO / "README.md").read_text()
    found = BLOCK.findall(text)
    assert found
    for code in found:
        tree = ast.parse(code)
        used = {
            node.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "islpose"
        }
        assert used and used <= set(dir(islpose)) | set(islpose.__all__), used - set(islpose.__all__)


def test_no_lab_log_in_the_readme_docs_code_or_tests():
    """No issue or item numbers and no session history where users and contributors read."""
    pattern = r"issue [0-9]+|\bitem [0-9]+\b|(earlier|this|last|previous|next) session"
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    result = subprocess.run(
        ["git", "grep", "-niE", pattern, "--", "README.md", "docs", "islpose", "tests"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and not result.stdout, result.stdout
