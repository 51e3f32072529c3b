"""Pictures (islpose.viz, `islpose show` / `plot`): files written, frame counts, and that
what is drawn depends on what was detected."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from islpose.cli.main import cli
from islpose.errors import IslposeError
from islpose.features.layout import SLICES

cv2 = pytest.importorskip("cv2")
pytest.importorskip("matplotlib")
from PIL import Image  # noqa: E402  (matplotlib brings Pillow)

from islpose.viz import clip_from_store, draw_skeleton, render_clip  # noqa: E402
from islpose.viz.skeleton import COLOURS, MISSING, status_panel  # noqa: E402


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def colour_pixels(image: np.ndarray, bgr) -> int:
    """Pixels within a few levels of ``bgr`` (anti-aliased edges left out)."""
    return int((np.abs(image.astype(int) - np.array(bgr)).max(axis=-1) <= 8).sum())


@pytest.fixture(scope="module")
def clip(small_corpus):
    return clip_from_store(small_corpus.store, "s00_u0000")


def both_hands_frame(clip) -> int:
    return int(np.flatnonzero(clip.presence[:, 1] & clip.presence[:, 2])[0])


# ---------------------------------------------------------------- drawing
def test_hands_are_drawn_only_where_detected(clip):
    t = both_hands_frame(clip)
    with_hands = draw_skeleton(np.zeros((240, 320, 3), np.uint8), clip.landmarks[t], clip.presence[t])
    without = clip.presence[t].copy()
    without[1:3] = False
    no_hands = draw_skeleton(np.zeros((240, 320, 3), np.uint8), clip.landmarks[t], without)
    for comp in ("left_hand", "right_hand"):
        assert colour_pixels(with_hands, COLOURS[comp]) > 30
        assert colour_pixels(no_hands, COLOURS[comp]) == 0
    assert colour_pixels(with_hands, COLOURS["pose"]) > 30 and colour_pixels(no_hands, COLOURS["pose"]) > 30
    # the lost hands are marked by red rings at the pose's wrists
    assert colour_pixels(no_hands, MISSING) > 20 and colour_pixels(with_hands, MISSING) == 0


def test_nan_landmarks_are_not_drawn_without_presence(clip):
    t = both_hands_frame(clip)
    lm = clip.landmarks[t].copy()
    lm[SLICES["left_hand"]] = np.nan
    image = draw_skeleton(np.zeros((240, 320, 3), np.uint8), lm)
    assert colour_pixels(image, COLOURS["left_hand"]) == 0 and colour_pixels(image, COLOURS["right_hand"]) > 30


def test_status_panel_shows_missing_components_in_red():
    presence = np.ones((10, 4), bool)
    presence[5:, 1] = False
    seen, lost = status_panel(320, 2, presence), status_panel(320, 7, presence)
    assert seen.shape == lost.shape and seen.shape[1] == 320
    legend = slice(0, seen.shape[0] // 3)
    assert colour_pixels(lost[legend], MISSING) > colour_pixels(seen[legend], MISSING) + 20


# ---------------------------------------------------------------- files
def test_contact_sheet_png(clip, tmp_path):
    result = render_clip(clip, tmp_path / "sheet.png", frames=6, width=160)
    image = cv2.imread(str(result.path))
    assert result.frames == 6 and result.background == "blank"
    assert image.shape[1] > 2 * 160 and image.shape[0] > 2 * 120  # several tiles per row, several rows
    assert not list(tmp_path.glob(".*"))  # no temporary file left


def test_gif_and_mp4_have_one_frame_per_landmark_frame(clip, tmp_path):
    gif = render_clip(clip, tmp_path / "clip.gif", width=160)
    with Image.open(gif.path) as im:
        assert im.n_frames == len(clip.landmarks) == gif.frames
        assert im.size[0] == 160
    mp4 = render_clip(clip, tmp_path / "clip.mp4", frames=10, width=160)
    cap = cv2.VideoCapture(str(mp4.path))
    count = 0
    while cap.read()[0]:
        count += 1
    assert count == 10 == mp4.frames
    assert not list(tmp_path.glob(".*"))


def test_drawn_over_the_video(clip, tmp_path):
    from islpose.viz import write_video

    video = tmp_path / "green.mp4"
    frame = np.zeros((clip.height, clip.width, 3), np.uint8)
    frame[:] = (0, 160, 0)
    write_video([frame] * len(clip.landmarks), video, clip.fps)
    result = render_clip(clip, tmp_path / "over.png", video=video, frames=2, width=160)
    assert result.background == str(video)
    blank = render_clip(clip, tmp_path / "blank.png", frames=2, width=160)
    over, plain = cv2.imread(str(result.path)), cv2.imread(str(blank.path))
    assert colour_pixels(over, (0, 160, 0)) > 10 * colour_pixels(plain, (0, 160, 0))


def test_video_shorter_than_the_landmarks(clip, tmp_path):
    """An explicit --video that ends early is an error (and leaves no file); a stored source
    that is too short (replaced since extraction) gives way to a blank canvas."""
    from dataclasses import replace

    from islpose.viz import write_video

    video = tmp_path / "short.mp4"
    write_video([np.zeros((48, 64, 3), np.uint8)] * 3, video, 25.0)
    with pytest.raises(IslposeError, match="ends after 3 frames"):
        render_clip(clip, tmp_path / "x.mp4", video=video)
    assert not list(tmp_path.glob("*x.mp4*"))
    assert render_clip(replace(clip, source=str(video)), tmp_path / "y.gif", width=64).background == "blank"
    short = replace(clip, landmarks=clip.landmarks[:3], presence=clip.presence[:3], source=str(video))
    assert render_clip(short, tmp_path / "z.png", width=64).background == str(video)


def test_missing_extra_is_one_line(monkeypatch, clip, tmp_path):
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(IslposeError, match=r"pip install 'islpose\[viz\]'"):
        render_clip(clip, tmp_path / "x.png")


# ---------------------------------------------------------------- CLI
def test_show_cli(small_corpus, tmp_path):
    out = tmp_path / "u.gif"
    result = run("show", small_corpus.store, "s00_u0001", "--out", out, "--frames", 5)
    assert result.exit_code == 0, result.output
    assert "5 of" in result.output and "blank canvas" in result.output
    with Image.open(out) as im:
        assert im.n_frames == 5
    again = run("show", small_corpus.store, "s00_u0001", "--out", out)
    assert again.exit_code == 1 and "--overwrite" in again.output
    assert run("show", small_corpus.store, "s00_u0001", "--out", out, "--overwrite").exit_code == 0
    bad = run("show", small_corpus.store, "s00_u0001", "--out", tmp_path / "u.avi")
    assert bad.exit_code == 1 and "unknown picture format" in bad.output
    several = run("show", small_corpus.store, "--out", tmp_path / "v.png")
    assert several.exit_code == 1 and "name one" in several.output
    missing = run("show", small_corpus.store, "nope", "--out", tmp_path / "w.png")
    assert missing.exit_code == 1 and "no utterance 'nope'" in missing.output


def test_show_writes_recognised_glosses_on_their_frames(small_corpus, clip, tmp_path):
    record = {
        "id": clip.name,
        "source": "synthetic",
        "duration": len(clip.landmarks) / clip.fps,
        "glosses": ["HELLO"],
        "segments": [{"gloss": "HELLO", "start": 0.0, "end": 0.2, "score": -0.1}],
    }
    rec = tmp_path / "out.jsonl"
    rec.write_text(json.dumps(record) + "\n")
    inside, outside = 1, int(0.2 * clip.fps) + 2  # frame 1 is in the segment, this one after it
    for name, extra in (("with", ["--recognized", rec]), ("without", [])):
        assert run("show", small_corpus.store, clip.name, "--out", tmp_path / f"{name}.gif", *extra).exit_code == 0
    with Image.open(tmp_path / "with.gif") as a, Image.open(tmp_path / "without.gif") as b:

        def top(im, t):
            im.seek(t)
            return np.asarray(im.convert("RGB"))[:30]

        assert not np.array_equal(top(a, inside), top(b, inside))  # the gloss is written
        assert np.array_equal(top(a, outside), top(b, outside))  # and only on its frames
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({**record, "id": "someone_else"}) + "\n")
    result = run("show", small_corpus.store, clip.name, "--out", tmp_path / "x.png", "--recognized", other)
    assert result.exit_code == 1 and "no record for" in result.output


# ---------------------------------------------------------------- training curves
@pytest.fixture(scope="module")
def student_run(small_corpus, tmp_path_factory):
    """A tiny real training run (3 epochs): metrics.jsonl and best.pt."""
    import yaml

    out = tmp_path_factory.mktemp("viz_run")
    config = out / "tiny.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model": "bilstm_optimized",
                "model_config": {"projection_dim": 16, "hidden_dim": 16, "num_layers": 2},
                "train": {"batch_size": 4, "epochs": 3, "warmup_epochs": 1, "progress": False, "lr": 0.003},
            }
        )
    )
    result = run(
        "train",
        "--config",
        config,
        "--features",
        small_corpus.store,
        "--manifest",
        small_corpus.manifest,
        "--out",
        out / "student",
    )
    assert result.exit_code == 0, result.output
    return out / "student"


def teacher_metrics(folder: Path) -> Path:
    """metrics.jsonl with the keys the teacher's trainer logs."""
    folder.mkdir(parents=True)
    lines = [
        {
            "epoch": e,
            "train_loss": 5.0 / e,
            "train_ctc": 4.0 / e,
            "train_ce": 1.0 / e,
            "encoder_lr": 1e-4 * e,
            "decoder_lr": 3e-4 * e,
            "dev_wer": 1.0 - 0.2 * e,
            "dev_bleu": None,
            "dev_substitutions": 3,
            "dev_deletions": 5 - e,
            "dev_insertions": 1,
            "best_wer": 1.0 - 0.2 * e,
            "best_epoch": e,
        }
        for e in (1, 2, 3)
    ]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    return folder


def test_read_metrics_keeps_the_last_record_of_an_epoch(tmp_path):
    from islpose.viz.curves import read_metrics

    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "metrics.jsonl").write_text(
        '{"epoch": 1, "train_loss": 3}\n{"epoch": 2, "train_loss": 2}\n{"epoch": 2, "train_loss": 1.5}\n\n'
    )
    assert [r["train_loss"] for r in read_metrics(folder)] == [3, 1.5]
    (folder / "metrics.jsonl").write_text('{"epoch": 1}\nnot json\n')
    with pytest.raises(IslposeError, match=r"metrics.jsonl:2: not an epoch record"):
        read_metrics(folder)


def test_error_rates_add_up_to_the_wer():
    from islpose.viz.curves import _error_rates

    rates = _error_rates({"dev_wer": 0.25, "dev_substitutions": 2, "dev_deletions": 1, "dev_insertions": 1})
    assert rates == pytest.approx([12.5, 6.25, 6.25])


def test_plot_one_run_and_several_overlaid(student_run, tmp_path):
    one = tmp_path / "one.png"
    result = run("plot", student_run, "--out", one)
    assert result.exit_code == 0, result.output
    assert "1 run(s)" in result.output and "student 3" in result.output
    teacher = teacher_metrics(tmp_path / "teacher")
    several = tmp_path / "several.png"
    result = run("plot", student_run, teacher, "--out", several, "--title", "students and teacher")
    assert result.exit_code == 0, result.output
    a, b = cv2.imread(str(one)), cv2.imread(str(several))
    assert a.shape[1] > 800 and a.shape[0] > 400
    second = (14, 127, 255)  # matplotlib's C1 (orange) in BGR: the second run's lines
    assert colour_pixels(a, second) < 50 < colour_pixels(b, second)


def test_plot_reports_a_bad_folder_and_plots_the_rest(student_run, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "curves.png"
    result = run("plot", student_run, empty, "--out", out)
    assert result.exit_code == 1 and "no metrics.jsonl" in result.output and out.is_file()
    again = run("plot", student_run, "--out", out)
    assert again.exit_code == 1 and "--overwrite" in again.output
    assert run("plot", empty, "--out", tmp_path / "x.png").exit_code == 1
    assert "unknown plot format" in run("plot", student_run, "--out", tmp_path / "x.gif").output


# ---------------------------------------------------------------- posteriorgram
def test_rows_hold_blank_decoded_and_reference_glosses_in_time_order():
    from islpose.viz.alignment import choose_rows

    tokens = ["<blank>", "A", "B", "C", "D"]
    probs = np.full((6, 5), 0.01)
    probs[4, 1] = probs[1, 2] = 0.9  # B peaks before A
    probs[5, 4] = 0.05  # D: the least probable, but decoded
    probs[:, 0] = 0.5
    assert choose_rows(probs, tokens, ["D"], top=3) == [0, 2, 1, 4]  # blank, then B, A, D by peak time; not C


def test_posteriorgram_marks_segments_and_reference(tmp_path):
    from islpose.viz import plot_posteriorgram

    tokens = ["<blank>"] + [f"G{i}" for i in range(30)]
    rng = np.random.default_rng(0)
    lp = np.log(rng.dirichlet(np.ones(31) * 0.3, size=40))
    segments = [{"gloss": "G3", "start": 0.2, "end": 0.6, "score": 0.9}]
    plain = plot_posteriorgram(lp, tokens, tmp_path / "plain.png", frame_seconds=0.04)
    marked = plot_posteriorgram(
        lp,
        tokens,
        tmp_path / "marked.png",
        segments=segments,
        frame_seconds=0.04,
        reference=[{"gloss": "G3", "start": 0.1, "end": 0.5}, {"gloss": "G7", "start": 0.5, "end": 1.2}],
    )
    a, b = cv2.imread(str(plain)), cv2.imread(str(marked))
    assert a.shape[1] > 500 and b.shape[0] > a.shape[0]  # the reference strip is added
    red, green = (40, 39, 214), (44, 160, 44)  # the decoded (HYP) and reference (REF) colours in BGR
    assert colour_pixels(b, red) > colour_pixels(a, red) + 100  # the segment's outline (the label is red in both)
    assert colour_pixels(b, green) > colour_pixels(a, green) + 20
    with pytest.raises(IslposeError, match="log_probs must be"):
        plot_posteriorgram(lp[:, :5], tokens, tmp_path / "bad.png")


def test_show_posteriors_cli(student_run, small_corpus, tmp_path):
    out = tmp_path / "post.png"
    result = run(
        "show",
        small_corpus.store,
        "s01_u0002",
        "--posteriors",
        "--checkpoint",
        student_run / "best.pt",
        "--manifest",
        small_corpus.manifest,
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    assert "model frames of s01_u0002" in result.output and cv2.imread(str(out)).shape[0] > 200
    no_ckpt = run("show", small_corpus.store, "s01_u0002", "--posteriors", "--out", tmp_path / "x.png")
    assert no_ckpt.exit_code == 1 and "--checkpoint" in no_ckpt.output


# ---------------------------------------------------------------- real media
def test_real_pose_file_contact_sheet(media_dir, tmp_path):
    result = run(
        "show",
        media_dir / "poses" / "continuous_signing.pose",
        "--out",
        tmp_path / "p.png",
        "--frames",
        4,
        "--width",
        160,
    )
    assert result.exit_code == 0, result.output
    assert "4 of 130 frames of continuous_signing" in result.output


def test_real_clip_shows_where_a_hand_was_lost(media_dir, tmp_path):
    """webcam_signer.mp4: MediaPipe misses the signer's right hand in frame 26 while the
    pose puts her wrist in view; the overlay marks it with a red ring."""
    from islpose._native import silenced_stderr
    from islpose.extract.holistic import extract_landmarks
    from islpose.viz import Clip, render_frames

    video = media_dir / "videos" / "webcam_signer.mp4"
    with silenced_stderr():
        got = extract_landmarks(video)
    clip = Clip(got.landmarks, got.presence, got.fps, got.width, got.height, source=str(video), name="webcam")
    lost = [
        t
        for t in range(len(clip.presence))
        if not clip.presence[t, 2] and clip.presence[t, 0] and got.landmarks[t, 16, 3] >= 0.5
    ]
    found = [t for t in range(len(clip.presence)) if clip.presence[t, 2]]
    assert lost and found, "the clip no longer has both a lost and a detected right hand"
    (a, b), used = render_frames(clip, [lost[0], found[0]], 270)
    assert used == str(video)
    image_h = a.shape[0] - status_panel(270, 0, clip.presence).shape[0]
    assert colour_pixels(a[:image_h], MISSING) > 30 > colour_pixels(b[:image_h], MISSING)
    assert colour_pixels(b[:image_h], COLOURS["right_hand"]) > 30 > colour_pixels(a[:image_h], COLOURS["right_hand"])


def test_show_on_a_video_says_to_extract_first(media_dir, tmp_path):
    video = media_dir / "videos" / "webcam_signer.mp4"
    result = run("show", video, "--out", tmp_path / "v.png")
    assert result.exit_code == 1 and list(tmp_path.iterdir()) == []
    assert result.output.strip() == (
        f"error: {video}: a video; show draws landmarks, so extract them first: "
        f"`islpose extract {video} feats.h5`, then `islpose show feats.h5 --video "
        f"{video} --out {tmp_path / 'v.png'}`"
    )
