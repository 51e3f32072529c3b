"""The teacher's video data path and text vocabulary."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from islpose.errors import IslposeError, VocabularyError
from islpose.manifests import Utterance
from islpose.teacher.text import TextVocabulary, tokenize
from islpose.teacher.video import (
    VideoCollate,
    VideoConfig,
    VideoDataset,
    make_loader,
    normalize_frames,
    read_video,
    sample_indices,
)
from islpose.vocab import Vocabulary

cv2 = pytest.importorskip("cv2")


def write_video(path, num_frames: int, width: int = 48, height: int = 32, seed: int = 0):
    """A small MJPG clip whose frame i is a flat colour (i * 20) (robust to compression)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (width, height))
    for i in range(num_frames):
        writer.write(np.full((height, width, 3), (i * 20) % 256, np.uint8))
    writer.release()
    return path


@pytest.fixture
def clips(tmp_path):
    return {n: write_video(tmp_path / f"clip{n}.avi", n) for n in (3, 7, 12)}


# ---------------------------------------------------------------- sampling
@pytest.mark.parametrize("n", [1, 5, 9, 58, 200])
@pytest.mark.parametrize(
    "cfg",
    [VideoConfig(num_frames=16), VideoConfig(frame_stride=2, max_frames=20), VideoConfig(max_frames=7)],
    ids=["fixed16", "stride2max20", "max7"],
)
def test_sample_indices(n, cfg):
    idx = sample_indices(n, cfg)
    assert (np.diff(idx) >= 0).all() and idx.min() >= 0 and idx.max() < n
    if cfg.num_frames:
        assert len(idx) == 16
        assert len(set(idx.tolist())) == min(n, 16)  # every frame is used before any repeats
    else:
        assert len(idx) == min(-(-n // cfg.frame_stride), cfg.max_frames)
        assert len(set(idx.tolist())) == len(idx)


def test_read_generated_clip_samples_the_right_frames(clips):
    frames, info = read_video(clips[12], VideoConfig(size=16, frame_stride=3))
    assert frames.shape == (4, 16, 16, 3) and frames.dtype == np.uint8
    assert info["num_frames"] == 12 and info["indices"].tolist() == [0, 3, 6, 9]
    np.testing.assert_allclose(frames.reshape(4, -1).mean(1), [0, 60, 120, 180], atol=3)


@pytest.mark.parametrize("reported", [0, 9, 20])
def test_wrong_container_frame_count_still_samples_every_frame_right(clips, monkeypatch, reported):
    want, want_info = read_video(clips[12], VideoConfig(size=16, num_frames=5))
    real = cv2.VideoCapture

    class Lying:  # a container whose header reports the wrong number of frames
        def __init__(self, path):
            self._cap = real(path)

        def get(self, prop):
            return reported if prop == cv2.CAP_PROP_FRAME_COUNT else self._cap.get(prop)

        def __getattr__(self, name):
            return getattr(self._cap, name)

    monkeypatch.setattr(cv2, "VideoCapture", Lying)
    got, info = read_video(clips[12], VideoConfig(size=16, num_frames=5))
    assert info["num_frames"] == 12 and info["indices"].tolist() == want_info["indices"].tolist()
    np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------- real clips
def test_real_clip_matches_plain_opencv(media_dir):
    path = media_dir / "videos" / "webcam_signer.mp4"
    frames, info = read_video(path, VideoConfig(size=64))
    assert frames.shape == (58, 64, 64, 3) and info["num_frames"] == 58  # SOURCES.md: 58 frames
    cap = cv2.VideoCapture(str(path))
    ok, first = cap.read()
    cap.release()
    want = cv2.cvtColor(cv2.resize(first, (64, 64), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(frames[0], want)


def test_real_clip_fixed_count_and_letterbox(media_dir):
    frames, info = read_video(
        media_dir / "videos" / "studio_signer_9frames.mp4", VideoConfig(size=32, num_frames=16, fit="pad")
    )
    assert frames.shape == (16, 32, 32, 3) and info["num_frames"] == 9
    assert sorted(set(info["indices"].tolist())) == list(range(9))
    # 1280x720 letterboxed into 32x32: 18 rows of picture, 7 rows of mean colour above and below
    mean_rgb = np.round(np.array(VideoConfig().mean) * 255)
    assert (frames[:, :7] == mean_rgb).all() and (frames[:, -7:] == mean_rgb).all()


# ---------------------------------------------------------------- bad files
def test_unreadable_videos_name_the_file(tmp_path, clips):
    cases = {
        "missing.mp4": None,
        "empty.mp4": b"",
        "junk.mp4": b"\x00not a video at all" * 100,
        "cut.avi": clips[12].read_bytes()[:300],
    }
    for name, content in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(IslposeError, match=name.replace(".", r"\.")):
            read_video(path, VideoConfig(size=16))


# ---------------------------------------------------------------- dataset, collate, loader
def utterances(clips, **extra):
    return [
        Utterance(id=f"u{n}", video=str(p), glosses=("A", "B") if n % 2 else ("B",), text=f"word{n} go", **extra)
        for n, p in sorted(clips.items())
    ]


def test_dataset_and_loader_with_workers(clips):
    gloss_vocab, text_vocab = Vocabulary(["A", "B"]), TextVocabulary.from_texts(["word3 go", "word7 go"])
    ds = VideoDataset(
        utterances(clips), VideoConfig(size=16, buckets=[4, 8, 16]), gloss_vocab=gloss_vocab, text_vocab=text_vocab
    )
    batches = list(make_loader(ds, batch_size=2, num_workers=2))
    assert [b.ids for b in batches] == [["u3", "u7"], ["u12"]]
    first = batches[0]
    assert first.frames.shape == (2, 8, 3, 16, 16) and first.frames.dtype == torch.uint8  # padded to bucket 8
    assert first.lengths.tolist() == [3, 7] and first.frames[0, 3:].eq(0).all()
    assert first.targets.tolist() == [[2, 3], [2, 3]] and first.target_lengths.tolist() == [2, 2]
    assert [text_vocab.decode(t) for t in first.text] == ["word3 go", "word7 go"]
    assert batches[1].frames.shape[1] == 16 and batches[1].text.tolist() == [[1, 3, 4, 2]]  # word12 -> <unk>


def test_dataset_errors_and_skipping(clips, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"junk" * 50)
    utts = utterances(clips)[:1] + [Utterance(id="bad", video=str(bad))]
    with pytest.raises(IslposeError, match="bad.mp4"):
        next(iter(make_loader(VideoDataset(utts, VideoConfig(size=16)), batch_size=2)))
    batch = next(iter(make_loader(VideoDataset(utts, VideoConfig(size=16), skip_errors=True), batch_size=2)))
    assert batch.ids == ["u3"] and batch.failures[0][0] == "bad" and "bad.mp4" in batch.failures[0][1]
    with pytest.raises(IslposeError, match="no 'glosses'.*'bad'"):
        VideoDataset(utts, VideoConfig(), gloss_vocab=Vocabulary(["A"]))
    empty = VideoCollate()([{"id": "x", "error": "boom"}])
    assert empty.ids == [] and empty.failures == [("x", "boom")]


def test_clip_cache_is_bounded_lru(clips):
    one_clip = 7 * 16 * 16 * 3
    ds = VideoDataset(utterances(clips), VideoConfig(size=16, cache_mb=2.5 * one_clip / 2**20))
    first = ds.clip(1)
    assert ds.clip(1) is first and ds.cache.hits == 1
    for i in (0, 2, 0):  # 3 + 7 + 12 frames do not all fit: the least recently used goes
        ds.clip(i)
    assert ds.cache.bytes <= ds.cache.max_bytes and len(ds.cache) < 3
    assert ds.cache.get(ds.utterances[0].video) is not None


def test_normalize_frames():
    frames = torch.tensor([0, 255], dtype=torch.uint8).view(2, 1, 1, 1).expand(2, 3, 2, 2)
    out = normalize_frames(frames, mean=[0.5, 0.5, 0.5], std=[0.5, 0.25, 0.5])
    assert out.dtype == torch.float32
    assert out[0, 0].eq(-1).all() and out[1, 1].eq(2).all()


@pytest.mark.parametrize("bad", [{"fit": "crop"}, {"size": 0}, {"buckets": [0]}, {"std": [1, 0, 1]}])
def test_video_config_checks(bad):
    with pytest.raises(IslposeError, match="video config"):
        VideoConfig(**bad)


# ---------------------------------------------------------------- text vocabulary
def test_text_vocabulary(tmp_path):
    assert tokenize("Where's the School? I go.") == ["where's", "the", "school", "?", "i", "go", "."]
    vocab = TextVocabulary.from_texts(["I go to school.", "I eat"])
    assert vocab.tokens[:4] == ("<pad>", "<bos>", "<eos>", "<unk>") and "sleep" not in vocab.tokens
    ids = vocab.encode("I go to school.")
    assert ids[0] == vocab.bos_id and ids[-1] == vocab.eos_id
    assert vocab.decode(ids) == "i go to school ."
    assert vocab.decode(vocab.encode("you go")) == "<unk> go"
    vocab.save(tmp_path / "text_tokens.txt")
    assert TextVocabulary.load(tmp_path / "text_tokens.txt") == vocab
    assert len(TextVocabulary.from_texts(["a a b"], min_count=2)) == 5
    (tmp_path / "bad.txt").write_text("<blank>\nA\n")
    with pytest.raises(VocabularyError, match="bad.txt"):
        TextVocabulary.load(tmp_path / "bad.txt")
