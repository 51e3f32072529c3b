"""The ``tasks`` extraction backend around its graph: a fake landmarker stands in for MediaPipe's
Tasks HolisticLandmarker (the real graph is tested in ``test_holistic_tasks_real.py``)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner

from islpose.errors import IslposeError
from islpose.extract import holistic_tasks as ht

CLIP = "videos/studio_signer_9frames.mp4"


def _points(n: int, base: float, visibility: float | None = None) -> list:
    return [SimpleNamespace(x=base + i * 1e-4, y=base + 2e-4 * i, z=-0.01 * i, visibility=visibility) for i in range(n)]


class FakeLandmarker:
    """Answers every frame with a pose, a 478-point face and a right hand on odd frames."""

    def __init__(self, settings: ht.TasksSettings) -> None:
        self.settings = settings
        self.stamps: list[int] = []
        self.closed = False

    def detect_for_video(self, image, stamp: int):
        self.stamps.append(stamp)
        odd = len(self.stamps) % 2 == 0
        return SimpleNamespace(
            pose_landmarks=_points(33, 0.3, visibility=0.9),
            left_hand_landmarks=[],
            right_hand_landmarks=_points(21, 0.6) if odd else [],
            face_landmarks=_points(478, 0.4),
        )

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake(monkeypatch):
    """Replaces the real landmarker (and its availability check) by :class:`FakeLandmarker`."""
    made: list[FakeLandmarker] = []

    def factory(settings):
        made.append(FakeLandmarker(settings))
        return made[-1]

    monkeypatch.setattr(ht, "create_landmarker", factory)
    monkeypatch.setattr(ht, "check_tasks_available", lambda: None)
    monkeypatch.setattr(ht, "_image", lambda rgb: rgb)
    return made


@pytest.fixture
def model(tmp_path) -> Path:
    path = tmp_path / "holistic_landmarker.task"
    path.write_bytes(b"not really a model")
    return path


def test_face_of_478_points_keeps_the_468_mesh_points():
    points = _points(478, 0.1)
    assert ht.face_mesh(points) == points[:468]
    assert ht.face_mesh(points[:468]) == points[:468]
    with pytest.raises(IslposeError, match="470 points"):
        ht.face_mesh(points[:470])


def test_frame_clock_is_strictly_increasing():
    clock = ht.FrameClock(fps=25.0)
    stamps = [clock.next(t) for t in (0.0, 40.0, 40.0, float("nan"), None, 200.0, 100.0)]
    assert stamps == [0, 40, 80, 120, 160, 200, 240]


def test_landmarks_map_onto_the_legacy_layout(media_dir, fake, model):
    from islpose.extract.holistic import extract_landmarks

    settings = ht.TasksSettings(model=str(model))
    data = extract_landmarks(media_dir / CLIP, graph=ht.tasks_graph(settings))
    lm, presence = data.landmarks, data.presence
    assert lm.shape == (9, 543, 4) and presence.shape == (9, 4)
    assert presence[:, 0].all() and presence[:, 3].all() and not presence[:, 1].any()
    assert presence[:, 2].tolist() == [i % 2 == 1 for i in range(9)]
    face = np.array([(p.x, p.y, p.z, 1.0) for p in _points(478, 0.4)[:468]], dtype=np.float32)
    np.testing.assert_array_equal(lm[0, 75:543], face)
    np.testing.assert_allclose(lm[0, 0:33, 3], 0.9)  # the pose keeps its visibility
    assert np.isnan(lm[:, 33:54]).all() and np.isnan(lm[0, 54:75]).all()
    stamps = fake[0].stamps
    assert len(stamps) == 9 and all(b > a for a, b in zip(stamps, stamps[1:]))
    assert stamps[1] == round(1000 / data.fps)  # the clip's own frame times
    assert fake[0].closed


def test_backend_default_and_unknown(monkeypatch):
    monkeypatch.setattr(ht, "legacy_available", lambda: True)
    assert ht.resolve_backend(None) == "legacy"
    monkeypatch.setattr(ht, "legacy_available", lambda: False)
    assert ht.resolve_backend(None) == "tasks"
    assert ht.resolve_backend("legacy") == "legacy"
    with pytest.raises(IslposeError, match="unknown backend 'gpu'"):
        ht.resolve_backend("gpu")


def test_missing_model_says_where_to_get_it(monkeypatch, tmp_path, model):
    monkeypatch.delenv(ht.MODEL_ENV, raising=False)
    with pytest.raises(IslposeError, match="--holistic-model") as info:
        ht.resolve_model(None)
    assert ht.MODELS_PAGE in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(IslposeError, match="not found") as info:
        ht.resolve_model(tmp_path / "nothing.task")
    assert ht.MODELS_PAGE in str(info.value)
    monkeypatch.setenv(ht.MODEL_ENV, str(model))
    assert ht.resolve_model(None) == model


def test_tasks_refuses_mediapipe_0_10_21(monkeypatch):
    import islpose.extract.holistic as legacy

    monkeypatch.setattr(legacy, "mediapipe_version", lambda: "0.10.21")
    with pytest.raises(IslposeError, match="needs mediapipe >= 0.10.30"):
        ht.check_tasks_available()


def test_extractor_records_backend_and_model_hash(model):
    import hashlib

    from islpose.extract.videos import ExtractConfig

    legacy = ExtractConfig(backend="legacy").extractor()
    assert "backend" not in legacy and "holistic_model_sha256" not in legacy  # legacy stores as before
    tasks = ExtractConfig(backend="tasks", holistic_model=str(model)).extractor()
    assert tasks["backend"] == "tasks"
    assert tasks["holistic_model_sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert tasks["holistic"]["running_mode"] == "VIDEO"
    assert str(model) not in str(tasks)  # the path is local; the hash identifies the model


def test_store_of_one_backend_refuses_the_other(media_dir, fake, model, tmp_path):
    from islpose.extract.holistic import mediapipe_version
    from islpose.extract.videos import ExtractConfig, extract
    from islpose.io import FeatureStore

    out = tmp_path / "feats.h5"
    summary = extract([media_dir / CLIP], out, ExtractConfig(workers=1, backend="tasks", holistic_model=str(model)))
    assert summary.done == ["studio_signer_9frames"]
    with FeatureStore(out, "r") as store:
        meta = store.metadata
    assert meta["extractor"]["backend"] == "tasks" and meta["mediapipe_version"] == mediapipe_version()
    with pytest.raises(IslposeError, match="extracted with the tasks backend, not legacy"):
        extract([media_dir / CLIP], out, ExtractConfig(workers=1, backend="legacy"))
    # the same backend resumes (nothing to redo)
    again = extract([media_dir / CLIP], out, ExtractConfig(workers=1, backend="tasks", holistic_model=str(model)))
    assert again.skipped == ["studio_signer_9frames"]


def test_legacy_store_refuses_tasks_unless_overwrite(media_dir, fake, model, tmp_path):
    from islpose.extract.videos import ExtractConfig, check_backend
    from islpose.io import FeatureStore

    out = tmp_path / "legacy.h5"
    with FeatureStore(out, "w", metadata=ExtractConfig(backend="legacy").metadata()) as store:
        lm = np.zeros((3, 543, 4), np.float32)
        from islpose.extract.runner import utterance_record
        from islpose.features.layout import Landmarks

        data = Landmarks(landmarks=lm, presence=np.ones((3, 4), bool), fps=25.0, width=64, height=48)
        store.write("u1", *utterance_record(data, {}))
    with pytest.raises(IslposeError, match="legacy backend, not tasks: use --backend legacy, --overwrite"):
        check_backend(out, "tasks")
    check_backend(out, "legacy")


def test_cli_tasks_without_model_is_one_line(media_dir, monkeypatch, tmp_path):
    from islpose.cli.main import cli

    monkeypatch.delenv(ht.MODEL_ENV, raising=False)
    monkeypatch.setattr(ht, "check_tasks_available", lambda: None)
    result = CliRunner().invoke(cli, ["extract", str(media_dir / CLIP), str(tmp_path / "o.h5"), "--backend", "tasks"])
    assert result.exit_code != 0
    assert ht.MODELS_PAGE in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o.h5").exists()


def test_recognize_takes_the_backend_options():
    from islpose.cli.main import cli

    result = CliRunner().invoke(cli, ["recognize", "--help"])
    assert "--backend [legacy|tasks]" in result.output and "--holistic-model" in result.output


def test_recognize_with_tasks_and_no_model_fails_once_up_front(media_dir, monkeypatch, tmp_path):
    from islpose.extract.videos import ExtractConfig
    from islpose.recognize.run import recognize_files

    monkeypatch.delenv(ht.MODEL_ENV, raising=False)
    with pytest.raises(IslposeError, match="not found; download holistic_landmarker.task"):
        recognize_files(
            None,
            [media_dir / CLIP],
            tmp_path / "out.jsonl",
            extract=ExtractConfig(backend="tasks", holistic_model=str(tmp_path / "none.task")),
        )
    assert not (tmp_path / "out.jsonl").exists()
