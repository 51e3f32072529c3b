"""The examples in the docstrings of the public API run (``python -m pytest`` runs them, on tiny data)."""

from __future__ import annotations

import doctest
import importlib
from importlib.util import find_spec

import pytest

# module -> optional packages its examples need
MODULES = {
    "islpose": (),
    "islpose.vocab": (),
    "islpose.io.store": (),
    "islpose.recognize.segments": (),
    "islpose.train.runs": (),
    "islpose.train.config": (),
    "islpose.extract.export_pose": (),
    "islpose.extract.import_pose": (),
    "islpose.extract.videos": ("cv2", "mediapipe"),
    "islpose.train.loop": (),
    "islpose.decode.run": (),
    "islpose.recognize.recognizer": (),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MODULES))
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    missing = [m for m in MODULES[name] if find_spec(m) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    monkeypatch.chdir(tmp_path)  # nothing an example writes lands in the checkout
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (see the output)"
    assert result.attempted > 0


def test_every_top_level_name_has_a_docstring_with_an_example_that_runs():
    """The public API of ``islpose`` (``help(islpose)``): every entry has an example, and the
    module that holds it is in MODULES (so the example runs above)."""
    import inspect

    import islpose

    for name in islpose.__all__:
        if name.startswith("__") or name == "IslposeError":
            continue
        obj = getattr(islpose, name)
        target = obj.__call__ if inspect.ismodule(obj) else obj
        holder = {
            "extract": "islpose.extract.videos",
            "train": "islpose.train.loop",
            "decode": "islpose.decode.run",
        }.get(name, getattr(obj, "__module__", ""))
        doc = inspect.getdoc(importlib.import_module(holder)) if inspect.ismodule(obj) else inspect.getdoc(target)
        function_doc = {"extract": "extract", "train": "train", "decode": "decode_store"}.get(name)
        if function_doc:
            doc = inspect.getdoc(getattr(importlib.import_module(holder), function_doc))
        assert doc and ">>>" in doc, f"islpose.{name} has no example"
        assert holder in MODULES, f"the example of islpose.{name} ({holder}) does not run in the tests"
