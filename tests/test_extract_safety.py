"""`islpose extract` / `featurize`: nothing a user has is lost (--overwrite
builds beside, a killed or failed run keeps the old store, outputs are not replaced
unless asked), one bad item is one failure, a missing dependency is one line, and a
rerun does not re-read unchanged videos. MediaPipe is replaced by `fake_load`."""

from __future__ import annotations

import signal
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from test_extract import check_store, fake_arrays, fake_load, fake_videos, run_child  # noqa: F401

import islpose.extract.videos as E
from islpose.cli.main import cli
from islpose.errors import IslposeError, StoreError
from islpose.extract import runner, video
from islpose.features.layout import Landmarks
from islpose.io import FeatureStore

ALL = [f"v{i}" for i in range(5)]


def extracted(fake_videos, tmp_path):
    out = tmp_path / "f.h5"
    assert E.extract([fake_videos], out, E.ExtractConfig(workers=1)).done
    return out


def litter(tmp_path):
    """Files a run left beside the store (temporary stores, journals)."""
    return sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".") or p.name.endswith("-journal"))


# ----------------------------------------------------------------- --overwrite keeps the old store until done
@pytest.mark.parametrize("n", [1, 3])
def test_killed_overwrite_leaves_the_old_store_intact(fake_videos, tmp_path, n):
    out = extracted(fake_videos, tmp_path)
    before = out.read_bytes()
    killed = run_child(tmp_path, fake_videos, out, "fake", "commit", n, "overwrite")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert out.read_bytes() == before
    check_store(out, ALL)
    rerun = run_child(tmp_path, fake_videos, out, "fake", "none", 0, "overwrite")
    assert rerun.returncode == 0 and "summary 5 0 0" in rerun.stdout, rerun.stderr
    check_store(out, ALL)


def test_failed_overwrite_leaves_the_old_store_intact_and_no_temporary_file(fake_videos, tmp_path):
    out = extracted(fake_videos, tmp_path)
    before = out.read_bytes()

    class Interrupt(runner.NoProgress):
        def video(self, uid, status, frames, error):
            if status == "done":
                raise KeyboardInterrupt  # Ctrl-C after the first video of the new store

    with pytest.raises(KeyboardInterrupt):
        E.extract([fake_videos], out, E.ExtractConfig(workers=1, overwrite=True), Interrupt())
    assert out.read_bytes() == before and litter(tmp_path) == []


def test_overwrite_where_every_video_fails_keeps_the_old_store(fake_videos, tmp_path, monkeypatch):
    out = extracted(fake_videos, tmp_path)
    before = out.read_bytes()

    def broken(path, options, on_frames=None):
        raise video.VideoError(f"{path}: cannot be opened as a video")

    monkeypatch.setattr(video, "load_video", broken)
    summary = E.extract([fake_videos], out, E.ExtractConfig(workers=1, overwrite=True))
    assert len(summary.failed) == 5 and "old store was kept" in summary.notes[0]
    assert out.read_bytes() == before and litter(tmp_path) == []


def test_overwrite_replaces_the_store_when_done(fake_videos, tmp_path):
    out = extracted(fake_videos, tmp_path)
    summary = E.extract([fake_videos / "v0.mp4"], out, E.ExtractConfig(workers=1, overwrite=True))
    assert summary.done == ["v0"] and not summary.notes
    check_store(out, ["v0"])
    assert litter(tmp_path) == []


def test_overwrite_never_replaces_a_file_that_is_not_a_store(fake_videos, tmp_path):
    for content in (b"not hdf5\n", None):
        other = tmp_path / "other.h5"
        if content is None:  # an HDF5 file of some other program
            import h5py

            other.unlink()
            with h5py.File(other, "w") as f:
                f["x"] = np.arange(3)
        else:
            other.write_bytes(content)
        before = other.read_bytes()
        with pytest.raises(StoreError, match="not an (HDF5 file|islpose feature store)"):
            E.extract([fake_videos], other, E.ExtractConfig(workers=1, overwrite=True))
        assert other.read_bytes() == before


# ----------------------------------------------------------------- a result that cannot be stored
def test_a_result_that_cannot_be_stored_fails_alone(fake_videos, tmp_path, monkeypatch):
    (fake_videos / "nan.mp4").write_bytes(b"x" * 64)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        "".join(
            f'{{"id": "{uid}", "video": "{fake_videos / name}"}}\n'
            for uid, name in [("v0", "v0.mp4"), ("..", "v2.mp4"), ("nan", "nan.mp4"), ("v4", "v4.mp4")]
        )
    )
    real = runner.compute_features

    def nan_for_the_nan_video(lm, pr, width, height, dtype):
        feats = real(lm, pr, width, height, dtype)
        if width == 641:
            feats["pose"][0, 0] = np.nan
        return feats

    def load(path, options, on_frames=None):
        got = fake_load(path, options, on_frames)
        return Landmarks(got.landmarks, got.presence, 25.0, 641 if path.stem == "nan" else 640, 480)

    monkeypatch.setattr(runner, "compute_features", nan_for_the_nan_video)
    monkeypatch.setattr(video, "load_video", load)
    out = tmp_path / "f.h5"
    summary = E.extract([manifest], out, E.ExtractConfig(workers=1))
    assert sorted(summary.done) == ["v0", "v4"]
    reasons = dict(summary.failed)
    assert "cannot be stored" in reasons[".."] and "invalid utterance id" in reasons[".."]
    assert "cannot be stored" in reasons["nan"] and "NaN" in reasons["nan"]
    with FeatureStore(out) as store:
        assert store.ids() == ["v0", "v4"]


# ----------------------------------------------------------------- missing OpenCV / MediaPipe
@pytest.mark.parametrize("module, name", [("mediapipe", "MediaPipe"), ("cv2", "OpenCV")])
def test_missing_extraction_dependency_is_one_line_up_front(fake_videos, tmp_path, monkeypatch, module, name):
    monkeypatch.setitem(sys.modules, module, None)  # as if it were not installed
    with pytest.raises(IslposeError, match=rf"^{name} is not installed: pip install 'islpose\[extract\]'$"):
        E.extract([fake_videos], tmp_path / "f.h5", E.ExtractConfig(workers=1))
    result = CliRunner().invoke(cli, ["extract", str(fake_videos), str(tmp_path / "f.h5"), "-q", "-j", "1"])
    assert result.exit_code == 1
    assert result.output == f"error: {name} is not installed: pip install 'islpose[extract]'\n"
    assert not (tmp_path / "f.h5").exists()


# ----------------------------------------------------------------- reruns check size and time first
def test_rerun_hashes_only_files_whose_time_changed(fake_videos, tmp_path, monkeypatch):
    import os

    out = extracted(fake_videos, tmp_path)
    hashed = []
    real = runner.file_sha256
    monkeypatch.setattr(runner, "file_sha256", lambda path: hashed.append(path.name) or real(path))
    again = E.extract([fake_videos], out, E.ExtractConfig(workers=1))
    assert len(again.skipped) == 5 and hashed == []  # no video was read
    touched = fake_videos / "v0.mp4"
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
    again = E.extract([fake_videos], out, E.ExtractConfig(workers=1))
    assert len(again.skipped) == 5 and hashed == ["v0.mp4"]  # same content: hashed, still skipped
    E.extract([fake_videos], out, E.ExtractConfig(workers=1))
    assert hashed == ["v0.mp4"]  # its new time was stored: not read again
    hashed.clear()
    again = E.extract([fake_videos], out, E.ExtractConfig(workers=1, verify=True))
    assert len(again.skipped) == 5 and len(hashed) == 5  # --verify hashes every file
    result = CliRunner().invoke(cli, ["extract", str(fake_videos), str(out), "-q", "--verify"])
    assert result.exit_code == 0, result.output


# ----------------------------------------------------------------- featurize --out
def test_featurize_out_refuses_an_existing_file_unless_overwrite(fake_videos, tmp_path):
    store = extracted(fake_videos, tmp_path)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"id": "a"}\n')
    runner_ = CliRunner()
    result = runner_.invoke(cli, ["featurize", str(store), "--out", str(manifest), "-q"])
    assert result.exit_code == 1 and "already exists; pass --overwrite" in result.output
    result = runner_.invoke(cli, ["featurize", str(store), "--out", str(manifest), "-q", "--overwrite"])
    assert result.exit_code == 1 and "not an HDF5 file" in result.output
    assert manifest.read_text() == '{"id": "a"}\n'
    other = tmp_path / "g.h5"
    assert runner_.invoke(cli, ["featurize", str(store), "--out", str(other), "-q"]).exit_code == 0
    result = runner_.invoke(
        cli, ["featurize", str(store), "--out", str(other), "-q", "--dtype", "float32", "--overwrite"]
    )
    assert result.exit_code == 0, result.output
    with FeatureStore(other) as g:
        assert g.metadata["extractor"]["multimodal_dtype"] == "float32" and len(g) == 5
    assert litter(tmp_path) == []


def test_featurize_in_place_with_a_failure_changes_nothing(fake_videos, tmp_path):
    store = extracted(fake_videos, tmp_path)
    with FeatureStore(store, "a") as s:  # one utterance without its image size
        attrs = s.attrs("v1")
        del attrs["width"]
        s.write("v1", {n: s.read("v1", n) for n in s.datasets("v1")}, attrs, overwrite=True)
    before = store.read_bytes()
    summary = E.featurize(store, dtype="float32")
    assert [uid for uid, _ in summary.failed] == ["v1"] and "left as it was" in summary.notes[0]
    assert store.read_bytes() == before and litter(tmp_path) == []
