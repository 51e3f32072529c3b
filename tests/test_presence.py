"""presence is False wherever a component has no finite point: .pose import, extraction and
recognition agree, also on recordings that hold NaN points at confidence 1."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from train_helpers import run

from islpose.extract.posefile import read_pose
from islpose.features.layout import SLICES, presence_of
from islpose.io import FeatureStore
from islpose.io.pose.binary import header_bytes, read_body, read_header, write_body

LEFT = 1  # presence column of the left hand


def nan_hand_recording(source: Path, out: Path) -> tuple[Path, np.ndarray]:
    """``source`` rewritten with the left hand's points NaN at confidence 1 in every other
    frame where it was detected (as MediaPipe Tasks recordings hold them); returns the file and
    the frames made NaN."""
    with open(source, "rb") as handle:
        header = read_header(handle, str(source))
        body = read_body(handle, header, str(source), source.stat().st_size)
    start = 0
    for comp in header.components:
        if comp.name == "LEFT_HAND_LANDMARKS":
            break
        start += len(comp.points)
    rows = slice(start, start + 21)
    detected = np.flatnonzero((body.confidence[:, rows] > 0).any(axis=1))
    frames = detected[::2]
    data, conf = body.data.copy(), body.confidence.copy()
    data[frames, rows] = np.nan
    conf[frames, rows] = 1.0
    with open(out, "wb") as handle:
        handle.write(header_bytes(header.width, header.height, header.components, header.depth))
        write_body(handle, body.fps, data, conf)
    return out, frames


@pytest.fixture(scope="module")
def nan_pose(media_dir, tmp_path_factory) -> tuple[Path, np.ndarray]:
    return nan_hand_recording(
        media_dir / "poses" / "continuous_signing.pose", tmp_path_factory.mktemp("nan_pose") / "nan_hand.pose"
    )


def test_read_pose_marks_a_hand_of_nan_points_absent(nan_pose):
    path, frames = nan_pose
    rec = read_pose(path)
    assert len(frames) > 10 and np.isnan(rec.landmarks[frames][:, SLICES["left_hand"]]).all()
    assert not rec.presence[frames, LEFT].any()
    assert (rec.presence == presence_of(rec.landmarks)).all()  # the one rule everywhere


def test_import_pose_stores_presence_false_there(nan_pose, tmp_path):
    path, frames = nan_pose
    assert run("import-pose", path, tmp_path / "feats.h5", "--quiet").exit_code == 0
    with FeatureStore(tmp_path / "feats.h5") as store:
        presence, landmarks = store.read("nan_hand", "presence"), store.read("nan_hand", "landmarks")
    assert not presence[frames, LEFT].any() and (presence == presence_of(landmarks)).all()


def test_recognize_keeps_presence_false_there(nan_pose, tiny_checkpoint, tmp_path):
    path, frames = nan_pose
    result = run(
        "recognize",
        path,
        "--checkpoint",
        tiny_checkpoint,
        "--out",
        tmp_path / "g.jsonl",
        "--store",
        tmp_path / "kept.h5",
        "--beam",
        "1",
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    with FeatureStore(tmp_path / "kept.h5") as store:
        presence = store.read("nan_hand", "presence")
    assert not presence[frames, LEFT].any()


def test_recognize_landmarks_ignores_presence_claimed_for_nan_points(nan_pose, tiny_checkpoint):
    from islpose import IslposeError, Recognizer

    path, frames = nan_pose
    rec = read_pose(path)
    recognizer = Recognizer.from_checkpoint(tiny_checkpoint, beam=1)
    seen = []
    real = recognizer.features
    recognizer.features = lambda data: seen.append(data.presence) or real(data)
    claimed = np.ones_like(rec.presence)
    recognizer.recognize_landmarks(rec.landmarks, rec.fps, rec.width, rec.height, presence=claimed)
    assert not seen[0][frames, LEFT].any() and seen[0][~np.isin(np.arange(len(claimed)), frames), 0].all()
    with pytest.raises(IslposeError, match="presence must be"):
        recognizer.recognize_landmarks(rec.landmarks, rec.fps, rec.width, rec.height, presence=claimed[:, :2])


def test_extract_marks_a_component_without_finite_points_absent(media_dir, monkeypatch):
    """MediaPipe's flag alone does not make a component present: its points must be finite."""
    pytest.importorskip("mediapipe")
    import islpose.extract.holistic as holistic

    real = holistic._run_frames

    def nan_left_hand(*args, **kwargs):
        rows, present, width, height = real(*args, **kwargs)
        rows[0][SLICES["left_hand"]] = np.nan
        present[0] = (present[0][0], True, *present[0][2:])
        return rows, present, width, height

    monkeypatch.setattr(holistic, "_run_frames", nan_left_hand)
    data = holistic.extract_landmarks(media_dir / "videos" / "studio_signer_9frames.mp4")
    assert not data.presence[0, LEFT] and (data.presence == presence_of(data.landmarks)).all()
