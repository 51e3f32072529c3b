"""`islpose export-pose`: a feature store's landmarks out as pose-format files."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from islpose.cli.main import cli
from islpose.extract.posefile import read_pose
from islpose.io import FeatureStore

pf = pytest.importorskip("pose_format", reason="the pose-format package (pip install 'islpose[dev]') checks the files")


def export(*args: str):
    return CliRunner().invoke(cli, ["export-pose", *args, "-q"])


def test_every_exported_file_reads_in_pose_format_and_back(small_corpus, tmp_path):
    out = tmp_path / "poses"
    result = export(str(small_corpus.store), str(out))
    assert result.exit_code == 0, result.output
    with FeatureStore(small_corpus.store) as store:
        ids = store.ids()
        assert sorted(p.stem for p in out.glob("*.pose")) == ids
        for uid in ids:
            path = out / f"{uid}.pose"
            ref = pf.Pose.read(path.read_bytes())
            assert ref.body.data.shape == (store.num_frames(uid), 1, 543, 3)
            rec = read_pose(path)
            lm, presence = store.read(uid, "landmarks"), store.read(uid, "presence")
            np.testing.assert_array_equal(rec.presence, presence)
            ok = ~np.isnan(lm)
            assert (np.isnan(rec.landmarks) == ~ok).all()
            np.testing.assert_array_max_ulp(rec.landmarks[ok], lm[ok], maxulp=1)
            assert (rec.fps, rec.width, rec.height) == (store.attrs(uid)["fps"], 640, 480)


def test_ids_existing_files_and_overwrite(small_corpus, tmp_path):
    out = tmp_path / "poses"
    with FeatureStore(small_corpus.store) as store:
        a, b = store.ids()[:2]
    assert export(str(small_corpus.store), str(out), "--ids", f"{a},{b}").exit_code == 0
    assert sorted(p.stem for p in out.iterdir()) == sorted([a, b])
    (out / f"{a}.pose").write_bytes(b"mine")
    again = export(str(small_corpus.store), str(out), "--ids", a)
    assert again.exit_code == 1 and "already exist" in again.output and "--overwrite" in again.output
    assert (out / f"{a}.pose").read_bytes() == b"mine"
    assert export(str(small_corpus.store), str(out), "--ids", a, "--overwrite").exit_code == 0
    assert read_pose(out / f"{a}.pose").num_frames > 0
    unknown = export(str(small_corpus.store), str(out), "--ids", "nope")
    assert unknown.exit_code == 1 and "no utterance(s) 'nope'" in unknown.output


@pytest.mark.parametrize("uid", ["../escape", "sub/x", "/tmp/abs", "a\\b"])
def test_ids_that_would_leave_out_dir_are_refused(small_corpus, tmp_path, uid):
    from islpose.errors import IslposeError
    from islpose.extract.export_pose import pose_targets

    with pytest.raises(IslposeError, match="would write outside"):
        pose_targets(tmp_path / "poses", [uid], overwrite=True)
    result = export(str(small_corpus.store), str(tmp_path / "poses"), "--ids", uid)
    assert result.exit_code == 1 and not (tmp_path / "escape.pose").exists()


def test_an_utterance_that_cannot_be_exported_fails_alone(tmp_path):
    lm = np.random.default_rng(0).random((5, 543, 4), dtype=np.float32)
    presence = np.ones((5, 4), bool)
    with FeatureStore(tmp_path / "s.h5", "w") as store:
        store.write("good", {"landmarks": lm, "presence": presence}, {"fps": 25.0, "width": 64, "height": 48})
        store.write("nosize", {"landmarks": lm, "presence": presence}, {"fps": 25.0})
        store.write("nolandmarks", {"presence": presence}, {"fps": 25.0, "width": 64, "height": 48})
    result = export(str(tmp_path / "s.h5"), str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "nosize: no width/height attribute(s)" in result.output
    assert "'nolandmarks' has no 'landmarks'" in result.output
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["good.pose"]


def test_real_recordings_through_a_store_and_out_again_exactly(media_dir, tmp_path):
    paths = sorted((media_dir / "poses").glob("*.pose"))
    assert len(paths) == 2
    with FeatureStore(tmp_path / "real.h5", "w") as store:
        for path in paths:
            rec = read_pose(path)
            store.write(
                path.stem,
                {"landmarks": rec.landmarks, "presence": rec.presence},
                {"fps": rec.fps, "width": rec.width, "height": rec.height},
            )
    assert export(str(tmp_path / "real.h5"), str(tmp_path / "out")).exit_code == 0
    for path in paths:
        first, again = read_pose(path), read_pose(tmp_path / "out" / path.name)
        np.testing.assert_array_equal(again.landmarks, first.landmarks)
        np.testing.assert_array_equal(again.presence, first.presence)


def test_help():
    assert "Example:" in CliRunner().invoke(cli, ["export-pose", "--help"]).output
