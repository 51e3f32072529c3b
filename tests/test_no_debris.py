"""A command that fails leaves no new empty or partial file behind, and keeps what was there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from train_helpers import run


@pytest.fixture(scope="module")
def checkpoint(tiny_checkpoint) -> Path:
    return tiny_checkpoint


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_recognize_on_a_missing_path_writes_no_output(checkpoint, tmp_path):
    out, store = tmp_path / "sub" / "glosses.jsonl", tmp_path / "kept.h5"
    args = ["recognize", tmp_path / "missing.pose", "--checkpoint", checkpoint, "--out", out, "--store", store,
            "--beam", "1", "--quiet"]
    result = run(*args)
    assert result.exit_code == 1 and "missing.pose" in result.output
    assert _files(tmp_path) == []  # no empty --out (which a rerun would refuse), no empty store, no folder
    (tmp_path / "missing.pose").write_bytes(b"not a pose file")  # an input that fails when read
    result = run(*args)
    assert result.exit_code == 1 and _files(tmp_path) == ["missing.pose"]


def test_recognize_overwrite_where_every_input_fails_keeps_the_old_output(checkpoint, tmp_path):
    out = tmp_path / "glosses.jsonl"
    out.write_text('{"id": "old"}\n')
    result = run("recognize", tmp_path / "missing.pose", "--checkpoint", checkpoint, "--out", out, "--beam", "1",
                 "--overwrite", "--quiet")
    assert result.exit_code == 1
    assert out.read_text() == '{"id": "old"}\n' and _files(tmp_path) == ["glosses.jsonl"]


def test_recognize_writes_its_output_once_an_input_is_recognised(checkpoint, small_corpus, tmp_path):
    from islpose.io import FeatureStore
    from islpose.io.pose import write_pose

    with FeatureStore(small_corpus.store) as store:
        uid = store.ids()[0]
        a = store.attrs(uid)
        pose = write_pose(tmp_path / f"{uid}.pose", store.read(uid, "landmarks"), a["fps"], a["width"],
                          a["height"], store.read(uid, "presence"))
    out = tmp_path / "out" / "glosses.jsonl"
    result = run("recognize", pose, tmp_path / "missing.pose", "--checkpoint", checkpoint, "--out", out,
                 "--beam", "1", "--quiet")
    assert result.exit_code == 1  # one input failed; the other's record is there
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == [uid]


def test_extract_where_every_video_fails_leaves_no_store(tmp_path):
    pytest.importorskip("mediapipe")
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "a.mp4").write_bytes(b"not a video")
    (tmp_path / "videos" / "b.mp4").write_bytes(b"not a video either")
    result = run("extract", tmp_path / "videos", tmp_path / "feats.h5", "--workers", "1", "--quiet")
    assert result.exit_code == 1
    assert _files(tmp_path) == ["videos", "videos/a.mp4", "videos/b.mp4"]


def test_import_pose_of_a_truncated_file_leaves_no_store(media_dir, tmp_path):
    data = (media_dir / "poses" / "viewer_example.pose").read_bytes()
    (tmp_path / "cut.pose").write_bytes(data[: len(data) // 2])
    result = run("import-pose", tmp_path / "cut.pose", tmp_path / "feats.h5", "--workers", "1", "--quiet")
    assert result.exit_code == 1 and "cut.pose" in result.output
    assert _files(tmp_path) == ["cut.pose"]


def test_import_pose_into_an_existing_store_keeps_it_when_every_file_fails(media_dir, tmp_path):
    from islpose.io import FeatureStore

    out = tmp_path / "feats.h5"
    assert run("import-pose", media_dir / "poses" / "viewer_example.pose", out, "--quiet").exit_code == 0
    (tmp_path / "cut.pose").write_bytes(b"\x00" * 10)
    result = run("import-pose", tmp_path / "cut.pose", out, "--quiet")
    assert result.exit_code == 1
    with FeatureStore(out) as store:
        assert store.ids() == ["viewer_example"]
