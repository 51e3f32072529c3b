"""Exporting a (tiny, random) teacher's CTC log-posteriors into a feature store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from islpose.data.posteriors import check_teacher_vocab, teacher_vocab
from islpose.errors import StoreError
from islpose.io import FeatureStore
from islpose.manifests import Utterance
from islpose.teacher.config import load_teacher_config
from islpose.teacher.export_posteriors import VideoSource, export_posteriors
from islpose.teacher.models import build_teacher
from islpose.teacher.video import normalize_frames, read_video
from islpose.vocab import Vocabulary

cv2 = pytest.importorskip("cv2")
CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def write_video(path: Path, num_frames: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (40, 30))
    for _ in range(num_frames):
        writer.write(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8))
    writer.release()
    return str(path)


def test_export_writes_logprobs_resumes_and_checks_the_vocabulary(tmp_path):
    cfg = load_teacher_config(CONFIGS / "teacher_dense_vit_tiny.yaml")
    vocab = Vocabulary(["GO", "I", "SCHOOL"])
    torch.manual_seed(0)
    model = build_teacher("dense_vit", cfg.model_config, vocab_size=len(vocab))
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 64)
    utts = [Utterance(id=f"u{n}", video=write_video(tmp_path / f"{n}.avi", n, n)) for n in (5, 13, 30)]
    utts.append(Utterance(id="broken", video=str(tmp_path / "broken.mp4")))
    out = tmp_path / "teacher.h5"
    seen = []
    report = export_posteriors(
        model,
        vocab,
        VideoSource(utts, cfg.video),
        out,
        batch_size=2,
        teacher={"arch": "dense_vit"},
        progress=lambda done, total: seen.append((done, total)),
    )
    assert sorted(report.written) == ["u13", "u30", "u5"] and report.skipped == []
    assert [uid for uid, _ in report.failures] == ["broken"] and "broken.mp4" in report.failures[0][1]
    assert seen[-1] == (4, 4)

    model.eval()
    with FeatureStore(out) as store:
        assert teacher_vocab(store) == vocab and store.metadata["teacher"] == '{"arch": "dense_vit"}'
        for utt in utts[:3]:
            lp = store.read(utt.id, "teacher_logprobs")
            frames = read_video(utt.video, cfg.video)[0]
            assert lp.shape == (len(frames), len(vocab)) and lp.dtype == np.float32
            np.testing.assert_allclose(np.logaddexp.reduce(lp, axis=1), 0, atol=1e-5)
            x = normalize_frames(torch.from_numpy(frames).permute(0, 3, 1, 2)[None])
            with torch.no_grad():
                alone = model(x, torch.tensor([len(frames)])).log_probs[:, 0].numpy()
            np.testing.assert_allclose(lp, alone, atol=1e-5, rtol=1e-4)
            assert store.attrs(utt.id)["source"] == utt.video

    again = export_posteriors(model, vocab, VideoSource(utts, cfg.video), out, batch_size=2)
    assert again.written == [] and sorted(again.skipped) == ["u13", "u30", "u5"] and len(again.failures) == 1

    other = Vocabulary(["GO", "I", "HOME"])
    with pytest.raises(StoreError, match="teacher vocabulary .* differs"):
        export_posteriors(
            build_teacher("dense_vit", cfg.model_config, vocab_size=len(other)),
            other,
            VideoSource(utts, cfg.video),
            out,
        )
    with FeatureStore(out) as store, pytest.raises(StoreError, match="differs.*index 3"):
        check_teacher_vocab(store, other)


def test_export_refuses_a_store_of_features(tmp_path):
    cfg = load_teacher_config(CONFIGS / "teacher_dense_vit_tiny.yaml")
    vocab = Vocabulary(["A"])
    with FeatureStore(tmp_path / "f.h5", "w") as store:
        store.write("x", {"pose": np.zeros((3, 66), np.float32)})
    model = build_teacher("dense_vit", cfg.model_config, vocab_size=len(vocab))
    with pytest.raises(StoreError, match="not a teacher export"):
        export_posteriors(model, vocab, VideoSource([], cfg.video), tmp_path / "f.h5")
