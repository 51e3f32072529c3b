import os
import signal
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from islpose.errors import StoreError
from islpose.io import FORMAT, FORMAT_VERSION, FeatureStore


def _arrays(T=10, seed=0):
    rng = np.random.default_rng(seed)
    lm = rng.random((T, 543, 4), dtype=np.float32)
    lm[2, 33:54] = np.nan
    presence = np.ones((T, 4), bool)
    presence[2, 1] = False
    return {
        "landmarks": lm,
        "presence": presence,
        "pose": rng.random((T, 66), dtype=np.float32),
        "multimodal": rng.random((T, 6516), dtype=np.float32).astype(np.float16),
    }


def test_write_read_roundtrip(tmp_path):
    path = tmp_path / "f.h5"
    arrays = _arrays()
    with FeatureStore(path, "w", metadata={"mediapipe_version": "0.10.21", "extractor": {"complexity": 1}}) as s:
        s.write("utt1", arrays, {"fps": 25.0, "width": 640, "height": 480, "source": "/x.mp4"})
    with FeatureStore(path) as s:
        assert s.ids() == ["utt1"] and "utt1" in s and len(s) == 1
        for name, arr in arrays.items():
            np.testing.assert_array_equal(s.read("utt1", name), arr)
            assert s.read("utt1", name).dtype == arr.dtype
        attrs = s.attrs("utt1")
        assert attrs["num_frames"] == 10 and attrs["fps"] == 25.0 and attrs["source"] == "/x.mp4"
        meta = s.metadata
        assert meta["format"] == FORMAT and meta["format_version"] == FORMAT_VERSION
        assert meta["mediapipe_version"] == "0.10.21" and meta["extractor"] == {"complexity": 1}
        assert s.shape("utt1", "multimodal") == (10, 6516)


def test_layout_on_disk(tmp_path):
    path = tmp_path / "f.h5"
    with FeatureStore(path, "w") as s:
        s.write("u", _arrays())
    with h5py.File(path) as f:
        assert set(f["utterances/u"]) == {"landmarks", "presence", "pose", "multimodal"}
        assert f["utterances/u/landmarks"].compression == "lzf"
        assert f["utterances/u/pose"].chunks is None  # contiguous: fast whole reads
        assert "staging" not in f or len(f["staging"]) == 0


def test_errors(tmp_path):
    path = tmp_path / "f.h5"
    with FeatureStore(path, "w") as s:
        s.write("u", {"pose": np.zeros((4, 66))})
        with pytest.raises(StoreError, match="already exists"):
            s.write("u", {"pose": np.zeros((4, 66))})
        s.write("u", {"pose": np.ones((5, 66))}, overwrite=True)
        assert s.num_frames("u") == 5
        with pytest.raises(StoreError, match=r"pose must have shape \(T>0, 66\)"):
            s.write("v", {"pose": np.zeros((4, 65))})
        with pytest.raises(StoreError, match="frame counts differ"):
            s.write("v", {"pose": np.zeros((4, 66)), "presence": np.zeros((5, 4), bool)})
        with pytest.raises(StoreError, match="NaN or inf"):
            s.write("v", {"pose": np.full((4, 66), np.nan)})
        with pytest.raises(StoreError, match="invalid utterance id"):
            s.write("a/b", {"pose": np.zeros((4, 66))})
        with pytest.raises(StoreError, match="no utterance 'nope'"):
            s.read("nope")
        with pytest.raises(StoreError, match="has no 'multimodal'"):
            s.read("u", "multimodal")
        assert s.ids() == ["u"]  # failed writes left nothing behind
    with FeatureStore(path) as s:
        with pytest.raises(StoreError, match="opened read-only"):
            s.write("w", {"pose": np.zeros((4, 66))})


def test_rejects_other_files(tmp_path):
    with pytest.raises(StoreError, match="feature store not found"):
        FeatureStore(tmp_path / "absent.h5")
    text = tmp_path / "text.h5"
    text.write_text("hello")
    with pytest.raises(StoreError, match="not an HDF5 file"):
        FeatureStore(text)
    for mode in ("a", "w"):  # "w" replaces only an islpose store
        with pytest.raises(StoreError, match="not an HDF5 file"):
            FeatureStore(text, mode)
    assert text.read_text() == "hello"  # nothing damaged
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.attrs["format"] = "someone-else"
        f["data"] = np.zeros(3)
    for mode in ("r", "a", "w"):
        with pytest.raises(StoreError, match="not an islpose feature store"):
            FeatureStore(other, mode)
    with h5py.File(other) as f:
        assert f.attrs["format"] == "someone-else"
    newer = tmp_path / "newer.h5"
    with h5py.File(newer, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = FORMAT_VERSION + 1
    with pytest.raises(StoreError, match="format version 2 is not supported"):
        FeatureStore(newer)


def test_staging_leftovers_are_never_listed_and_are_cleaned(tmp_path):
    path = tmp_path / "f.h5"
    with FeatureStore(path, "w") as s:
        s.write("done", {"pose": np.zeros((4, 66))})
    with h5py.File(path, "a") as f:  # what a run killed mid-write leaves behind
        f.create_group("staging/half").create_dataset("pose", data=np.zeros((2, 66)))
    with FeatureStore(path) as s:
        assert s.ids() == ["done"] and "half" not in s
    with FeatureStore(path, "a") as s:
        assert s.ids() == ["done"]
    with h5py.File(path) as f:
        assert "staging" not in f


_KILLED_WRITER = textwrap.dedent("""
    import sys, numpy as np
    from islpose.io import FeatureStore
    rng = np.random.default_rng(0)
    with FeatureStore(sys.argv[1], "a") as s:
        for i in range(10_000):
            s.write(f"u{i:05d}", {"landmarks": rng.random((60, 543, 4), dtype=np.float32),
                                  "pose": rng.random((60, 66), dtype=np.float32)})
            print(i, flush=True)
""")


@pytest.mark.parametrize("kill_after", [1, 7, 23])
def test_sigkill_leaves_only_complete_utterances(tmp_path, kill_after):
    path = tmp_path / "f.h5"
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    for _ in range(kill_after):
        proc.stdout.readline()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with FeatureStore(path) as s:
        ids = s.ids()
        assert len(ids) >= kill_after
        for uid in ids:
            assert s.read(uid, "landmarks").shape == (60, 543, 4)
            assert s.read(uid, "pose").shape == (60, 66)
    with FeatureStore(path, "a") as s:  # and it can be appended to again
        s.write("after", {"pose": np.zeros((3, 66))})
        assert len(s) == len(ids) + 1
