"""`islpose import-pose`: .pose recordings into a feature store, on the same run as
`extract` (resume, per-file errors, kill and rerun)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from islpose.cli.main import cli
from islpose.errors import IslposeError, StoreError
from islpose.extract.import_pose import import_poses
from islpose.extract.posefile import read_pose, write_pose
from islpose.extract.runner import ImportConfig
from islpose.features import compute_features
from islpose.io import FeatureStore

REPO = Path(__file__).resolve().parents[1]


def recording(seed: int, frames: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks (T, 543, 4) of one fake signer: body and face always there, hands not always."""
    rng = np.random.default_rng(seed)
    T = frames or int(rng.integers(6, 20))
    lm = rng.random((T, 543, 4), dtype=np.float32) * 0.5 + 0.25
    lm[:, 33:, 3] = 1.0
    presence = np.ones((T, 4), bool)
    presence[:, 1] = rng.random(T) > 0.3
    lm[~presence[:, 1], 33:54] = np.nan
    return lm, presence


@pytest.fixture
def poses(tmp_path) -> Path:
    """Five .pose files (two in a subfolder) written by islpose."""
    folder = tmp_path / "poses"
    (folder / "sub").mkdir(parents=True)
    for i in range(5):
        lm, presence = recording(i)
        write_pose(folder / ("sub" if i % 2 else "") / f"p{i}.pose", lm, 25.0, 640, 480, presence)
    return folder


def run_cli(*args: str):
    return CliRunner().invoke(cli, ["import-pose", *args, "-q", "-j", "1"])


def test_folder_import_writes_the_store_extract_writes(poses, tmp_path):
    out = tmp_path / "f.h5"
    result = run_cli(str(poses), str(out))
    assert result.exit_code == 0, result.output
    with FeatureStore(out) as store:
        assert store.ids() == [f"p{i}" for i in range(5)]
        for i, uid in enumerate(store.ids()):
            lm, presence = recording(i)
            got = store.read(uid, "landmarks")
            np.testing.assert_array_equal(store.read(uid, "presence"), presence)
            np.testing.assert_array_max_ulp(np.nan_to_num(got), np.nan_to_num(lm), maxulp=1)
            feats = compute_features(got, presence, 640, 480, np.float16)
            np.testing.assert_array_equal(store.read(uid, "pose"), feats["pose"])
            np.testing.assert_array_equal(store.read(uid, "multimodal"), feats["multimodal"])
            attrs = store.attrs(uid)
            assert (attrs["fps"], attrs["width"], attrs["height"], attrs["num_frames"]) == (25.0, 640, 480, len(lm))
            assert attrs["source_format"] == "pose-format 0.2" and attrs["source_people"] == 1
            assert Path(attrs["source"]).name == f"{uid}.pose" and len(attrs["source_sha256"]) == 64
        assert "pose-format" in store.metadata["extractor"]["importer"]


def test_manifest_pose_field_gives_ids_and_relative_paths(poses, tmp_path):
    manifest = tmp_path / "m.jsonl"
    rows = [
        {"id": "first", "pose": "poses/p0.pose", "glosses": "A B", "split": "train"},
        {"id": "third", "pose": str(poses / "p2.pose"), "glosses": "C", "split": "dev"},
    ]
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert CliRunner().invoke(cli, ["validate", str(manifest), "--require", "pose"]).exit_code == 0
    out = tmp_path / "m.h5"
    assert run_cli(str(manifest), str(out)).exit_code == 0
    with FeatureStore(out) as store:
        assert store.ids() == ["first", "third"]
    (poses / "p2.pose").unlink()
    missing = CliRunner().invoke(cli, ["validate", str(manifest)])
    assert missing.exit_code == 1 and "pose not found" in missing.output


def test_real_recordings_import_and_come_back_out_exactly(media_dir, tmp_path):
    real = sorted((media_dir / "poses").glob("*.pose"))
    assert len(real) == 2
    out = tmp_path / "real.h5"
    assert run_cli(*map(str, real), str(out)).exit_code == 0
    assert CliRunner().invoke(cli, ["export-pose", str(out), str(tmp_path / "again"), "-q"]).exit_code == 0
    assert run_cli(str(tmp_path / "again"), str(tmp_path / "again.h5")).exit_code == 0
    with FeatureStore(out) as first, FeatureStore(tmp_path / "again.h5") as second:
        for path in real:
            rec = read_pose(path)
            np.testing.assert_array_equal(first.read(path.stem, "landmarks"), rec.landmarks)
            for name in ("landmarks", "presence", "pose", "multimodal"):
                np.testing.assert_array_equal(second.read(path.stem, name), first.read(path.stem, name))
            assert second.attrs(path.stem)["fps"] == rec.fps


def test_bad_files_fail_alone_and_the_run_goes_on(poses, tmp_path):
    (poses / "broken.pose").write_bytes(b"\x00" * 10)
    lm, presence = recording(9)
    presence[:, 3] = False  # no face in any frame: nobody to import
    write_pose(poses / "faceless.pose", lm, 25.0, 640, 480, presence)
    out = tmp_path / "f.h5"
    result = run_cli(str(poses), str(out))
    assert result.exit_code == 1
    assert "2 failed" in result.output
    assert "broken.pose: not a .pose file" in result.output
    assert "faceless.pose: nobody detected" in result.output
    with FeatureStore(out) as store:
        assert len(store) == 5


def test_rerun_skips_unchanged_files_and_redoes_changed_ones(poses, tmp_path):
    out = tmp_path / "f.h5"
    first = import_poses([poses], out, ImportConfig(workers=1))
    assert len(first.done) == 5
    lm, presence = recording(42, frames=7)
    write_pose(poses / "sub" / "p3.pose", lm, 30.0, 640, 480, presence)
    again = import_poses([poses], out, ImportConfig(workers=1))
    assert again.done == ["p3"] and sorted(again.skipped) == ["p0", "p1", "p2", "p4"]
    with FeatureStore(out) as store:
        assert store.num_frames("p3") == 7 and store.attrs("p3")["fps"] == 30.0


def test_cli_overwrite_and_verify(poses, tmp_path):
    out = tmp_path / "f.h5"
    assert run_cli(str(poses), str(out)).exit_code == 0
    with FeatureStore(out, "a") as store:
        store.write("stale", {"landmarks": recording(7)[0], "presence": recording(7)[1]})
    verified = run_cli(str(poses), str(out), "--verify")
    assert verified.exit_code == 0 and re.search(r"│\s*0\s*│\s*5\s*│\s*0\s*│", verified.output)  # done, skipped, failed
    rebuilt = run_cli(str(poses), str(out), "--overwrite")
    assert rebuilt.exit_code == 0
    with FeatureStore(out) as store:
        assert store.ids() == [f"p{i}" for i in range(5)]  # the old store's extra utterance is gone


def test_two_workers_give_the_same_store_as_one(poses, tmp_path):
    import_poses([poses], tmp_path / "one.h5", ImportConfig(workers=1))
    import_poses([poses], tmp_path / "two.h5", ImportConfig(workers=2))
    with FeatureStore(tmp_path / "one.h5") as one, FeatureStore(tmp_path / "two.h5") as two:
        assert one.ids() == two.ids()
        for uid in one.ids():
            np.testing.assert_array_equal(one.read(uid, "multimodal"), two.read(uid, "multimodal"))


def test_files_with_several_people_are_named(tmp_path):
    pf = pytest.importorskip("pose_format", reason="pose-format writes the two-person file")
    lm, presence = recording(1)
    single = write_pose(tmp_path / "one.pose", lm, 25.0, 640, 480, presence)
    pose = pf.Pose.read(single.read_bytes())
    body = pose.body
    two = pf.numpy.NumPyPoseBody(
        body.fps, np.concatenate([body.data.data] * 2, axis=1), np.concatenate([body.confidence] * 2, axis=1)
    )
    with open(tmp_path / "two.pose", "wb") as handle:
        pf.Pose(pose.header, two).write(handle)
    single.unlink()
    result = CliRunner().invoke(cli, ["import-pose", str(tmp_path / "two.pose"), str(tmp_path / "t.h5"), "-q"])
    assert result.exit_code == 0, result.output
    assert "1 file(s) hold more than one person; only the first person was imported (two)" in result.output


def test_store_of_another_kind_and_bad_outputs_are_refused(poses, tmp_path):
    other = tmp_path / "videos.h5"
    lm, presence = recording(0)
    with FeatureStore(other, "w", metadata={"mediapipe_version": "0.10.21", "extractor": {"holistic": {}}}) as store:
        store.write("v", {"landmarks": lm, "presence": presence})
    with pytest.raises(
        StoreError,
        match=r"videos.h5: made by `islpose extract`, which `islpose import-pose` cannot "
        r"add to; write to another store \(or pass --overwrite to replace this one\)$",
    ):
        import_poses([poses], other)
    with pytest.raises(IslposeError, match="should end in .h5"):
        import_poses([poses], tmp_path / "out.pose")
    with pytest.raises(IslposeError, match="no pose files in this folder"):
        (tmp_path / "empty").mkdir()
        import_poses([tmp_path / "empty"], tmp_path / "e.h5")


# ----------------------------------------------------------------- kill and resume
CHILD = textwrap.dedent("""
    import os, signal, sys
    import islpose.io.journal as J
    from islpose.extract.runner import ImportConfig
    from islpose.extract.import_pose import import_poses
    inputs, out, point, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    calls = {"n": 0}
    def hook(obj, name):
        original = getattr(obj, name)
        def wrapped(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == n:
                os.kill(os.getpid(), signal.SIGKILL)
            return original(*args, **kwargs)
        setattr(obj, name, wrapped)
    if point == "write":      # the n-th low-level write of HDF5 (inside flushes)
        hook(J.JournaledFile, "write")
    elif point == "commit":   # just before the n-th utterance is moved out of /staging
        import h5py
        hook(h5py.Group, "move")
    s = import_poses([inputs], out, ImportConfig(workers=1))
    print("summary", len(s.done), len(s.skipped), len(s.failed))
""")


def run_child(tmp_path, inputs, out, point="none", n=0):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, str(script), str(inputs), str(out), point, str(n)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        env=env,
    )


@pytest.mark.parametrize("point, n", [("write", 1), ("write", 9), ("write", 40), ("commit", 1), ("commit", 4)])
def test_sigkill_leaves_only_complete_utterances_and_rerun_finishes(poses, tmp_path, point, n):
    out = tmp_path / "f.h5"
    killed = run_child(tmp_path, poses, out, point, n)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    survivors = []
    if out.exists() and out.stat().st_size:
        with FeatureStore(out) as store:
            survivors = store.ids()
            for uid in survivors:
                assert store.shape(uid, "multimodal")[0] == store.num_frames(uid)
    assert len(survivors) < 5
    rerun = run_child(tmp_path, poses, out)
    assert rerun.returncode == 0, rerun.stderr
    assert f"summary {5 - len(survivors)} {len(survivors)} 0" in rerun.stdout
    with FeatureStore(out) as store:
        assert store.ids() == [f"p{i}" for i in range(5)]
        for i in range(5):
            np.testing.assert_array_equal(store.read(f"p{i}", "presence"), recording(i)[1])
    assert not (tmp_path / "f.h5-journal").exists()


def test_help():
    assert "Example:" in CliRunner().invoke(cli, ["import-pose", "--help"]).output
