"""Live recognition: the streaming recogniser converges to the offline result, the commit rule,
the frame sources (a video standing in for a camera) and ``islpose live``."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch

from islpose.errors import IslposeError
from islpose.recognize import LiveEvent, Recognizer, StreamConfig
from islpose.recognize.stream import committed_prefix
from islpose.testing.synthetic import FPS, HEIGHT, WIDTH
from tests.train_helpers import run


@pytest.fixture(scope="module")
def lookahead_run(trained_bilstm, tmp_path_factory):
    """A small lstm_lookahead trained on the corpus of ``trained_bilstm``: (corpus, run folder)."""
    from islpose.train import resolve_config, train

    corpus, _ = trained_bilstm
    out = tmp_path_factory.mktemp("lookahead") / "run"
    config = resolve_config(
        "lstm_lookahead",
        {
            "model_config": {"projection_dim": 64, "hidden_dim": 128, "num_layers": 2, "lookahead": 3, "dropout": 0.1},
            "train": {
                "epochs": 40,
                "batch_size": 8,
                "warmup_epochs": 1,
                "lr": 3e-3,
                "device": "cpu",
                "progress": False,
                "amp": False,
                "patience": 0,
                "seed": 0,
            },
        },
    )
    train(config, corpus.store, corpus.manifest, out)
    return corpus, out


def _sentences(corpus, split: str = "test", n: int = 8) -> list[tuple[str, np.ndarray]]:
    from islpose.io import FeatureStore
    from islpose.manifests import read_manifest

    ids = [u.id for u in read_manifest(corpus.manifest) if u.split == split][:n]
    with FeatureStore(corpus.store) as store:
        return [(uid, store.read(uid, "landmarks")) for uid in ids]


def _stream_all(rec, lm, config, chunk: int = 1):
    """(events committed before the flush, events of the flush) of frames pushed ``chunk`` at a time."""
    stream = rec.stream(FPS, WIDTH, HEIGHT, config)
    live = []
    for i in range(0, len(lm), chunk):
        live += stream.push(lm[i : i + chunk] if chunk > 1 else lm[i])
        assert all(not e.final for e in stream.partial())
    return live, stream.flush()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model", "context"), [("bilstm", 0.6), ("bilstm", 1.0), ("lookahead", 0.3), ("lookahead", 0.6)]
)
def test_flushed_stream_gives_the_offline_glosses(model, context, trained_bilstm, request):
    # A bidirectional model needs more right context than the causal one before its early
    # decisions agree with the decode of the whole input (a commit is never withdrawn).
    corpus, run_dir = trained_bilstm if model == "bilstm" else request.getfixturevalue("lookahead_run")
    rec = Recognizer.from_checkpoint(run_dir / "best.pt", beam=1)
    committed_live = 0
    for uid, lm in _sentences(corpus, "test") + _sentences(corpus, "dev", 4):
        offline = rec.recognize_landmarks(lm, FPS, WIDTH, HEIGHT)
        live, flushed = _stream_all(rec, lm, StreamConfig(hop=0.2, right_context=context))
        assert [e.gloss for e in live + flushed] == offline.glosses.split(), uid
        # the flushed glosses carry the offline times
        offline_tail = offline.segments[len(live) :]
        assert [t for e in flushed for t in (e.start, e.end)] == pytest.approx(
            [t for s in offline_tail for t in (s.start, s.end)], abs=1e-3
        )
        for e in live:  # the commit rule: enough right context seen
            assert e.final and e.emitted_at - e.end >= context - 1e-6
        committed_live += len(live)
    assert committed_live > 0  # glosses do come out before the end


@pytest.mark.slow
def test_chunks_with_times_converge_like_single_frames(trained_bilstm):
    corpus, run_dir = trained_bilstm
    rec = Recognizer.from_checkpoint(run_dir / "best.pt", beam=1)
    for _, lm in _sentences(corpus, "test", 3):
        stream = rec.stream(FPS, WIDTH, HEIGHT, StreamConfig(hop=0.2, right_context=0.6))
        events = []
        for i in range(0, len(lm), 7):
            events += stream.push(lm[i : i + 7], np.arange(i, min(i + 7, len(lm))) / FPS)
        events += stream.flush()
        assert [e.gloss for e in events] == rec.recognize_landmarks(lm, FPS, WIDTH, HEIGHT).glosses.split()
        assert all(e.emitted_at <= (len(lm) - 1) / FPS + 1e-6 for e in events)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["bilstm", "lookahead"])
def test_onnx_model_streams_to_its_offline_result(model, trained_bilstm, tmp_path, request):
    from islpose.export.onnx import export_onnx

    corpus, run_dir = trained_bilstm if model == "bilstm" else request.getfixturevalue("lookahead_run")
    rec = Recognizer.from_checkpoint(export_onnx(run_dir / "best.pt", tmp_path / "m.onnx"), beam=1)
    torch_rec = Recognizer.from_checkpoint(run_dir / "best.pt", beam=1)
    for _, lm in _sentences(corpus, "test", 4):
        offline = rec.recognize_landmarks(lm, FPS, WIDTH, HEIGHT).glosses
        assert offline == torch_rec.recognize_landmarks(lm, FPS, WIDTH, HEIGHT).glosses
        live, flushed = _stream_all(rec, lm, StreamConfig(hop=0.25, right_context=0.6), chunk=3)
        assert [e.gloss for e in live + flushed] == offline.split()


def test_committed_prefix_aligns_by_edit_distance():
    assert committed_prefix(["A", "B"], ["A", "B", "C"]) == 2
    assert committed_prefix(["A", "B"], ["A", "C", "B", "D"]) == 3  # a gloss inserted before B: B stays matched
    assert committed_prefix(["A"], ["B", "A"]) == 2
    assert committed_prefix(["A"], ["A", "A"]) == 1
    assert committed_prefix([], ["A"]) == 0
    assert committed_prefix(["A"], ["B", "C"], limit=1) == 1  # only glosses before the committed end can match


def test_live_command_defaults_are_the_stream_defaults():
    from islpose.cli import live

    assert (live.HOP, live.WINDOW, live.RIGHT_CONTEXT) == (
        StreamConfig.hop,
        StreamConfig.window,
        StreamConfig.right_context,
    )


def test_event_dict_marks_partials_only():
    event = LiveEvent("cam0", "HELLO", 0.5, 1.0, 0.9, 1.7)
    assert event.to_dict() == {
        "id": "cam0",
        "gloss": "HELLO",
        "start": 0.5,
        "end": 1.0,
        "score": 0.9,
        "emitted_at": 1.7,
    }
    assert LiveEvent("cam0", "HELLO", 0.5, 1.0, 0.9, 1.7, final=False).to_dict()["final"] is False


@pytest.mark.parametrize(
    "bad", [{"hop": 0}, {"window": -1}, {"right_context": -0.1}, {"window": 1.0}, {"max_flush": 0}]
)
def test_stream_config_checks_its_values(bad):
    with pytest.raises(IslposeError):
        StreamConfig(**bad).check()


class _Uniform:
    """A stand-in student: uniform log-probabilities (no gloss ever wins)."""

    feature, subsample, input_dim, name = "pose", 2, 66, "uniform"

    def __init__(self):
        from islpose.vocab import Vocabulary

        self.vocab = Vocabulary(["A", "B"], unk=False)  # <blank>, A, B

    def log_probs(self, features):
        lp = np.full(((len(features) + 1) // 2, 3), -5.0, dtype=np.float32)
        lp[:, 0] = 0.0
        return lp


def test_push_checks_shapes_times_and_the_end(small_corpus):
    rec = Recognizer(_Uniform())
    stream = rec.stream(FPS, WIDTH, HEIGHT)
    ((_, lm),) = _sentences(small_corpus, "train", 1)
    with pytest.raises(IslposeError, match="landmarks must be"):
        stream.push(np.zeros((10, 4)))
    with pytest.raises(IslposeError, match="2 frames need 2 times"):
        stream.push(lm[:2], [0.0])
    stream.push(lm[:3], [0.0, 0.04, 0.08])
    with pytest.raises(IslposeError, match="increasing"):
        stream.push(lm[3], 0.08)
    assert stream.flush() == [] and stream.partial() == []
    with pytest.raises(IslposeError, match="flushed"):
        stream.push(lm[3], 0.2)
    with pytest.raises(IslposeError, match="frame rate"):
        rec.stream(0, WIDTH, HEIGHT)


def test_nobody_in_view_gives_no_event():
    stream = Recognizer(_Uniform()).stream(FPS, WIDTH, HEIGHT, StreamConfig(hop=0.04))
    empty = np.full((30, 543, 4), np.nan, dtype=np.float32)
    assert stream.push(empty) == [] and stream.flush() == []


def test_old_frames_are_let_go(small_corpus):
    ((_, lm),) = _sentences(small_corpus, "train", 1)
    stream = Recognizer(_Uniform()).stream(
        FPS, WIDTH, HEIGHT, StreamConfig(window=2.0, right_context=0.5, max_flush=2.0)
    )
    for i in range(200):
        stream.push(lm[i % len(lm)])
    assert stream.num_frames == 200 and len(stream._frames) <= 2 * FPS + 1


def test_pacer_holds_frames_until_their_media_time():
    from islpose.recognize.sources import _Pacer

    now = [100.0]
    slept = []
    pacer = _Pacer(True, clock=lambda: now[0], sleep=lambda s: (slept.append(s), now.__setitem__(0, now[0] + s)))
    pacer.wait(0.0)
    now[0] += 0.01
    pacer.wait(0.04)
    assert slept == pytest.approx([0.03])
    now[0] += 1.0  # fell behind: no waiting
    pacer.wait(0.08)
    assert len(slept) == 1


@pytest.fixture(scope="module")
def video(small_corpus, tmp_path_factory):
    """A rendered synthetic sentence (.mp4, 160x120, 25 fps) and its frame count."""
    import cv2

    from islpose.testing.render import render_synthetic_videos

    manifest = render_synthetic_videos(small_corpus, tmp_path_factory.mktemp("videos"))
    path = sorted((manifest.parent / "videos").glob("*.mp4"))[0]
    return path, int(cv2.VideoCapture(str(path)).get(cv2.CAP_PROP_FRAME_COUNT))


@pytest.mark.slow
def test_camera_drops_frames_instead_of_queuing(video):
    import cv2

    from islpose.recognize.sources import CameraSource

    path, total = video
    opened = []

    def factory(index):  # a video file stands in for camera `index`; it delivers frames as fast as it can
        opened.append(index)
        return cv2.VideoCapture(str(path))

    camera = CameraSource(3, capture_factory=factory)
    assert (camera.uid, camera.width, camera.height, opened) == ("cam3", 160, 120, [3])
    times = []
    for lm, t in camera.frames():
        assert lm.shape == (543, 4)
        times.append(t)
        time.sleep(0.02)  # processing slower than the capture
    assert camera.delivered == len(times) >= 1
    assert camera.delivered + camera.dropped == total and camera.dropped > 0
    assert times == sorted(times)


@pytest.mark.slow
def test_video_source_gives_every_frame_at_its_media_time(video):
    from islpose.recognize.sources import open_source

    path, total = video
    source = open_source(path)
    times = [t for _, t in source.frames()]
    assert (source.uid, source.fps, len(times), source.dropped) == (path.stem, 25.0, total, 0)
    assert times == pytest.approx(np.arange(total) / 25.0)


def test_bad_camera_and_video_are_one_line(tmp_path):
    import cv2

    from islpose.recognize.sources import CameraSource, open_source

    with pytest.raises(IslposeError, match="camera 7: cannot be opened"):
        CameraSource(7, capture_factory=lambda i: cv2.VideoCapture(str(tmp_path / "none.mp4")))
    (tmp_path / "bad.mp4").write_text("not a video")
    with pytest.raises(IslposeError, match="bad.mp4: cannot be opened"):
        open_source(tmp_path / "bad.mp4")


@pytest.fixture(scope="module")
def pose_file(trained_bilstm, tmp_path_factory):
    from islpose.extract.posefile import write_pose

    corpus, _ = trained_bilstm
    ((uid, lm),) = _sentences(corpus, "test", 1)
    return write_pose(tmp_path_factory.mktemp("pose") / f"{uid}.pose", lm, FPS, WIDTH, HEIGHT)


@pytest.mark.slow
def test_live_cli_writes_committed_glosses_and_reports_bad_sources(
    trained_bilstm, pose_file, video, tmp_path, monkeypatch
):
    import cv2

    from islpose.recognize import sources

    _, run_dir = trained_bilstm
    monkeypatch.setattr(sources, "CAPTURE_FACTORY", lambda index: cv2.VideoCapture(str(video[0])))
    out = tmp_path / "events.jsonl"
    result = run(
        "live",
        pose_file,
        tmp_path / "missing.pose",
        "0",
        video[0],
        "--checkpoint",
        run_dir / "best.pt",
        "--out",
        out,
        "--no-display",
    )
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "missing.pose" in errors[0]
    assert "3 source(s) done, 1 failed" in result.output
    assert "cam0:" in result.output and "dropped" in result.output
    events = [json.loads(line) for line in out.read_text().splitlines()]
    offline = Recognizer.from_checkpoint(run_dir / "best.pt", beam=1).recognize(pose_file)
    mine = [e for e in events if e["id"] == pose_file.stem]
    assert [e["gloss"] for e in mine] == offline.glosses.split() != []
    assert all(set(e) == {"id", "gloss", "start", "end", "score", "emitted_at"} for e in events)
    assert all(e["emitted_at"] >= e["end"] for e in mine)
    again = run("live", pose_file, "--checkpoint", run_dir / "best.pt", "--out", out, "--no-display")
    assert again.exit_code == 1 and "already exists" in again.output


@pytest.mark.slow
def test_live_cli_leaves_no_file_when_every_source_fails(trained_bilstm, tmp_path):
    out = tmp_path / "events.jsonl"
    result = run("live", tmp_path / "none.mp4", "--checkpoint", trained_bilstm[1] / "best.pt", "--out", out)
    assert result.exit_code == 1 and "0 source(s) done, 1 failed" in result.output
    assert not out.exists()


def test_lstm_lookahead_sees_only_its_lookahead():
    from islpose.models import build_model

    torch.manual_seed(0)
    model = build_model(
        "lstm_lookahead", {"projection_dim": 16, "hidden_dim": 16, "num_layers": 2, "lookahead": 2}, vocab_size=5
    ).eval()
    x = torch.randn(1, 40, 66)
    changed = x.clone()
    changed[:, 20:] += 1.0  # input frames 20 on: output frame t sees inputs up to 2 * (t + 2) + 1
    with torch.no_grad():
        a, _ = model(x, torch.tensor([40]))
        b, _ = model(changed, torch.tensor([40]))
    differs = (a - b).abs().amax(dim=(1, 2)) > 0
    assert not differs[:8].any() and differs[8]


class _Frames:
    """A stand-in source: ``n`` copies of one frame, Ctrl-C after ``stop`` of them."""

    uid, fps, width, height, dropped, delivered = "fake", FPS, WIDTH, HEIGHT, 0, 0

    def __init__(self, lm, n, stop=None):
        self.lm, self.n, self.stop, self.closed = lm, n, stop, False

    def frames(self):
        for i in range(self.n):
            if i == self.stop:
                raise KeyboardInterrupt
            self.delivered += 1
            yield self.lm, i / FPS

    def close(self):
        self.closed = True


def test_run_live_stops_on_ctrl_c_and_still_flushes(small_corpus):
    from islpose.recognize.live import run_live

    ((_, lm),) = _sentences(small_corpus, "train", 1)
    source = _Frames(lm[0], 50, stop=20)
    stats = run_live(source, Recognizer(_Uniform()), StreamConfig(hop=0.1))
    assert stats.interrupted and source.closed and stats.frames == 20
    assert stats.media_seconds == pytest.approx(20 / FPS) and stats.events == [] and stats.latency is None


def test_live_display_draws_glosses_partial_and_rates():
    from io import StringIO

    from rich.console import Console

    from islpose.cli.live import _Display
    from islpose.recognize.live import LiveStats

    out = StringIO()
    stats = LiveStats(
        "cam0",
        frames=50,
        dropped=3,
        media_seconds=2.0,
        wall_seconds=1.0,
        events=[LiveEvent("cam0", "HELLO", 0.2, 0.8, 0.9, 1.3)],
        partial=[LiveEvent("cam0", "WORLD", 1.0, 1.6, 0.5, 2.0, final=False)],
    )
    with _Display(Console(file=out, force_terminal=True, width=120)) as display:
        display.update(stats)
    text = out.getvalue()
    assert "HELLO" in text and "WORLD" in text and "50.0 fps" in text and "dropped 3" in text and "0.50s" in text


@pytest.mark.slow
def test_live_cli_on_real_media_and_a_camera(trained_bilstm, media_dir, tmp_path, monkeypatch):
    import cv2

    from islpose.recognize import sources

    video = media_dir / "videos" / "webcam_signer.mp4"
    monkeypatch.setattr(sources, "CAPTURE_FACTORY", lambda index: cv2.VideoCapture(str(video)))
    out = tmp_path / "events.jsonl"
    result = run(
        "live",
        media_dir / "poses" / "continuous_signing.pose",
        video,
        "0",
        "--checkpoint",
        trained_bilstm[1] / "best.pt",
        "--out",
        out,
        "--no-display",
    )
    assert result.exit_code == 0, result.output
    assert "3 source(s) done, 0 failed" in result.output
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert {e["id"] for e in events} >= {"continuous_signing", "webcam_signer"}
    for e in events:
        assert 0 <= e["start"] < e["end"] <= e["emitted_at"] + 1e-6 and 0 <= e["score"] <= 1
