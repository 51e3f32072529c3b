"""A command that fails leaves no new empty or partial file behind, and keeps what was there."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from train_helpers import run


@pytest.fixture(scope="module")
def checkpoint(tiny_checkpoint) -> Path:
    return tiny_checkpoint


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_recognize_on_a_missing_path_writes_no_output(checkpoint, tmp_path):
    out, store = tmp_path / "sub" / "glosses.jsonl", tmp_path / "kept.h5"
    args = [
        "recognize",
        tmp_path / "missing.pose",
        "--checkpoint",
        checkpoint,
        "--out",
        out,
        "--store",
        store,
        "--beam",
        "1",
        "--quiet",
    ]
    result = run(*args)
    assert result.exit_code == 1 and "missing.pose" in result.output
    assert _files(tmp_path) == []  # no empty --out (which a rerun would refuse), no empty store, no folder
    (tmp_path / "missing.pose").write_bytes(b"not a pose file")  # an input that fails when read
    result = run(*args)
    assert result.exit_code == 1 and _files(tmp_path) == ["missing.pose"]


def test_recognize_overwrite_where_every_input_fails_keeps_the_old_output(checkpoint, tmp_path):
    out = tmp_path / "glosses.jsonl"
    out.write_text('{"id": "old"}\n')
    result = run(
        "recognize",
        tmp_path / "missing.pose",
        "--checkpoint",
        checkpoint,
        "--out",
        out,
        "--beam",
        "1",
        "--overwrite",
        "--quiet",
    )
    assert result.exit_code == 1
    assert out.read_text() == '{"id": "old"}\n' and _files(tmp_path) == ["glosses.jsonl"]


def test_recognize_writes_its_output_once_an_input_is_recognised(checkpoint, small_corpus, tmp_path):
    from islpose.extract.posefile import write_pose
    from islpose.io import FeatureStore

    with FeatureStore(small_corpus.store) as store:
        uid = store.ids()[0]
        a = store.attrs(uid)
        pose = write_pose(
            tmp_path / f"{uid}.pose",
            store.read(uid, "landmarks"),
            a["fps"],
            a["width"],
            a["height"],
            store.read(uid, "presence"),
        )
    out = tmp_path / "out" / "glosses.jsonl"
    result = run(
        "recognize", pose, tmp_path / "missing.pose", "--checkpoint", checkpoint, "--out", out, "--beam", "1", "--quiet"
    )
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


@pytest.mark.parametrize(
    "args",
    [
        ["vocab", "build", "{tmp}/missing.jsonl", "{out}/tokens.txt"],
        ["lm", "build", "{manifest}", "{out}/g.arpa", "--order", "0"],
        [
            "decode",
            "--checkpoint",
            "{junk}",
            "--features",
            "{store}",
            "--manifest",
            "{manifest}",
            "--split",
            "test",
            "--out",
            "{out}/h.tsv",
        ],
        [
            "score",
            "{manifest}",
            "{tmp}/hyp.tsv",
            "--split",
            "test",
            "--json",
            "{out}/w.json",
            "--details",
            "{out}/d.txt",
        ],
        [
            "tune",
            "--checkpoint",
            "{junk}",
            "--features",
            "{store}",
            "--manifest",
            "{manifest}",
            "--out",
            "{out}/t.yaml",
        ],
        ["export", "--checkpoint", "{junk}", "--format", "onnx", "--out", "{out}/m.onnx"],
        ["export-pose", "{store}", "{out}/poses", "--ids", "nope"],
        ["featurize", "{store}", "--out", "{out}/f.h5", "--dtype", "float32", "--quiet"],
        ["show", "{store}", "nope", "--out", "{out}/s.png"],
        ["plot", "{tmp}", "--out", "{out}/p.png"],
        ["prepare", "include", "{tmp}/nonexist", "{out}/m.jsonl"],
        [
            "train",
            "--model",
            "bilstm_optimized",
            "--features",
            "{store}",
            "--manifest",
            "{tmp}/missing.jsonl",
            "--out",
            "{out}/run",
        ],
        [
            "distill",
            "--model",
            "bilstm_optimized",
            "--features",
            "{store}",
            "--manifest",
            "{manifest}",
            "--teacher",
            "{tmp}/missing.h5",
            "--out",
            "{out}/kd",
        ],
        ["teacher", "export", "--checkpoint", "{junk}", "--manifest", "{manifest}", "--out", "{out}/te.h5"],
    ],
    ids=lambda args: " ".join(args[:2]),
)
def test_a_failing_command_leaves_no_output(args, small_corpus, tmp_path):
    """Every command that writes a file, failing on a bad input: nothing appears."""
    junk = tmp_path / "junk.pt"
    junk.write_text("not a checkpoint")
    (tmp_path / "hyp.tsv").write_text("nobody\tA\n")
    paths = {
        "tmp": tmp_path,
        "out": tmp_path / "out",
        "junk": junk,
        "store": small_corpus.store,
        "manifest": small_corpus.manifest,
    }
    if args[0] == "featurize":  # a store whose landmarks cannot be featurized
        from islpose.io import FeatureStore

        paths["store"] = tmp_path / "bad.h5"
        with FeatureStore(paths["store"], "w") as store:
            store.write(
                "u", {"landmarks": np.full((4, 543, 4), np.nan, np.float32), "presence": np.zeros((4, 4), bool)}
            )
    result = run(*[a.format(**paths) for a in args])
    assert result.exit_code != 0, result.output
    assert not (tmp_path / "out").exists(), result.output
    assert "Error" not in result.output  # one islpose line, no Python exception name


def test_outputs_in_a_new_folder(media_dir, tmp_path):
    """A store written into a folder that does not exist yet: the folder is made, and
    removed again when the run wrote nothing."""
    pose = media_dir / "poses" / "viewer_example.pose"
    assert run("import-pose", pose, tmp_path / "new" / "sub" / "feats.h5", "--quiet").exit_code == 0
    (tmp_path / "cut.pose").write_bytes(pose.read_bytes()[:1000])
    result = run("import-pose", tmp_path / "cut.pose", tmp_path / "other" / "feats.h5", "--overwrite", "--quiet")
    assert result.exit_code == 1 and "Error" not in result.output
    assert _files(tmp_path) == ["cut.pose", "new", "new/sub", "new/sub/feats.h5"]
