"""The second synthetic generator: signer-disjoint splits, reproducibility, and that its signers really vary."""

from __future__ import annotations

import numpy as np
import pytest

from islpose.io import FeatureStore
from islpose.manifests import read_manifest
from islpose.testing.synthetic_wild import (
    WIDTH,
    _face_template,
    _make_signs,
    _render,
    _sentence_states,
    make_wild_corpus,
    make_wild_signer,
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_wild_corpus(
        tmp_path_factory.mktemp("wild"), num_glosses=12, signers=(4, 1, 2), sentences=(16, 4, 6), seed=3
    )


def test_splits_hold_out_whole_signers(corpus):
    utts = read_manifest(corpus.manifest).utterances
    signers = {split: {u.signer for u in utts if u.split == split} for split in ("train", "dev", "test")}
    assert [len(signers[s]) for s in ("train", "dev", "test")] == [4, 1, 2]
    assert not signers["train"] & signers["dev"] and not signers["train"] & signers["test"]
    assert not signers["dev"] & signers["test"]
    assert corpus.splits == {"train": 16, "dev": 4, "test": 6}
    assert all(2 <= len(u.glosses) <= 5 and set(u.glosses) <= set(corpus.glosses) for u in utts)


def test_store_and_spans(corpus):
    utts = read_manifest(corpus.manifest).utterances
    with FeatureStore(corpus.store) as store:
        for u in utts:
            lm, pose = store.read(u.id, "landmarks"), store.read(u.id, "pose")
            assert lm.shape == (len(pose), 543, 4) and pose.shape[1] == 66 and np.isfinite(pose).all()
            spans = corpus.spans[u.id]
            assert len(spans) == len(u.glosses)
            ends = [0] + [e for _, e in spans]
            assert all(a >= prev and b > a for (a, b), prev in zip(spans, ends))  # in order, not overlapping
            assert spans[-1][1] < len(pose)  # the signer returns to rest after the last sign


def test_same_seed_same_corpus_other_seed_other(tmp_path, corpus):
    kwargs = {"num_glosses": 12, "signers": (4, 1, 2), "sentences": (16, 4, 6)}
    again = make_wild_corpus(tmp_path / "a", seed=3, **kwargs)
    other = make_wild_corpus(tmp_path / "b", seed=4, **kwargs)
    assert again.manifest.read_text() == corpus.manifest.read_text()
    assert again.spans == corpus.spans
    uid = next(iter(corpus.spans))
    with FeatureStore(corpus.store) as a, FeatureStore(again.store) as b:
        np.testing.assert_array_equal(a.read(uid, "landmarks"), b.read(uid, "landmarks"))
    assert other.manifest.read_text() != corpus.manifest.read_text()


def test_signer_traits_cover_the_ranges():
    rng = np.random.default_rng(0)
    signers = [make_wild_signer(10, rng) for _ in range(200)]
    scale = [s["scale"] for s in signers]
    speed = [s["speed"] for s in signers]
    drop = [s["drop_rate"] for s in signers]
    assert max(scale) / min(scale) > 1.5 and max(scale) / min(scale) <= 1.6 + 1e-9
    assert 0.8 <= min(speed) < 0.85 and 1.2 < max(speed) <= 1.25
    assert 0.0 <= min(drop) < 0.005 and 0.055 < max(drop) <= 0.06
    assert 0.15 < np.mean([s["left_handed"] for s in signers]) < 0.45
    assert np.std([s["offsets"] for s in signers]) > 0.05  # every sign's path has a personal offset


def test_variation_is_in_the_landmarks(tmp_path):
    c = make_wild_corpus(tmp_path, num_glosses=8, signers=(6, 1, 1), sentences=(24, 2, 2), seed=1)
    utts = read_manifest(c.manifest).utterances
    width, dropped = {}, {}
    with FeatureStore(c.store) as store:
        for u in utts:
            lm = store.read(u.id, "landmarks")
            width.setdefault(u.signer, []).append(np.nanmedian(np.abs(lm[:, 11, 0] - lm[:, 12, 0])) * WIDTH)
            dropped.setdefault(u.signer, []).append(np.isnan(lm[:, 33:75, 0]).any(axis=1).mean())
    widths = [np.median(v) for v in width.values()]
    assert max(widths) / min(widths) > 1.15  # body size in the frame differs
    for sid, traits in c.signers.items():
        assert abs(np.median(width[sid]) / traits["scale"] - 1.0) < 0.1
        assert np.mean(dropped[sid]) < 0.2
    rates = [(c.signers[sid]["drop_rate"], np.mean(d)) for sid, d in dropped.items()]
    low, high = min(rates), max(rates)
    assert high[1] > low[1]  # the signer whose tracker loses hands more often has more frames without one


def test_left_handed_signers_mirror_the_right_handed(tmp_path):
    rng = np.random.default_rng(5)
    signs = _make_signs(6, rng)
    signer = {**make_wild_signer(6, rng), "noise": 0.0, "drop_rate": 0.0, "roll": 0.0, "left_handed": False}
    states, _ = _sentence_states(signs, [0, 1, 2, 3], signer, np.random.default_rng(1))
    face = _face_template(rng)
    right, _ = _render(states, face, signer, np.random.default_rng(2))
    left, _ = _render(states, face, {**signer, "left_handed": True}, np.random.default_rng(2))
    mirror = lambda lm: 2 * signer["centre"][0] / WIDTH - lm[..., 0]  # noqa: E731
    np.testing.assert_allclose(mirror(left[:, 15]), right[:, 16, 0], atol=1e-5)  # left wrist = mirrored right
    np.testing.assert_allclose(mirror(left[:, 33:54]), right[:, 54:75, 0], atol=1e-5)  # the whole hand
    assert np.std(right[:, 16, :2], axis=0).sum() > np.std(right[:, 15, :2], axis=0).sum()  # the dominant moves


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="three values"):
        make_wild_corpus(tmp_path, signers=(3, 0, 1))
    with pytest.raises(ValueError, match="min_glosses"):
        make_wild_corpus(tmp_path, min_glosses=3, max_glosses=2)
