"""The ``tasks`` backend with MediaPipe's real Tasks HolisticLandmarker graph.

Needs the current mediapipe (``pip install 'islpose[tasks]'``) and a Holistic Landmarker model
in ``ISLPOSE_TEST_HOLISTIC_MODEL``: CI builds one from the mediapipe 0.10.21 wheel's own
weights with ``pipelines/tools/holistic_bundle.py``, so the result can be held against the
legacy backend's landmarks of the same clip (``tests/data/holistic``, made by
``mediapipe.solutions.holistic`` 0.10.21). Elsewhere these tests skip, saying why.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from islpose.errors import IslposeError

MODEL = os.environ.get("ISLPOSE_TEST_HOLISTIC_MODEL", "")
REFERENCE = Path(__file__).parent / "data" / "holistic" / "legacy_studio_signer_9frames.npz"
CLIP = "videos/studio_signer_9frames.mp4"
TOOL = Path(__file__).parents[1] / "pipelines" / "tools" / "holistic_bundle.py"


def _unavailable() -> str | None:
    from islpose.extract.holistic_tasks import check_tasks_available

    try:
        check_tasks_available()
    except IslposeError as exc:
        return f"no usable Tasks HolisticLandmarker here ({exc})"
    if not MODEL or not Path(MODEL).is_file():
        return (
            "no Holistic Landmarker model: set ISLPOSE_TEST_HOLISTIC_MODEL to a .task file "
            "(pipelines/tools/holistic_bundle.py builds one)"
        )
    return None


pytestmark = [pytest.mark.tasks, pytest.mark.skipif(bool(_unavailable()), reason=_unavailable() or "")]


def test_real_graph_agrees_with_the_legacy_backend(media_dir):
    from islpose.extract.holistic import extract_landmarks
    from islpose.extract.holistic_tasks import TasksSettings, tasks_graph

    data = extract_landmarks(media_dir / CLIP, graph=tasks_graph(TasksSettings(model=MODEL)))
    ref = np.load(REFERENCE)
    assert data.landmarks.shape == (9, 543, 4)
    np.testing.assert_array_equal(data.presence, ref["presence"])
    scale = np.array([ref["width"], ref["height"]], dtype=np.float64)
    for name, rows in (
        ("pose", slice(0, 33)),
        ("left hand", slice(33, 54)),
        ("right hand", slice(54, 75)),
        ("face", slice(75, 543)),
    ):
        both = data.presence[:, ["pose", "left hand", "right hand", "face"].index(name)]
        d = (data.landmarks[both][:, rows, :2] - ref["xy"][both][:, rows]) * scale
        median = float(np.median(np.hypot(d[..., 0], d[..., 1])))
        assert median < 2.0, f"{name}: median {median:.2f} px from the legacy backend"


def test_bundle_face_iris_points_repeat_mesh_points(media_dir):
    """The test bundle's 10 stand-in iris points are mesh points, not zeros at the crop's corner
    (which would enlarge the box the Tasks graph tracks the face with)."""
    import importlib.util

    import cv2

    from islpose.extract.holistic_tasks import TasksSettings, _image, create_landmarker

    spec = importlib.util.spec_from_file_location("holistic_bundle", TOOL)
    bundle = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bundle)
    cap = cv2.VideoCapture(str(media_dir / CLIP))
    ok, frame = cap.read()
    cap.release()
    assert ok
    landmarker = create_landmarker(TasksSettings(model=MODEL))
    try:
        result = landmarker.detect_for_video(_image(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)), 0)
    finally:
        landmarker.close()
    face = np.array([(p.x, p.y, p.z) for p in result.face_landmarks])
    assert face.shape == (478, 3)
    np.testing.assert_allclose(face[468:], face[list(bundle.IRIS_STAND_INS)], atol=1e-6)


def test_cli_extract_with_the_tasks_backend(media_dir, tmp_path):
    from click.testing import CliRunner

    from islpose.cli.main import cli
    from islpose.io import FeatureStore

    out = tmp_path / "feats.h5"
    result = CliRunner().invoke(
        cli,
        [
            "extract",
            str(media_dir / CLIP),
            str(out),
            "--backend",
            "tasks",
            "--holistic-model",
            MODEL,
            "--workers",
            "1",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    with FeatureStore(out, "r") as store:
        assert len(store) == 1
        extractor = store.metadata["extractor"]
    assert extractor["backend"] == "tasks" and len(extractor["holistic_model_sha256"]) == 64
