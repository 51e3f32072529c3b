"""`islpose demo --quick`: the README's main job, CI-sized, from another working directory."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from islpose.cli.main import cli
from islpose.errors import IslposeError


def test_quick_demo_runs_the_whole_chain(tmp_path, monkeypatch):
    import torch

    import islpose.train

    monkeypatch.chdir(tmp_path)  # any working directory
    threads, real_train = [], islpose.train.train
    monkeypatch.setattr(
        islpose.train, "train", lambda *a, **k: threads.append(torch.get_num_threads()) or real_train(*a, **k)
    )
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        result = CliRunner().invoke(cli, ["demo", "out", "--quick"])
        assert torch.get_num_threads() == 2  # the caller's setting is back
    finally:
        torch.set_num_threads(before)
    assert result.exit_code == 0, result.output
    assert threads == [1]  # trains on one thread: the same numbers everywhere, no waiting on a busy core
    out = tmp_path / "out"
    for step in ("[1/5]", "[2/5]", "[3/5]", "[4/5]", "[5/5]", "test WER, greedy:", "recognised:", "done in"):
        assert step in result.output
    assert (out / "run" / "best.pt").is_file() and (out / "corpus" / "corpus.jsonl").is_file()
    (record,) = [json.loads(line) for line in (out / "recognize" / "recognized.jsonl").read_text().splitlines()]
    assert (out / "recognize" / f"{record['id']}.eaf").is_file() and (
        out / "recognize" / f"{record['id']}.srt"
    ).is_file()
    assert all(0 <= s["start"] < s["end"] <= record["duration"] for s in record["segments"])
    # The real clip shipped with the package is extracted (MediaPipe is in the dev extra).
    assert "1 clip(s), 58 frames" in result.output and (out / "real" / "features.h5").is_file()


def test_demo_refuses_a_folder_it_did_not_make(tmp_path):
    from islpose.demo import MARKER, prepare_folder

    mine = tmp_path / "notes.txt"
    mine.write_text("keep me")
    result = CliRunner().invoke(cli, ["demo", str(tmp_path), "--quick"])
    assert result.exit_code == 1 and "not made by `islpose demo`" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "old.pt").write_text("x")
    with pytest.raises(IslposeError, match="did not make"):  # the user's own run/: never deleted
        prepare_folder(tmp_path, overwrite=True)
    assert (tmp_path / "run" / "old.pt").read_text() == "x" and not (tmp_path / MARKER).exists()
    (tmp_path / "run" / "old.pt").unlink()
    (tmp_path / "run").rmdir()
    prepare_folder(tmp_path, overwrite=True)  # writes beside the user's files
    assert mine.read_text() == "keep me" and (tmp_path / MARKER).is_file()
    (tmp_path / "run").mkdir()  # the demo's own part from an earlier run
    prepare_folder(tmp_path, overwrite=False)  # a folder the demo made is reused without --overwrite
    assert not (tmp_path / "run").exists()
