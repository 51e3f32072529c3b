from collections import Counter

import jiwer
import numpy as np
import pytest

from islpose import Vocabulary
from islpose.features import pose_features
from islpose.io import FeatureStore
from islpose.manifests import read_manifest
from islpose.testing import make_synthetic_corpus


def test_corpus_layout(small_corpus):
    m = read_manifest(small_corpus.manifest)
    assert small_corpus.splits == {"train": 6, "dev": 6, "test": 6}
    signers = {split: {u.signer for u in m.split(split)} for split in ("train", "dev", "test")}
    assert len(signers["dev"]) == len(signers["test"]) == 1
    assert not (signers["train"] & signers["dev"]) and not (signers["train"] & signers["test"])
    assert set(Vocabulary.from_manifest(small_corpus.manifest, split=None).glosses) <= set(small_corpus.glosses)
    with FeatureStore(small_corpus.store) as s:
        assert sorted(m.ids) == s.ids()
        assert s.metadata["extractor"]["name"] == "synthetic"
        for uid in s.ids():
            lm, presence = s.read(uid, "landmarks"), s.read(uid, "presence")
            T = s.num_frames(uid)
            assert lm.shape == (T, 543, 4) and presence.shape == (T, 4) and T >= 20
            # missing components are NaN exactly where presence is False
            for comp, rows in enumerate([slice(0, 33), slice(33, 54), slice(54, 75), slice(75, 543)]):
                assert np.array_equal(np.isnan(lm[:, rows, 0]).all(axis=1), ~presence[:, comp])
            np.testing.assert_array_equal(s.read(uid, "pose"), pose_features(lm, presence, 640, 480))
            assert "multimodal" not in s.datasets(uid)


def test_deterministic_and_signers_differ(tmp_path):
    a = make_synthetic_corpus(tmp_path / "a", num_glosses=5, num_signers=3, utterances_per_signer=2, seed=3)
    b = make_synthetic_corpus(tmp_path / "b", num_glosses=5, num_signers=3, utterances_per_signer=2, seed=3)
    assert a.manifest.read_text() == b.manifest.read_text()
    widths = []
    with FeatureStore(a.store) as sa, FeatureStore(b.store) as sb:
        for uid in sa.ids():
            np.testing.assert_array_equal(sa.read(uid, "landmarks"), sb.read(uid, "landmarks"))
            lm = sa.read(uid, "landmarks")
            widths.append(np.nanmedian(np.abs(lm[:, 11, 0] - lm[:, 12, 0])) * 640)
    assert np.ptp(widths) > 5  # signers differ in size (pixels of shoulder width)


def test_multimodal_option(tmp_path):
    c = make_synthetic_corpus(tmp_path, num_glosses=4, num_signers=3, utterances_per_signer=1, multimodal=True)
    with FeatureStore(c.store) as s:
        mm = s.read(s.ids()[0], "multimodal")
    assert mm.shape[1] == 6516 and mm.dtype == np.float16 and np.isfinite(mm).all()


def test_hands_drop_out_and_sentences_vary(tmp_path):
    c = make_synthetic_corpus(tmp_path, num_glosses=10, num_signers=3, utterances_per_signer=20, drop_rate=0.05)
    m = read_manifest(c.manifest)
    with FeatureStore(c.store) as s:
        presence = np.concatenate([s.read(uid, "presence") for uid in s.ids()])
    assert presence[:, 0].all() and presence[:, 3].all()
    assert 0.02 < 1 - presence[:, 1:3].mean() < 0.4
    # chance is ~100% WER: guessing the most common training sentence for every dev utterance
    train = Counter(" ".join(u.glosses) for u in m.split("train"))
    guess = train.most_common(1)[0][0]
    dev = [" ".join(u.glosses) for u in m.split("dev")]
    assert jiwer.wer(dev, [guess] * len(dev)) > 0.8
    assert len({len(u.glosses) for u in m}) > 2


def test_rejects_too_few_signers(tmp_path):
    with pytest.raises(ValueError, match="num_signers must be >= 3"):
        make_synthetic_corpus(tmp_path, num_signers=2)


def test_signers_differ_like_real_signers(tmp_path):
    """Camera roll, proportions (hand size per shoulder width) and speed (frames per gloss)
    differ between signers, not only size and position in the frame."""
    c = make_synthetic_corpus(tmp_path, num_glosses=6, num_signers=5, utterances_per_signer=6, seed=5)
    per_signer: dict[str, list] = {}
    with FeatureStore(c.store) as s:
        for u in read_manifest(c.manifest):
            lm = s.read(u.id, "landmarks")
            px = lm[..., :2] * (640, 480)
            shoulders = px[:, 11] - px[:, 12]
            roll = np.degrees(np.arctan2(shoulders[:, 1], shoulders[:, 0]))
            hand = np.linalg.norm(px[:, 54 + 9] - px[:, 54], axis=-1) / np.linalg.norm(shoulders, axis=-1)
            per_signer.setdefault(u.signer, []).append((np.median(roll), np.nanmedian(hand), len(lm) / len(u.glosses)))
    stats = np.array([np.median(v, axis=0) for v in per_signer.values()])  # (signers, 3)
    spread = stats.max(axis=0) - stats.min(axis=0)
    assert spread[0] > 3  # degrees of camera roll
    assert spread[1] > 0.05 * stats[:, 1].mean()  # hand size relative to the shoulders
    assert spread[2] > 0.1 * stats[:, 2].mean()  # frames per gloss (speed)
