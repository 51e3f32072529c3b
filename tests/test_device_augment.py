"""Batched torch features and augmentation (what training computes on its device) against the
numpy reference: equal features, the same distributions of the changes, padding that never
leaks, reproducible draws."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from islpose.data import AugmentConfig, augment_landmarks
from islpose.data.device_augment import DeviceAugment, augment_batch, batch_seed, collate_landmarks
from islpose.features.compute import multimodal_features, pose_features
from islpose.features.layout import SLICES
from islpose.features.torch_compute import FEATURE_FUNCTIONS, interpolate
from islpose.io import FeatureStore

NONE = dict(enabled=True, affine_p=0.0, body_p=0.0, speed_p=0.0, hand_drop=0.0, finger_drop=0.0, frame_drop=0.0,
            jitter=0.0, mirror_p=0.0)
REFERENCE = {"pose": lambda lm, pr, w, h: pose_features(lm, pr, w, h),
             "multimodal": lambda lm, pr, w, h: multimodal_features(lm, pr, w, h, np.float32)}


def only(**changes) -> AugmentConfig:
    return AugmentConfig(**{**NONE, **changes})


@pytest.fixture(scope="module")
def items(tmp_path_factory):
    """Four utterances of different lengths, one with a stretch without anybody and one with
    degenerate shoulders: [(landmarks (T, 543, 4), presence (T, 4), (width, height))]."""
    from islpose.testing import make_synthetic_corpus

    corpus = make_synthetic_corpus(tmp_path_factory.mktemp("dev_aug"), num_glosses=6, num_signers=3,
                                   utterances_per_signer=2, seed=4)
    with FeatureStore(corpus.store) as store:
        out = [(store.read(u, "landmarks"), store.read(u, "presence"), (store.attrs(u)["width"],
                                                                        store.attrs(u)["height"]))
               for u in store.ids()[:4]]
    lm, pr, _ = out[1]
    lm[5:12], pr[5:12] = np.nan, False  # nobody in frames 5-11
    lm, _, _ = out[2]
    lm[3, 12, :2] = lm[3, 11, :2]  # shoulders on top of each other in frame 3
    return out


def padded(items, fill: float = np.nan, fill_presence: bool = False):
    """The items as one padded batch: landmarks, presence, lengths, sizes (padding = ``fill``)."""
    lengths = torch.tensor([len(lm) for lm, _, _ in items])
    T = int(lengths.max())
    landmarks = torch.full((len(items), T, 543, 4), fill, dtype=torch.float32)
    presence = torch.full((len(items), T, 4), fill_presence)
    for i, (lm, pr, _) in enumerate(items):
        landmarks[i, :len(lm)], presence[i, :len(lm)] = torch.from_numpy(lm), torch.from_numpy(pr)
    return landmarks, presence, lengths, torch.tensor([size for _, _, size in items], dtype=torch.float64)


@pytest.mark.parametrize("feature", ["pose", "multimodal"])
def test_batched_features_match_the_numpy_reference(items, feature):
    rows, function = FEATURE_FUNCTIONS[feature]
    landmarks, presence, lengths, sizes = padded(items)
    out = function(landmarks[:, :, :rows], presence, lengths, sizes)
    assert out.dtype == torch.float32 and out.shape[2] == (66 if feature == "pose" else 6516)
    for i, (lm, pr, (w, h)) in enumerate(items):
        np.testing.assert_allclose(out[i, :len(lm)].numpy(), REFERENCE[feature](lm, pr, w, h), rtol=1e-5, atol=1e-5)
        assert (out[i, len(lm):] == 0).all()
    torch.testing.assert_close(function(landmarks[:, :, :rows, :3], presence, lengths, sizes), out, rtol=0, atol=0)


@pytest.mark.parametrize("feature", ["pose", "multimodal"])
def test_padding_values_never_change_valid_features(items, feature):
    function = FEATURE_FUNCTIONS[feature][1]
    a = function(*padded(items, np.nan, False))
    b = function(*padded(items, 123.0, True))  # finite, "present" garbage after each length
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_interpolation_is_numpy_interp_held_at_the_ends():
    values = torch.tensor([[[0.0], [1.0], [5.0], [3.0], [9.0]]], dtype=torch.float64)
    valid = torch.tensor([[False, True, False, True, False]])
    np.testing.assert_allclose(interpolate(values, valid)[0, :, 0].numpy(), np.interp(np.arange(5), [1, 3], [1, 3]))
    assert (interpolate(values, torch.zeros_like(valid)) == 0).all()


def run(items, config, seed=0, fill=np.nan, min_lengths=None):
    landmarks, presence, lengths, sizes = padded(items, fill, not np.isnan(fill))
    gen = torch.Generator().manual_seed(seed)
    return augment_batch(landmarks, presence, lengths, sizes, config, gen, min_lengths)


def test_nothing_enabled_is_the_identity(items):
    landmarks, presence, lengths, _ = padded(items)
    out, pres, out_lengths = run(items, only())
    torch.testing.assert_close(out, landmarks, equal_nan=True)
    assert torch.equal(pres, presence) and torch.equal(out_lengths, lengths)


@pytest.mark.parametrize("feature", ["pose", "multimodal"])
def test_augmented_padding_never_leaks(items, feature):
    config = AugmentConfig(enabled=True, hand_drop=0.2, finger_drop=0.2, frame_drop=0.1, mirror_p=0.5, jitter=0.01)
    rows, function = FEATURE_FUNCTIONS[feature]
    outputs = []
    for fill in (np.nan, 77.0):
        landmarks, presence, lengths, sizes = padded(items, fill, not np.isnan(fill))
        lm, pres, n = augment_batch(landmarks[:, :, :rows], presence, lengths, sizes, config,
                                    torch.Generator().manual_seed(3))
        outputs.append((lm, function(lm, pres, n, sizes)))
    torch.testing.assert_close(outputs[0][0], outputs[1][0], equal_nan=True)
    torch.testing.assert_close(outputs[0][1], outputs[1][1])


def test_nan_semantics_and_pose_rows_as_in_the_full_array(items):
    config = AugmentConfig(enabled=True, hand_drop=0.2, finger_drop=0.3, frame_drop=0.1, mirror_p=0.5, jitter=0.01)
    landmarks, presence, lengths, sizes = padded(items)
    full, pres, n = augment_batch(landmarks, presence, lengths, sizes, config, torch.Generator().manual_seed(1))
    pose, pres_pose, n_pose = augment_batch(landmarks[:, :, :33], presence, lengths, sizes, config,
                                            torch.Generator().manual_seed(1))
    assert torch.equal(n, n_pose) and torch.equal(pres, pres_pose)
    torch.testing.assert_close(pose, full[:, :, :33], equal_nan=True, atol=1e-4, rtol=1e-5)
    xyz, pres_xyz, _ = augment_batch(landmarks[..., :3], presence, lengths, sizes, config,
                                     torch.Generator().manual_seed(1))  # without the visibility: the same x, y, z
    assert torch.equal(pres_xyz, pres)
    torch.testing.assert_close(xyz, full[..., :3], equal_nan=True, rtol=0, atol=0)
    for comp, rows in enumerate(SLICES.values()):  # a component is all NaN exactly where it is absent
        part = full[:, :, rows, :3]
        assert torch.equal(part.isnan().flatten(2).all(-1), ~pres[..., comp])
        assert torch.isfinite(part[pres[..., comp]]).all()


def test_speed_never_below_the_frames_ctc_needs(items):
    landmarks, presence, lengths, sizes = padded(items)
    floor = lengths - 2
    for seed in range(5):
        _, _, n = augment_batch(landmarks, presence, lengths, sizes, only(speed_p=1.0, speed=0.9),
                                torch.Generator().manual_seed(seed), floor)
        assert (n >= floor).all()


def test_draws_are_reproducible_per_seed_epoch_and_step(items):
    batch = collate_landmarks([{"id": str(i), "landmarks": lm, "presence": pr, "size": size, "min_length": 1,
                                "targets": np.array([1, 2])} for i, (lm, pr, size) in enumerate(items)])
    aug = DeviceAugment(AugmentConfig(enabled=True, hand_drop=0.1), "multimodal", seed=5)
    first = aug(batch, 2, 7, torch.device("cpu"))
    again = DeviceAugment(AugmentConfig(enabled=True, hand_drop=0.1), "multimodal", seed=5)(
        batch, 2, 7, torch.device("cpu"))
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    other = aug(batch, 3, 7, torch.device("cpu"))[0]
    assert other.shape != first[0].shape or not torch.equal(other, first[0])
    assert len({batch_seed(0, 1, 2), batch_seed(0, 2, 1), batch_seed(1, 1, 2), batch_seed(0, 1, 2, 1)}) == 4


def _stats(lm: np.ndarray, presence: np.ndarray, length: int, base: np.ndarray) -> np.ndarray:
    """Per augmented utterance: shoulder width / original, shoulder-line angle change,
    length / original, left hand missing fraction, mean wrist shift (normalised units),
    spread of the wrist's path around the shoulders / original, eye distance / original."""
    sh = lm[:, 11, :2] - lm[:, 12, :2]
    sb = base[:, 11, :2] - base[:, 12, :2]
    ratio = np.nanmedian(np.hypot(*sh.T)) / np.nanmedian(np.hypot(*sb.T))
    angle = np.nanmedian(np.arctan2(sh[:, 1], sh[:, 0])) - np.nanmedian(np.arctan2(sb[:, 1], sb[:, 0]))
    wrist = np.nanmean(lm[:, 15, :2], axis=0) - np.nanmean(base[:, 15, :2], axis=0)
    space = [np.nanstd(np.hypot(*(x[:, 15, :2] - x[:, 11:13, :2].mean(1)).T)) for x in (lm, base)]
    eyes = [np.nanmedian(np.hypot(*(x[:, 2, :2] - x[:, 5, :2]).T)) for x in (lm, base)]
    return np.array([ratio, angle, length / len(base), 1 - presence[:, 1].mean(), np.hypot(*wrist),
                     space[0] / space[1], eyes[0] / eyes[1]])


@pytest.mark.slow
@pytest.mark.parametrize("config", [
    only(affine_p=1.0), only(body_p=1.0), only(speed_p=1.0), only(hand_drop=0.1), AugmentConfig(enabled=True)],
    ids=["affine", "body", "speed", "hand_drop", "default"])
def test_the_same_distributions_as_the_numpy_augmentation(items, config):
    lm, pr, (w, h) = items[0]
    pr = pr.copy()
    pr[:, 1] = True  # both hands present everywhere, so that only the augmentation drops them
    lm = np.where(np.isnan(lm), 0.5, lm).astype(np.float32)
    draws = 200
    ref = []
    for seed in range(draws):
        a, p = augment_landmarks(lm, pr, w, h, config, np.random.default_rng(seed))
        ref.append(_stats(a, p, len(a), lm))
    ref = np.array(ref)
    landmarks, presence, lengths, sizes = padded([(lm, pr, (w, h))] * draws)
    out, pres, n = augment_batch(landmarks, presence, lengths, sizes, config, torch.Generator().manual_seed(0))
    new = np.array([_stats(out[i, :n[i]].numpy(), pres[i, :n[i]].numpy(), int(n[i]), lm) for i in range(draws)])
    spread = np.maximum(ref.std(axis=0), 1e-6)
    # means within 0.25 standard deviations (about 4 standard errors of 300 draws), spreads within 20%
    np.testing.assert_array_less(np.abs(new.mean(axis=0) - ref.mean(axis=0)), 0.25 * spread + 1e-6)
    np.testing.assert_allclose(new.std(axis=0), ref.std(axis=0), rtol=0.2, atol=1e-5)


def test_chunks_pad_like_one_batch(items):
    batch = collate_landmarks([{"id": str(i), "landmarks": lm, "presence": pr, "size": size, "min_length": 1,
                                "targets": np.array([1])} for i, (lm, pr, size) in enumerate(items)])
    config = only(speed_p=1.0)
    features, lengths = DeviceAugment(config, "pose", seed=0, chunk=3)(batch, 1, 0, torch.device("cpu"))
    assert features.shape == (4, int(lengths.max()), 66)
    for i, n in enumerate(lengths):
        assert (features[i, n:] == 0).all() and (features[i, :n].abs().sum(-1) > 0).all()


def test_landmark_dataset_reads_each_item_on_first_access(small_corpus):
    from islpose.data.device_augment import LandmarkDataset
    from islpose.manifests import read_manifest
    from islpose.vocab import Vocabulary

    utts = read_manifest(small_corpus.manifest).split("train")
    ds = LandmarkDataset(small_corpus.store, utts, Vocabulary(["G000"]), "pose", augment=AugmentConfig(enabled=True))
    assert ds.in_memory and all(x is None for x in ds._features)  # construction reads no landmarks
    item = ds[(3, 1)]
    with FeatureStore(small_corpus.store) as store:
        np.testing.assert_array_equal(item["landmarks"], store.read(utts[1].id, "landmarks")[:, :33, :3])
        np.testing.assert_array_equal(item["presence"], store.read(utts[1].id, "presence"))
    assert [x is not None for x in ds._features] == [i == 1 for i in range(len(utts))]
    assert ds[1]["landmarks"] is item["landmarks"]  # kept in memory


@pytest.mark.slow
def test_multimodal_training_augments_on_the_device(tmp_path_factory):
    """A mobilenet_v3_1d epoch reads landmarks and trains on 6516-d features made per batch."""
    from rich.console import Console

    from islpose.data.device_augment import LandmarkDataset
    from islpose.testing import make_synthetic_corpus
    from islpose.train import resolve_config
    from islpose.train.distributed import init_distributed
    from islpose.train.loop import Trainer

    corpus = make_synthetic_corpus(tmp_path_factory.mktemp("mm_train"), num_glosses=5, num_signers=3,
                                   utterances_per_signer=4, multimodal=True, seed=2)
    small = {"pose_dim": 8, "hands_dim": 8, "face_dim": 8, "temporal_dim": 8, "upsample_dim": 8, "lstm_hidden": 8}
    config = resolve_config("mobilenet_v3_1d", {"model_config": small, "augment": {"enabled": True, "hand_drop": 0.1}},
                            overrides={"epochs": 1, "batch_size": 2, "progress": False, "device": "cpu",
                                       "num_workers": 0})
    trainer = Trainer(config, corpus.store, corpus.manifest, tmp_path_factory.mktemp("mm_run"), False,
                      init_distributed("cpu"), Console(quiet=True))
    assert isinstance(trainer.train_set, LandmarkDataset) and trainer.augmenter is not None
    seen = []
    forward = trainer.net.forward
    trainer.net.forward = lambda x, lengths: seen.append(x.shape) or forward(x, lengths)
    stats = trainer.train_epoch(1)
    assert np.isfinite(stats["train_loss"]) and stats["train_utterances"] == 4
    assert seen and all(shape[2] == 6516 for shape in seen)
