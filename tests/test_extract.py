"""`islpose extract` / `featurize`: input discovery, resume, bad inputs, kill-and-resume,
executors and the CLI. Real-video tests use the short clips of tests/data/videos."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import islpose.extract.videos as E
from islpose.cli.main import cli
from islpose.errors import IslposeError, StoreError
from islpose.extract import video
from islpose.features import compute_features
from islpose.features.layout import Landmarks
from islpose.io import FeatureStore

REPO = Path(__file__).resolve().parents[1]
SHORT, WEBCAM, NO_PERSON = "studio_signer_9frames.mp4", "webcam_signer.mp4", "hand_only_no_face.mp4"


# ----------------------------------------------------------------- a fake per-video task
def fake_arrays(uid: str) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic landmarks (T, 543, 4) and presence (T, 4) for an id."""
    rng = np.random.default_rng(int(hashlib.md5(uid.encode()).hexdigest()[:8], 16))
    T = int(rng.integers(5, 30))
    return rng.random((T, 543, 4), dtype=np.float32), np.ones((T, 4), bool)


def fake_load(path, options, on_frames=None) -> Landmarks:
    """Stands in for MediaPipe (`load_video`): landmarks made from the file name."""
    lm, pr = fake_arrays(Path(path).stem)
    if on_frames:
        on_frames(len(lm))
    return Landmarks(lm, pr, 25.0, 640, 480)


@pytest.fixture
def fake_videos(tmp_path, monkeypatch):
    """Five small files named like videos, and `load_video` replaced by `fake_load`."""
    folder = tmp_path / "videos"
    (folder / "sub").mkdir(parents=True)
    for i in range(5):
        (folder / ("sub" if i % 2 else "") / f"v{i}.mp4").write_bytes(os.urandom(64))
    monkeypatch.setattr(video, "load_video", fake_load)
    return folder


def check_store(path: Path, expected_ids=None) -> list[str]:
    """Opens the store; every listed utterance must be complete and equal to its fake."""
    with FeatureStore(path) as store:
        ids = store.ids()
        for uid in ids:
            lm, _ = fake_arrays(uid)
            np.testing.assert_array_equal(store.read(uid, "landmarks"), lm)
            assert store.shape(uid, "pose") == (len(lm), 66)
            assert store.shape(uid, "multimodal") == (len(lm), 6516)
            assert store.shape(uid, "presence") == (len(lm), 4)
            assert store.attrs(uid)["num_frames"] == len(lm)
    if expected_ids is not None:
        assert ids == sorted(expected_ids)
    return ids


# ----------------------------------------------------------------- inputs
def test_find_videos_from_folders_files_and_manifests(tmp_path):
    (tmp_path / "a" / "deep").mkdir(parents=True)
    for name in ("a/x.mp4", "a/deep/y.MOV", "a/notes.txt", "z.avi"):
        (tmp_path / name).write_bytes(b"0")
    (tmp_path / "m.jsonl").write_text('{"id": "u1", "video": "a/x.mp4"}\n{"id": "u2", "video": "gone.mp4"}\n')
    items = E.find_videos([tmp_path / "a", tmp_path / "z.avi", tmp_path / "m.jsonl"])
    assert [i.uid for i in items] == ["y", "x", "z", "u1", "u2"]
    assert items[3].path == (tmp_path / "a" / "x.mp4").resolve()
    # the same file named twice is one video
    assert len(E.find_videos([tmp_path / "z.avi", tmp_path / "z.avi"])) == 1


def test_clashing_stems_name_both_files(tmp_path):
    for name in ("one/clip.mp4", "two/clip.mp4"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"0")
    with pytest.raises(IslposeError, match=r"'clip'.*one/clip\.mp4.*two/clip\.mp4"):
        E.find_videos([tmp_path / "one", tmp_path / "two"])


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "no such file or folder"),
        ("empty_folder", "no video files"),
        ("manifest_without_video", "missing field 'video'"),
    ],
)
def test_bad_inputs_are_user_errors(tmp_path, case, message):
    target = tmp_path / case
    if case == "empty_folder":
        target.mkdir()
    elif case == "manifest_without_video":
        target = tmp_path / "m.jsonl"
        target.write_text('{"id": "u1"}\n')
    with pytest.raises(IslposeError, match=message):
        E.find_videos([target])


# ----------------------------------------------------------------- resume (fake task)
def test_resume_skips_unchanged_and_redoes_changed_files(fake_videos, tmp_path):
    out = tmp_path / "f.h5"
    first = E.extract([fake_videos], out, E.ExtractConfig(workers=1))
    assert sorted(first.done) == [f"v{i}" for i in range(5)] and not first.skipped and not first.failed
    again = E.extract([fake_videos], out, E.ExtractConfig(workers=1))
    assert not again.done and len(again.skipped) == 5
    changed = fake_videos / "v0.mp4"
    changed.write_bytes(bytes(b ^ 1 for b in changed.read_bytes()))  # same size, other content
    third = E.extract([fake_videos], out, E.ExtractConfig(workers=1))
    assert third.done == ["v0"] and len(third.skipped) == 4
    with FeatureStore(out) as store:
        assert store.attrs("v0")["source_sha256"] == E.file_sha256(changed)
        assert store.metadata["extractor"]["multimodal_dtype"] == "float16"
    redo = E.extract([fake_videos / "v0.mp4"], out, E.ExtractConfig(workers=1, overwrite=True))
    assert redo.done == ["v0"]
    check_store(out, ["v0"])  # --overwrite starts the file afresh


def test_other_settings_on_an_existing_store_are_an_error(fake_videos, tmp_path):
    out = tmp_path / "f.h5"
    E.extract([fake_videos], out, E.ExtractConfig(workers=1))
    with pytest.raises(
        StoreError, match="other settings: multimodal_dtype float16 \\(now float32\\); use the same options"
    ):
        E.extract([fake_videos], out, E.ExtractConfig(workers=1, dtype="float32"))
    assert E.extract([fake_videos], out, E.ExtractConfig(workers=1, dtype="float32", overwrite=True)).done


def test_output_that_is_not_a_store_is_refused(fake_videos, tmp_path):
    with pytest.raises(IslposeError, match="should end in .h5"):
        E.extract([fake_videos], fake_videos / "v0.mp4")
    other = tmp_path / "other.h5"
    other.write_text("not hdf5")
    with pytest.raises(StoreError, match="not an HDF5 file"):
        E.extract([fake_videos], other)
    assert other.read_text() == "not hdf5"


# ----------------------------------------------------------------- kill and resume
CHILD = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    import islpose.extract.videos as E
    import islpose.extract.video as V
    import islpose.io.journal as J
    inputs, out, mode, point, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
    calls = {{"n": 0}}
    def tick():
        calls["n"] += 1
        if calls["n"] == n:
            os.kill(os.getpid(), signal.SIGKILL)
    def hook(obj, name):
        original = getattr(obj, name)
        def wrapped(*args, **kwargs):
            tick()
            return original(*args, **kwargs)
        setattr(obj, name, wrapped)
    if mode == "fake":
        import test_extract
        V.load_video = test_extract.fake_load
    if point == "write":      # the n-th low-level write of HDF5 (inside flushes)
        hook(J.JournaledFile, "write")
    elif point == "commit":   # just before the n-th utterance is moved out of /staging
        import h5py
        hook(h5py.Group, "move")
    elif point == "frame":    # while MediaPipe is on the n-th frame
        real = V.extract_landmarks
        V.extract_landmarks = lambda path, settings, on_frames: real(
            path, settings, lambda k: (tick(), on_frames and on_frames(k)))
    s = E.extract([inputs], out, E.ExtractConfig(workers=1, overwrite="overwrite" in sys.argv[6:]))
    print("summary", len(s.done), len(s.skipped), len(s.failed))
""")


def run_child(tmp_path, inputs, out, mode, point="none", n=0, *flags):
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(tests=str(Path(__file__).parent)))
    return subprocess.run(
        [sys.executable, str(script), str(inputs), str(out), mode, point, str(n), *flags],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )


@pytest.mark.parametrize(
    "point, n",
    [
        ("write", 1),
        ("write", 3),
        ("write", 17),
        ("write", 40),
        ("write", 90),
        ("commit", 1),
        ("commit", 3),
        ("commit", 5),
    ],
)
def test_sigkill_leaves_only_complete_utterances_and_rerun_finishes(fake_videos, tmp_path, point, n):
    out = tmp_path / "f.h5"
    killed = run_child(tmp_path, fake_videos, out, "fake", point, n)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    survivors = check_store(out) if out.exists() and out.stat().st_size else []
    assert len(survivors) < 5
    rerun = run_child(tmp_path, fake_videos, out, "fake")
    assert rerun.returncode == 0, rerun.stderr
    assert f"summary {5 - len(survivors)} {len(survivors)} 0" in rerun.stdout
    check_store(out, [f"v{i}" for i in range(5)])
    assert not (tmp_path / "f.h5-journal").exists()


@pytest.mark.slow
def test_sigkill_during_real_extraction_then_resume(media_dir, tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    for name in ("a", "b", "c"):
        (folder / f"{name}.mp4").symlink_to(media_dir / "videos" / SHORT)
    out = tmp_path / "real.h5"
    for stored in (["a"], ["a", "b"]):  # killed on the 5th frame of the 2nd video this run processes
        killed = run_child(tmp_path, folder, out, "real", "frame", 14)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        with FeatureStore(out) as store:
            assert store.ids() == stored
            assert all(store.shape(uid, "multimodal") == (9, 6516) for uid in stored)
    rerun = run_child(tmp_path, folder, out, "real")
    assert rerun.returncode == 0 and "summary 1 2 0" in rerun.stdout, rerun.stdout + rerun.stderr
    with FeatureStore(out) as store:
        assert store.ids() == ["a", "b", "c"]
        np.testing.assert_array_equal(store.read("a", "landmarks"), store.read("c", "landmarks"))


# ----------------------------------------------------------------- real videos
@pytest.fixture(scope="module")
def real_store(tmp_path_factory, media_dir):
    """The two short real clips extracted once, with 2 workers."""
    out = tmp_path_factory.mktemp("real") / "feats.h5"
    frames = []

    class Count:
        start = video = lambda *a: None

        def frames(self, n):
            frames.append(n)

    videos = [media_dir / "videos" / SHORT, media_dir / "videos" / WEBCAM]
    summary = E.extract(videos, out, E.ExtractConfig(workers=2), Count())
    return out, videos, summary, sum(frames)


def test_real_clips_store_landmarks_features_and_attributes(real_store):
    out, videos, summary, streamed = real_store
    assert sorted(summary.done) == ["studio_signer_9frames", "webcam_signer"] and not summary.failed
    assert streamed == summary.frames == 9 + 58  # frame progress came from the workers
    with FeatureStore(out) as store:
        meta = store.metadata
        assert meta["mediapipe_version"] == "0.10.21"
        assert meta["extractor"]["holistic"]["model_complexity"] == 1
        assert meta["extractor"]["holistic"]["static_image_mode"] is False
        for uid, video, (T, w, h, fps) in zip(
            ["studio_signer_9frames", "webcam_signer"], videos, [(9, 1280, 720, 24.0), (58, 540, 720, 29.9)]
        ):
            attrs = store.attrs(uid)
            assert (attrs["num_frames"], attrs["width"], attrs["height"]) == (T, w, h)
            assert attrs["fps"] == pytest.approx(fps, abs=0.05)
            assert attrs["source_size"] == video.stat().st_size
            assert attrs["source_sha256"] == E.file_sha256(video)
            lm, pr = store.read(uid, "landmarks"), store.read(uid, "presence")
            assert lm.shape == (T, 543, 4) and lm.dtype == np.float32 and pr.dtype == bool
            assert pr[:, 0].all() and pr[:, 3].all()  # a signer facing the camera: body and face
            rows = np.repeat(pr, [33, 21, 21, 468], axis=1)  # (T, 543)
            assert np.isnan(lm[~rows]).all() and np.isfinite(lm[rows]).all()
            face = lm[pr[:, 3], 75:, :2]  # normalised to [0, 1] by the image size
            assert ((face > 0) & (face < 1)).all()
            feats = compute_features(lm, pr, w, h)
            np.testing.assert_array_equal(store.read(uid, "pose"), feats["pose"])
            np.testing.assert_array_equal(store.read(uid, "multimodal"), feats["multimodal"])
            assert store.read(uid, "multimodal").dtype == np.float16


def test_rerun_over_real_clips_skips_them_via_cli(real_store):
    out, videos, _, _ = real_store
    result = CliRunner().invoke(cli, ["extract", *map(str, videos), str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "skipped" in result.output and "│       2 │" in result.output


def test_bad_videos_fail_with_their_reason_and_the_run_goes_on(media_dir, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "zero.mp4").write_bytes(b"")
    (folder / "text.mp4").write_text("this is not a video\n" * 20)
    data = (media_dir / "videos" / WEBCAM).read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: int(len(data) * 0.9)])
    (folder / "good.mp4").symlink_to(media_dir / "videos" / SHORT)
    out = tmp_path / "f.h5"
    summary = E.extract([folder], out, E.ExtractConfig(workers=1))
    assert summary.done == ["good"]
    reasons = dict(summary.failed)
    assert set(reasons) == {"zero", "text", "truncated"}
    assert "zero.mp4: empty file" in reasons["zero"]
    assert "text.mp4: cannot be opened as a video" in reasons["text"]
    assert "truncated.mp4: truncated or corrupt: decoded" in reasons["truncated"]
    with FeatureStore(out) as store:
        assert store.ids() == ["good"]


def test_clip_without_a_person_fails(media_dir, tmp_path):
    import cv2

    cap = cv2.VideoCapture(str(media_dir / "videos" / NO_PERSON))  # only a hand, no face or body
    clip = tmp_path / "no_person.mp4"
    writer = None
    for _ in range(15):
        ok, frame = cap.read()
        assert ok
        if writer is None:
            writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 25, frame.shape[1::-1])
        writer.write(frame)
    writer.release()
    summary = E.extract([clip], tmp_path / "f.h5", E.ExtractConfig(workers=1))
    assert not summary.done
    assert "no_person.mp4: nobody detected" in summary.failed[0][1]


# ----------------------------------------------------------------- executors
def square(task, on_frames):
    if task == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    if on_frames:
        on_frames(task)
    return task * task


def test_local_pool_streams_frames_and_survives_a_dead_worker():
    from islpose.extract.executors import LocalExecutor

    frames = []
    with LocalExecutor(workers=2) as ex:
        results = dict(ex.map_unordered(square, [1, 2, 3, 4], frames.append))
        assert results == {1: 1, 2: 4, 3: 9, 4: 16} and sum(frames) == 10
        results = dict(ex.map_unordered(square, ["die", 5], None))
        assert isinstance(results["die"], IslposeError) and "worker process died" in str(results["die"])
        assert dict(ex.map_unordered(square, [6], None)) == {6: 36}  # the pool was rebuilt


def test_ray_executor_without_ray_names_the_extra(monkeypatch):
    from islpose.extract.executors import make_executor

    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed

    with pytest.raises(IslposeError, match=r"pip install 'islpose\[ray\]'"):
        make_executor("ray")
    with pytest.raises(IslposeError, match="unknown executor"):
        make_executor("dask")


# ----------------------------------------------------------------- CLI and featurize
def test_cli_extract_reports_failures_and_exits_1(tmp_path):
    (tmp_path / "zero.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("hello")
    result = CliRunner().invoke(cli, ["extract", str(tmp_path), str(tmp_path / "f.h5"), "-q", "-j", "1"])
    assert result.exit_code == 1
    assert "2 failed" in result.output
    assert "zero.mp4: empty file (0 bytes)" in result.output
    assert "text.mp4: cannot be opened as a video" in result.output


def test_cli_extract_help_and_usage():
    runner = CliRunner()
    assert "Example:" in runner.invoke(cli, ["extract", "--help"]).output
    assert runner.invoke(cli, ["extract", "only_one_arg"]).exit_code == 2
    missing = runner.invoke(cli, ["extract", "nope.mp4", "f.h5"])
    assert missing.exit_code == 1 and "nope.mp4: no such file or folder" in missing.output


@pytest.mark.parametrize("in_place", [True, False])
def test_featurize_recomputes_features_from_landmarks(fake_videos, tmp_path, in_place):
    store_path = tmp_path / "f.h5"
    E.extract([fake_videos], store_path, E.ExtractConfig(workers=1))
    with FeatureStore(store_path, "a") as store:  # spoil one feature set
        uid = store.ids()[0]
        arrays = {n: store.read(uid, n) for n in store.datasets(uid)}
        arrays["pose"] = np.zeros_like(arrays["pose"])
        store.write(uid, arrays, store.attrs(uid), overwrite=True)
    out = store_path if in_place else tmp_path / "g.h5"
    args = ["featurize", str(store_path), "--dtype", "float32", "-q"] + ([] if in_place else ["--out", str(out)])
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    with FeatureStore(out) as store:
        assert len(store) == 5 and store.metadata["extractor"]["multimodal_dtype"] == "float32"
        for uid in store.ids():
            lm, pr = fake_arrays(uid)
            feats = compute_features(lm, pr, 640, 480, np.float32)
            np.testing.assert_array_equal(store.read(uid, "pose"), feats["pose"])
            np.testing.assert_array_equal(store.read(uid, "multimodal"), feats["multimodal"])


@pytest.mark.slow
def test_ray_executor_gives_the_same_store_as_local_workers(media_dir, tmp_path):
    """`--executor ray` on a local Ray instance runs the same per-video task as the process pool."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'islpose[ray]')")
    clip = media_dir / "videos" / "studio_signer_9frames.mp4"
    stores = {}
    for executor in ("local", "ray"):
        stores[executor] = tmp_path / f"{executor}.h5"
        # In a child process: after Ray has run in a process, torch DataLoader workers forked
        # from it hang (seen in this test suite), so Ray stays out of the pytest process.
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "islpose.cli.main",
                "extract",
                str(clip),
                str(stores[executor]),
                "--executor",
                executor,
                "--workers",
                "1",
                "--quiet",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
    with FeatureStore(stores["local"]) as a, FeatureStore(stores["ray"]) as b:
        assert a.ids() == b.ids() == ["studio_signer_9frames"]
        for name in ("landmarks", "presence", "pose", "multimodal"):
            np.testing.assert_array_equal(a.read("studio_signer_9frames", name), b.read("studio_signer_9frames", name))


# ----------------------------------------------------------------- containers with an estimated frame count
def estimated_count_clip(source: Path, out: Path, fourcc: str, frames: int = 12) -> int:
    """Writes the first ``frames`` frames of ``source`` into ``out`` (webm / mkv) with
    OpenCV, then makes the Matroska header's Duration 1.5x longer, as a variable frame
    rate or a longer audio track does: OpenCV then declares more frames than there are.
    Returns the declared count."""
    import struct

    import cv2

    cap = cv2.VideoCapture(str(source))
    writer = None
    for _ in range(frames):
        ok, frame = cap.read()
        assert ok
        if writer is None:
            writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*fourcc), 25, frame.shape[1::-1])
            assert writer.isOpened(), f"OpenCV cannot write {fourcc} into {out.suffix}"
        writer.write(frame)
    writer.release()
    data = bytearray(out.read_bytes())
    at = data.find(b"\x44\x89\x88")  # EBML Duration element, an 8-byte float
    assert at > 0, "no Duration element in the header"
    (duration,) = struct.unpack(">d", data[at + 3 : at + 11])
    data[at + 3 : at + 11] = struct.pack(">d", duration * 1.5)
    out.write_bytes(bytes(data))
    return int(cv2.VideoCapture(str(out)).get(cv2.CAP_PROP_FRAME_COUNT))


@pytest.mark.parametrize("suffix, fourcc", [(".webm", "VP80"), (".mkv", "MJPG")])
def test_estimated_frame_counts_are_not_truncation(media_dir, tmp_path, suffix, fourcc):
    from islpose.extract.holistic import extract_landmarks

    clip = tmp_path / f"clip{suffix}"
    declared = estimated_count_clip(media_dir / "videos" / WEBCAM, clip, fourcc)
    assert declared >= 17  # 12 frames, declared ~18: "truncated" if the estimate were trusted
    video = extract_landmarks(clip)
    assert video.num_frames == 12 and video.presence[:, 0].any()
