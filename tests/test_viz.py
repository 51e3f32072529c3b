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


def test_video_shorter_than_the_landmarks_is_an_error(clip, tmp_path):
    from islpose.viz import write_video

    video = tmp_path / "short.mp4"
    write_video([np.zeros((48, 64, 3), np.uint8)] * 3, video, 25.0)
    with pytest.raises(IslposeError, match="fewer frames"):
        render_clip(clip, tmp_path / "x.png", video=video)


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
    record = {"id": clip.name, "source": "synthetic", "duration": len(clip.landmarks) / clip.fps,
              "glosses": ["HELLO"], "segments": [{"gloss": "HELLO", "start": 0.0, "end": 0.2, "score": -0.1}]}
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
