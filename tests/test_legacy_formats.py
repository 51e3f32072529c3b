"""Files written by an earlier islpose (tests/data/legacy, see its README) load with the
current code and give the same results."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

LEGACY = Path(__file__).resolve().parent / "data" / "legacy"


def _pose_features() -> np.ndarray:
    from islpose.io import FeatureStore

    with FeatureStore(LEGACY / "store.h5") as store:
        (uid,) = store.ids()
        return store.read(uid, "pose")


def test_legacy_store_reads_and_its_features_recompute():
    from islpose.features import pose_features
    from islpose.io import FeatureStore

    with FeatureStore(LEGACY / "store.h5") as store:
        (uid,) = store.ids()
        attrs = store.attrs(uid)
        landmarks, presence, pose = (store.read(uid, n) for n in ("landmarks", "presence", "pose"))
    assert landmarks.shape == (attrs["num_frames"], 543, 4) and presence.shape == (len(landmarks), 4)
    np.testing.assert_allclose(pose_features(landmarks, presence, attrs["width"], attrs["height"]), pose, atol=1e-6)


@pytest.mark.parametrize(
    "model, expected", [("bilstm.pt", "expected_bilstm_pt.npy"), ("bilstm.onnx", "expected_bilstm_onnx.npy")]
)
def test_legacy_models_give_the_same_log_probs(model, expected):
    from islpose.recognize.runtime import load_student

    got = load_student(LEGACY / model).log_probs(_pose_features())
    np.testing.assert_allclose(got, np.load(LEGACY / expected), atol=1e-5)


def test_legacy_pose_file_reads_as_the_store_and_re_exports_the_same_bytes(tmp_path):
    from islpose.extract.posefile import read_pose
    from islpose.io import FeatureStore

    data = read_pose(LEGACY / "utterance.pose")
    with FeatureStore(LEGACY / "store.h5") as store:
        (uid,) = store.ids()
        landmarks = store.read(uid, "landmarks")
    np.testing.assert_allclose(data.landmarks[..., :3], landmarks[..., :3], atol=1e-6, equal_nan=True)
    from islpose.extract.export_pose import export_poses

    export_poses(LEGACY / "store.h5", tmp_path, None, False, None)
    assert (tmp_path / f"{uid}.pose").read_bytes() == (LEGACY / "utterance.pose").read_bytes()


def test_legacy_recognition_record_is_unchanged(tmp_path):
    from islpose.recognize import Recognizer

    shutil.copy(LEGACY / "utterance.pose", tmp_path / "utterance.pose")
    record = Recognizer.from_checkpoint(LEGACY / "bilstm.pt", beam=1).recognize(tmp_path / "utterance.pose")
    record = record if isinstance(record, dict) else record.to_dict()
    expected = json.loads((LEGACY / "expected_recognize.json").read_text())
    assert {**record, "source": None} == {**expected, "source": None}


def test_viz_alignment_draws_what_the_recognizer_returns(monkeypatch):
    """One inference path: ``align_utterance`` runs the Recognizer (greedy), it decodes nothing itself."""
    from islpose.recognize import Recognizer
    from islpose.viz.alignment import align_utterance

    alignment = align_utterance(LEGACY / "bilstm.pt", LEGACY / "store.h5", "s02_u0011")
    np.testing.assert_allclose(alignment.log_probs, np.load(LEGACY / "expected_bilstm_pt.npy"), atol=1e-5)
    calls = []
    decode = Recognizer.decode_features

    def spy(self, *args, **kwargs):
        calls.append(self.config.beam_size)
        return decode(self, *args, **kwargs)

    monkeypatch.setattr(Recognizer, "decode_features", spy)
    again = align_utterance(LEGACY / "bilstm.pt", LEGACY / "store.h5", "s02_u0011")
    assert calls == [1] and again.segments == alignment.segments
