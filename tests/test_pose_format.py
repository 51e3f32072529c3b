"""islpose's own `.pose` reader and writer (islpose.io.pose), checked against the pose-format
package (dev extra) and the real recordings of tests/data/poses."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from islpose.extract.posefile import _to_pixels, holistic_components, read_pose, write_pose
from islpose.features.layout import SLICES
from islpose.io.pose import PoseFileError
from islpose.io.pose.binary import parse_header

pf = pytest.importorskip("pose_format", reason="the pose-format package (pip install 'islpose[dev]') checks the files")
from pose_format import Pose  # noqa: E402
from pose_format.numpy import NumPyPoseBody  # noqa: E402
from pose_format.pose_header import PoseHeader, PoseHeaderComponent, PoseHeaderDimensions  # noqa: E402

REAL = ("continuous_signing.pose", "viewer_example.pose")
# pose-format component -> islpose component, in the order pose-format's Holistic writer uses
ORDER = {
    "POSE_LANDMARKS": "pose",
    "FACE_LANDMARKS": "face",
    "LEFT_HAND_LANDMARKS": "left_hand",
    "RIGHT_HAND_LANDMARKS": "right_hand",
}


@pytest.fixture(scope="module")
def real_poses(media_dir) -> list[Path]:
    paths = [media_dir / "poses" / name for name in REAL]
    assert all(p.is_file() for p in paths)
    return paths


def pf_read(path: Path) -> Pose:
    return Pose.read(Path(path).read_bytes())


def write_with_pose_format(
    path: Path,
    counts: dict[str, int],
    data: np.ndarray,
    conf: np.ndarray,
    fps: float = 25.0,
    size: tuple[int, int] = (640, 480),
) -> Path:
    """A file written by pose-format itself: components named as ``counts`` says, in its order."""
    comps = [PoseHeaderComponent(name, [str(i) for i in range(n)], [], [], "XYZC") for name, n in counts.items()]
    header = PoseHeader(0.2, PoseHeaderDimensions(*size, 0), comps)
    with open(path, "wb") as handle:
        Pose(header, NumPyPoseBody(fps, data.astype(np.float32), conf.astype(np.float32))).write(handle)
    return path


def as_v01(path_v02: Path, out: Path) -> Path:
    """The same recording as a version-0.1 file (uint16 fps and frame count)."""
    raw = path_v02.read_bytes()
    size = parse_header(raw).size
    fps, frames, people = struct.unpack_from("<fIH", raw, size)
    head = struct.pack("<f", 0.1) + raw[4:size]
    out.write_bytes(head + struct.pack("<HHH", int(fps), frames % 65536, people) + raw[size + 10 :])
    return out


def random_recording(frames: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(T, 543, 4) landmarks with components missing here and there, and their presence."""
    rng = np.random.default_rng(seed)
    lm = rng.random((frames, 543, 4), dtype=np.float32)
    lm[..., 2] -= 0.5
    lm[:, 33:, 3] = 1.0
    presence = rng.random((frames, 4)) > 0.3
    presence[0] = True
    for k, comp in enumerate(SLICES):
        lm[~presence[:, k], SLICES[comp]] = np.nan
    return lm, presence


# ----------------------------------------------------------------- real recordings
def test_real_recordings_read_like_pose_format(real_poses):
    for path in real_poses:
        rec, ref = read_pose(path), pf_read(path)
        assert (rec.fps, rec.width, rec.height, rec.people) == (ref.body.fps, 320, 240, 1)
        assert rec.landmarks.shape == (len(ref.body.data), 543, 4) and rec.landmarks.dtype == np.float32
        data, conf = np.asarray(ref.body.data.data)[:, 0], np.asarray(ref.body.confidence)[:, 0]
        start = 0
        for comp in ref.header.components:
            n = len(comp.points)
            if comp.name in ORDER:
                ours = ORDER[comp.name]
                k = list(SLICES).index(ours)
                present = (conf[:, start : start + n] > 0).any(axis=1)
                np.testing.assert_array_equal(rec.presence[:, k], present)
                got = rec.landmarks[present, SLICES[ours]]
                want = data[present, start : start + n]
                np.testing.assert_allclose(got[..., 0] * 320, want[..., 0], rtol=1e-6)
                np.testing.assert_allclose(got[..., 1] * 240, want[..., 1], rtol=1e-6)
                np.testing.assert_array_equal(got[..., 2], want[..., 2])
                vis = conf[present, start : start + n] if ours == "pose" else 1.0
                np.testing.assert_array_equal(got[..., 3], np.broadcast_to(vis, got[..., 3].shape))
                assert np.isnan(rec.landmarks[~present, SLICES[ours]]).all()
            start += n
        assert 0 < rec.presence[:, 1].sum() < len(rec.presence)  # hands come and go in these clips


def test_real_recordings_reexport_exactly(real_poses, tmp_path):
    for path in real_poses:
        rec = read_pose(path)
        out = write_pose(tmp_path / path.name, rec.landmarks, rec.fps, rec.width, rec.height, rec.presence)
        again = read_pose(out)
        np.testing.assert_array_equal(again.landmarks, rec.landmarks)
        np.testing.assert_array_equal(again.presence, rec.presence)
        assert (again.fps, again.width, again.height) == (rec.fps, rec.width, rec.height)
        # the pixel values are the original file's, component by component
        ref, new = pf_read(path), pf_read(out)
        offsets = {c.name: i for i, c in enumerate(ref.header.components)}
        starts = np.cumsum([0] + [len(c.points) for c in ref.header.components])
        want = np.concatenate(
            [np.asarray(ref.body.data.data)[:, 0, starts[offsets[n]] : starts[offsets[n] + 1]] for n in ORDER], axis=1
        )
        np.testing.assert_array_equal(np.asarray(new.body.data.data)[:, 0], want)


def test_exported_header_is_pose_formats_holistic_header(real_poses, tmp_path):
    lm, presence = random_recording()
    out = write_pose(tmp_path / "x.pose", lm, 25.0, 640, 480, presence)
    ours = pf_read(out).header
    theirs = pf_read(real_poses[0]).header  # written by pose-format's Holistic writer
    assert ours.version == pytest.approx(0.2)
    assert [c.name for c in ours.components] == list(ORDER)
    for mine, ref in zip(ours.components, theirs.components):
        assert (mine.name, mine.format, mine.points) == (ref.name, ref.format, ref.points)
        assert set(map(tuple, mine.limbs)) == set(map(tuple, ref.limbs))
        np.testing.assert_array_equal(np.asarray(mine.colors), np.asarray(ref.colors))


def test_topology_is_mediapipes():
    holistic = pytest.importorskip(
        "mediapipe", reason="mediapipe (islpose[extract]) gives the reference"
    ).solutions.holistic
    comps = {c.name: c for c in holistic_components()}
    sets = lambda pairs: {tuple(int(v) for v in p) for p in pairs}  # noqa: E731
    assert sets(comps["POSE_LANDMARKS"].limbs) == sets(holistic.POSE_CONNECTIONS)
    assert sets(comps["LEFT_HAND_LANDMARKS"].limbs) == sets(holistic.HAND_CONNECTIONS)
    assert sets(comps["FACE_LANDMARKS"].limbs) == sets(holistic.FACEMESH_TESSELATION)
    assert list(comps["POSE_LANDMARKS"].points) == holistic.PoseLandmark._member_names_
    assert list(comps["RIGHT_HAND_LANDMARKS"].points) == holistic.HandLandmark._member_names_


# ----------------------------------------------------------------- writer
def test_pose_format_reads_what_islpose_writes(tmp_path):
    lm, presence = random_recording(frames=9, seed=3)
    out = write_pose(tmp_path / "a.pose", lm, 29.97, 541, 719, presence)
    ref = pf_read(out)
    assert ref.body.data.shape == (9, 1, 543, 3)
    assert ref.body.fps == pytest.approx(29.97)
    assert (ref.header.dimensions.width, ref.header.dimensions.height) == (541, 719)
    conf = np.asarray(ref.body.confidence)[:, 0]
    data = np.asarray(ref.body.data.data)[:, 0]
    pose_rows = slice(0, 33)  # POSE_LANDMARKS come first
    np.testing.assert_array_equal(conf[presence[:, 0], pose_rows], lm[presence[:, 0], :33, 3])
    assert (conf[~presence[:, 0], pose_rows] == 0).all() and (data[~presence[:, 0], pose_rows] == 0).all()
    np.testing.assert_allclose(data[presence[:, 0], pose_rows, 0], lm[presence[:, 0], :33, 0] * 541, rtol=1e-6)


def test_float32_round_trip_through_a_file(tmp_path):
    lm, presence = random_recording(frames=20, seed=5)
    back = read_pose(write_pose(tmp_path / "b.pose", lm, 25.0, 1279, 719, presence))
    np.testing.assert_array_equal(back.presence, presence)
    ok = ~np.isnan(lm)
    assert (np.isnan(back.landmarks) == ~ok).all()
    np.testing.assert_array_max_ulp(back.landmarks[ok], lm[ok], maxulp=1)  # x·w/w rounds once
    np.testing.assert_array_equal(back.landmarks[..., 2:][ok[..., 2:]], lm[..., 2:][ok[..., 2:]])


def test_float32_scaling_is_float64_rounded_once():
    rng = np.random.default_rng(0)
    for size in (3, 240, 641, 1920, 65535):
        a = (rng.random(200_000) * 1.4 - 0.2).astype(np.float32)
        np.testing.assert_array_equal(_to_pixels(a, size), (a.astype(np.float64) * size).astype(np.float32))
        np.testing.assert_array_equal(a / np.float32(size), (a.astype(np.float64) / size).astype(np.float32))


def test_presence_defaults_to_not_all_nan_and_bad_shapes_are_refused(tmp_path):
    lm, presence = random_recording(seed=7)
    back = read_pose(write_pose(tmp_path / "c.pose", lm, 25.0, 640, 480))
    np.testing.assert_array_equal(back.presence, presence)
    with pytest.raises(PoseFileError, match="shape"):
        write_pose(tmp_path / "d.pose", lm[:, :500], 25.0, 640, 480)
    with pytest.raises(PoseFileError, match="width 70000"):
        write_pose(tmp_path / "d.pose", lm, 25.0, 70000, 480)
    assert not (tmp_path / "d.pose").exists()


# ----------------------------------------------------------------- other files pose-format writes
def holistic_arrays(frames: int, counts: dict[str, int], seed: int = 0):
    rng = np.random.default_rng(seed)
    n = sum(counts.values())
    data = rng.random((frames, 1, n, 3)) * 100
    conf = rng.random((frames, 1, n)) * 0.9 + 0.1
    return data, conf


def test_components_by_name_in_any_order_with_refined_face_and_extra_components(tmp_path):
    counts = {
        "POSE_WORLD_LANDMARKS": 33,
        "RIGHT_HAND_LANDMARKS": 21,
        "FACE_LANDMARKS": 478,
        "POSE_LANDMARKS": 33,
        "LEFT_HAND_LANDMARKS": 21,
    }
    data, conf = holistic_arrays(4, counts)
    conf[2, 0, 33:54] = 0  # the right hand is missing in frame 2
    rec = read_pose(write_with_pose_format(tmp_path / "o.pose", counts, data, conf))
    starts = dict(zip(counts, np.cumsum([0] + list(counts.values()))))
    np.testing.assert_allclose(
        rec.landmarks[:, :33, 0], data[:, 0, starts["POSE_LANDMARKS"] :][:, :33, 0] / 640, rtol=1e-6
    )
    np.testing.assert_array_equal(
        rec.landmarks[:, :33, 3], conf[:, 0, starts["POSE_LANDMARKS"] :][:, :33].astype(np.float32)
    )
    face = data[:, 0, starts["FACE_LANDMARKS"] : starts["FACE_LANDMARKS"] + 468]
    np.testing.assert_allclose(rec.landmarks[:, 75:, 1], face[..., 1] / 480, rtol=1e-6)
    assert rec.presence[:, 2].tolist() == [True, True, False, True]
    assert np.isnan(rec.landmarks[2, 54:75]).all() and (rec.landmarks[3, 54:75, 3] == 1).all()


def test_version_01_reads_like_version_02(tmp_path):
    counts = {"POSE_LANDMARKS": 33, "FACE_LANDMARKS": 468, "LEFT_HAND_LANDMARKS": 21, "RIGHT_HAND_LANDMARKS": 21}
    data, conf = holistic_arrays(6, counts, seed=2)
    v2 = write_with_pose_format(tmp_path / "v2.pose", counts, data, conf, fps=30.0)
    v1 = as_v01(v2, tmp_path / "v1.pose")
    a, b = read_pose(v2), read_pose(v1)
    assert (b.version, a.version) == (0.1, 0.2) and b.fps == 30.0
    np.testing.assert_array_equal(a.landmarks, b.landmarks)
    np.testing.assert_array_equal(np.asarray(pf_read(v1).body.data.data), np.asarray(pf_read(v2).body.data.data))


def test_only_the_first_person_is_read(tmp_path):
    counts = {"POSE_LANDMARKS": 33, "FACE_LANDMARKS": 468, "LEFT_HAND_LANDMARKS": 21, "RIGHT_HAND_LANDMARKS": 21}
    one, conf1 = holistic_arrays(5, counts, seed=1)
    two, conf2 = holistic_arrays(5, counts, seed=2)
    path = write_with_pose_format(
        tmp_path / "p.pose", counts, np.concatenate([one, two], 1), np.concatenate([conf1, conf2], 1)
    )
    rec = read_pose(path)
    assert rec.people == 2
    np.testing.assert_allclose(rec.landmarks[:, :33, 0], one[:, 0, :33, 0] / 640, rtol=1e-6)


@pytest.mark.parametrize(
    "case, message",
    [
        ("openpose", "not a MediaPipe Holistic recording"),
        ("truncated", "truncated"),
        ("garbage", "not a .pose file"),
        ("empty", "not a .pose file"),
        ("version", "version 0.3 is not supported"),
        ("no_size", "no image size"),
        ("face_count", "FACE_LANDMARKS has 400 points"),
        ("missing", "cannot read"),
    ],
)
def test_bad_files_fail_with_their_reason(tmp_path, case, message):
    holistic = {"POSE_LANDMARKS": 33, "FACE_LANDMARKS": 468, "LEFT_HAND_LANDMARKS": 21, "RIGHT_HAND_LANDMARKS": 21}
    path = tmp_path / f"{case}.pose"
    if case == "openpose":
        write_with_pose_format(path, {"pose_keypoints_2d": 25}, *holistic_arrays(3, {"x": 25}))
    elif case == "face_count":
        counts = holistic | {"FACE_LANDMARKS": 400}
        write_with_pose_format(path, counts, *holistic_arrays(3, counts))
    elif case in ("truncated", "version", "no_size"):
        write_with_pose_format(
            path, holistic, *holistic_arrays(3, holistic), size=(0, 0) if case == "no_size" else (640, 480)
        )
        raw = path.read_bytes()
        path.write_bytes(
            raw[:-100] if case == "truncated" else struct.pack("<f", 0.3) + raw[4:] if case == "version" else raw
        )
    elif case == "garbage":
        path.write_bytes(struct.pack("<f", 0.2) + b"\xff" * 50)
    elif case == "empty":
        path.write_bytes(b"")
    with pytest.raises(PoseFileError, match=message) as err:
        read_pose(path)
    assert str(path) in str(err.value)
