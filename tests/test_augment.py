"""Landmark augmentation: NaN semantics, each change, CTC lengths, seeds, resume, YAML and workers."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner

from islpose.cli.main import cli
from islpose.ctc import fits_ctc
from islpose.data import AugmentConfig, BucketBatchSampler, EpochBatches, FeatureDataset, augment_landmarks, collate
from islpose.data.augment import min_frames, utterance_rng
from islpose.errors import IslposeError
from islpose.features import multimodal_features, pose_features
from islpose.features.layout import SLICES
from islpose.io import FeatureStore
from islpose.manifests import read_manifest
from islpose.models.checkpoint import read_checkpoint
from islpose.train import resolve_config
from islpose.train.loop import Trainer
from islpose.vocab import Vocabulary

W, H = 640, 480
ROWS = list(SLICES.values())
# Every change off: the identity.
NONE = {
    "enabled": True,
    "affine_p": 0.0,
    "body_p": 0.0,
    "speed_p": 0.0,
    "hand_drop": 0.0,
    "finger_drop": 0.0,
    "frame_drop": 0.0,
    "jitter": 0.0,
    "mirror_p": 0.0,
}


def only(**changes) -> AugmentConfig:
    return AugmentConfig(**{**NONE, **changes})


def affine(**ranges) -> AugmentConfig:
    return only(
        affine_p=1.0, **{"rotate_deg": 0.0, "scale": 0.0, "aspect": 0.0, "shear": 0.0, "translate": 0.0, **ranges}
    )


@pytest.fixture(scope="module")
def utterance(small_corpus):
    with FeatureStore(small_corpus.store) as store:
        uid = store.ids()[0]
        return store.read(uid, "landmarks"), store.read(uid, "presence")


def check_nan_semantics(lm: np.ndarray, presence: np.ndarray) -> None:
    """Missing exactly as MediaPipe: a component is all NaN where (and only where) it is absent."""
    for comp, rows in enumerate(ROWS):
        part = lm[:, rows, :3]
        np.testing.assert_array_equal(np.isnan(part).all(axis=(1, 2)), ~presence[:, comp])
        assert np.isfinite(part[presence[:, comp]]).all()


def test_nothing_enabled_is_the_identity(utterance):
    lm, presence = utterance
    out, pres = augment_landmarks(lm, presence, W, H, only(), np.random.default_rng(0))
    np.testing.assert_allclose(out, lm, atol=1e-4)
    np.testing.assert_array_equal(pres, presence)


def test_default_augmentation_keeps_shapes_and_nan_semantics(utterance):
    lm, presence = utterance
    config = AugmentConfig(enabled=True, hand_drop=0.2, finger_drop=0.2, frame_drop=0.1, mirror_p=0.5)
    for seed in range(10):
        out, pres = augment_landmarks(lm, presence, W, H, config, np.random.default_rng(seed))
        assert out.dtype == np.float32 and out.shape[1:] == (543, 4) and pres.shape == (len(out), 4)
        check_nan_semantics(out, pres)
        assert not pres[:, 1:3].all()  # hands went missing
        assert np.isfinite(pose_features(out, pres, W, H)).all()
        assert np.isfinite(multimodal_features(out, pres, W, H)).all()


def test_dropouts_as_mediapipe_misses_points(utterance):
    lm, presence = utterance
    out, pres = augment_landmarks(lm, presence, W, H, only(frame_drop=1.0), np.random.default_rng(0))
    assert not pres.any() and np.isnan(out[..., :3]).all()
    out, pres = augment_landmarks(lm, presence, W, H, only(hand_drop=0.3), np.random.default_rng(0))
    assert (pres[:, [0, 3]] == presence[:, [0, 3]]).all() and pres[:, 1:3].sum() < presence[:, 1:3].sum()
    check_nan_semantics(out, pres)
    # A folded finger: the hand stays detected, the finger's 3 outer points sit on its knuckle.
    out, pres = augment_landmarks(
        lm, presence, W, H, only(finger_drop=1.0, hand_drop_frames=1), np.random.default_rng(0)
    )
    np.testing.assert_array_equal(pres, presence)
    hand = out[:, SLICES["right_hand"], :2][presence[:, 2]]  # (F, 21, 2)
    folded = [np.allclose(hand[:, k + 1 : k + 4], hand[:, k : k + 1]) for k in (1, 5, 9, 13, 17)]
    assert sum(folded) == 1


def test_affine_translation_and_zoom_leave_pose_features_alone_rotation_does_not(utterance):
    lm, presence = utterance
    base = pose_features(lm, presence, W, H)
    for config, same in (
        (affine(translate=0.1, scale=0.2), True),
        (affine(rotate_deg=20.0), False),
        (affine(shear=0.3), False),
        (affine(aspect=0.2), False),
    ):
        out, pres = augment_landmarks(lm, presence, W, H, config, np.random.default_rng(1))
        close = np.allclose(pose_features(out, pres, W, H), base, atol=1e-3)
        assert close == same, config


def test_body_proportions_move_the_hands_with_the_arms(utterance):
    lm, presence = utterance
    config = only(body_p=1.0, shoulder_width=0.0, hand_size=0.0, face_size=0.0, sign_size=0.0, arm_length=0.3)
    out, _ = augment_landmarks(lm, presence, W, H, config, np.random.default_rng(3))
    t = int(np.flatnonzero(presence[:, 2])[0])
    moved = out[t, 16, :2] - lm[t, 16, :2]  # the right wrist of the pose
    assert np.linalg.norm(moved) > 1e-4
    np.testing.assert_allclose(
        out[t, SLICES["right_hand"], :2] - lm[t, SLICES["right_hand"], :2], np.broadcast_to(moved, (21, 2)), atol=1e-5
    )  # the hand follows, unchanged in size
    np.testing.assert_allclose(out[t, 11:13], lm[t, 11:13], atol=1e-5)  # shoulders stay


def test_sign_size_scales_the_wrist_paths(utterance):
    lm, presence = utterance
    spread = lambda x: np.nanstd(x[:, 16, :2] - (x[:, 11, :2] + x[:, 12, :2]) / 2, axis=0).sum()  # noqa: E731
    sizes = []
    for seed in range(6):
        config = only(body_p=1.0, shoulder_width=0.0, arm_length=0.0, hand_size=0.0, face_size=0.0, sign_size=0.4)
        out, _ = augment_landmarks(lm, presence, W, H, config, np.random.default_rng(seed))
        sizes.append(spread(out) / spread(lm))
    assert 0.6 <= min(sizes) < 0.95 and 1.05 < max(sizes) <= 1.4


def test_mirror_swaps_the_hands(utterance):
    lm, presence = utterance
    out, pres = augment_landmarks(lm, presence, W, H, only(mirror_p=1.0), np.random.default_rng(0))
    np.testing.assert_array_equal(pres, presence[:, [0, 2, 1, 3]])
    left, right = SLICES["left_hand"], SLICES["right_hand"]
    np.testing.assert_allclose(out[:, left, 0], 1 - lm[:, right, 0], atol=1e-5)
    np.testing.assert_allclose(out[:, left, 1:], lm[:, right, 1:], atol=1e-5)
    np.testing.assert_allclose(out[:, 11, 0], 1 - lm[:, 12, 0], atol=1e-5)  # shoulders swap too
    assert AugmentConfig().mirror_p == 0  # off by default: it changes the dominant hand


def test_speed_changes_length_but_never_below_what_ctc_needs(utterance):
    lm, presence = utterance
    T = len(lm)
    targets = [1, 1, 2, 3, 3, 4, 5, 6, 7, 7, 8][: (T // 4) - 1]
    need = min_frames(targets, 4)
    assert fits_ctc(targets, need, 4) and not fits_ctc(targets, need - 1, 4)
    lengths = set()
    for seed in range(30):
        config = only(speed_p=1.0, speed=1.5)
        out, pres = augment_landmarks(lm, presence, W, H, config, np.random.default_rng(seed), need)
        check_nan_semantics(out, pres)
        assert fits_ctc(targets, len(out), 4)
        lengths.add(len(out))
    assert min(lengths) == need and max(lengths) > T  # shortened to the limit, and slowed down
    # An utterance already below the limit is never shortened.
    out, _ = augment_landmarks(lm, presence, W, H, only(speed_p=1.0, speed=1.5), np.random.default_rng(0), 10 * T)
    assert len(out) >= T


def test_config_values_are_checked():
    with pytest.raises(IslposeError, match="augment config: invalid value for hand_drop=1.5"):
        AugmentConfig(hand_drop=1.5)
    with pytest.raises(IslposeError, match="scale=1.0"):
        AugmentConfig(scale=1.0)


def test_yaml_section_maps_one_to_one(tmp_path):
    config = resolve_config(yaml_data={"model": "bilstm_optimized", "augment": {"enabled": True, "rotate_deg": 5}})
    assert config.augment == AugmentConfig(enabled=True, rotate_deg=5.0)
    assert config.to_dict()["augment"] == dataclasses.asdict(config.augment)
    assert resolve_config(yaml_data=config.to_dict()) == config  # config.yaml reproduces the run
    with pytest.raises(IslposeError, match="augment: unknown key.*rotation"):
        resolve_config(yaml_data={"model": "bilstm_optimized", "augment": {"rotation": 5}})
    with pytest.raises(IslposeError, match="augment.enabled: expected true or false"):
        resolve_config(yaml_data={"model": "bilstm_optimized", "augment": {"enabled": "yes"}})


# ---------------------------------------------------------------- the dataset path
def datasets(corpus, feature="pose", seed=0, **kw):
    utts = read_manifest(corpus.manifest).split("train")
    vocab = Vocabulary(g for u in utts for g in u.glosses)
    return FeatureDataset(
        corpus.store, utts, vocab, feature, augment=AugmentConfig(enabled=True, **kw), seed=seed, subsample=2
    ), FeatureDataset(corpus.store, utts, vocab, feature)


@pytest.mark.parametrize("feature", ["pose", "multimodal"])
def test_dataset_augments_per_epoch_and_reproducibly(small_corpus, mm_small, feature):
    corpus = small_corpus if feature == "pose" else mm_small
    aug, plain = datasets(corpus, feature)
    again, _ = datasets(corpus, feature)
    other_seed, _ = datasets(corpus, feature, seed=1)
    a, b = aug[(3, 0)]["features"], again[(3, 0)]["features"]
    np.testing.assert_array_equal(a, b)  # the same (seed, epoch, utterance): the same draw
    assert not np.array_equal(a[:5], aug[(4, 0)]["features"][:5])
    assert not np.array_equal(a[:5], other_seed[(3, 0)]["features"][:5])
    assert a.dtype == np.float32 and a.shape[1] == plain.dim and np.isfinite(a).all()
    # with every change off, the features computed on the fly are the stored ones
    none, _ = datasets(corpus, feature, **{k: v for k, v in NONE.items() if k != "enabled"})
    np.testing.assert_allclose(none[0]["features"], plain[0]["features"].astype(np.float32), atol=2e-3)


def test_utterance_rng_depends_on_seed_epoch_and_id_only():
    draw = lambda *key: utterance_rng(*key).random(3)  # noqa: E731
    np.testing.assert_array_equal(draw(0, 1, "a"), draw(0, 1, "a"))
    assert len({tuple(draw(*k)) for k in [(0, 1, "a"), (1, 1, "a"), (0, 2, "a"), (0, 1, "b")]}) == 4


def test_dataloader_workers_draw_what_the_main_process_draws(small_corpus):
    aug, _ = datasets(small_corpus)
    sampler = BucketBatchSampler(aug.lengths, 2, seed=0)
    batches = {}
    for workers in (0, 2):
        loader = torch.utils.data.DataLoader(
            aug,
            batch_sampler=EpochBatches(sampler),
            collate_fn=collate,
            num_workers=workers,
            persistent_workers=workers > 0,
        )
        batches[workers] = []
        for epoch in (1, 2):  # persistent workers learn the epoch from the keys
            sampler.set_epoch(epoch)
            batches[workers] += [(b["ids"], b["features"]) for b in loader]
    assert len(batches[0]) == len(batches[2]) > 0
    for (ids0, x0), (ids2, x2) in zip(batches[0], batches[2]):
        assert ids0 == ids2
        torch.testing.assert_close(x0, x2)
    assert not torch.equal(batches[0][0][1], batches[0][len(batches[0]) // 2][1])


def test_store_without_landmarks_is_one_clear_error(small_corpus, tmp_path):
    with FeatureStore(small_corpus.store) as src, FeatureStore(tmp_path / "f.h5", "w") as dst:
        for uid in src.ids():
            dst.write(uid, {"pose": src.read(uid, "pose")}, src.attrs(uid))
    utts = read_manifest(small_corpus.manifest).split("train")
    with pytest.raises(IslposeError, match="no 'landmarks' dataset, which augmentation needs"):
        FeatureDataset(tmp_path / "f.h5", utts, Vocabulary(["G000"]), augment=AugmentConfig(enabled=True))


# ---------------------------------------------------------------- training
def aug_config(tmp_path, epochs=2):
    path = tmp_path / "aug.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "model": "bilstm_optimized",
                "model_config": {"projection_dim": 16, "hidden_dim": 16, "num_layers": 2, "dropout": 0.1},
                "train": {"batch_size": 4, "epochs": epochs, "warmup_epochs": 1, "progress": False, "num_workers": 1},
                "augment": {"enabled": True, "speed": 0.5, "hand_drop": 0.1},
            }
        )
    )
    return path


def test_training_augments_train_only_and_resumes_exactly(small_corpus, tmp_path, monkeypatch):
    def run(*args):
        return CliRunner().invoke(
            cli,
            ["train", "--features", str(small_corpus.store), "--manifest", str(small_corpus.manifest), *map(str, args)],
        )

    straight = run("--config", aug_config(tmp_path, 3), "--out", tmp_path / "straight")
    assert straight.exit_code == 0, straight.output
    saved = yaml.safe_load((tmp_path / "straight" / "config.yaml").read_text())
    assert saved["augment"]["enabled"] is True and saved["augment"]["speed"] == 0.5

    end_epoch = Trainer._end_epoch

    def killed_after_epoch_1(self, epoch, stats):
        assert self.train_set.augment is not None and self.dev_set.augment is None  # never at evaluation
        end_epoch(self, epoch, stats)
        if epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_end_epoch", killed_after_epoch_1)
    assert run("--config", aug_config(tmp_path, 3), "--out", tmp_path / "resumed").exit_code == 130
    monkeypatch.undo()
    resumed = run("--out", tmp_path / "resumed", "--resume")
    assert resumed.exit_code == 0, resumed.output
    rows = [
        [json.loads(line) for line in (tmp_path / d / "metrics.jsonl").read_text().splitlines()]
        for d in ("straight", "resumed")
    ]
    assert [r["epoch"] for r in rows[1]] == [1, 2, 3]
    for a, b in zip(*rows):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
    sa, sb = (read_checkpoint(tmp_path / d / "last.pt")["model_state"] for d in ("straight", "resumed"))
    for key in sa:
        torch.testing.assert_close(sa[key], sb[key], atol=1e-5, rtol=1e-4)


@pytest.fixture(scope="module")
def mm_small(tmp_path_factory):
    from islpose.testing import make_synthetic_corpus

    return make_synthetic_corpus(
        tmp_path_factory.mktemp("mm_aug"),
        num_glosses=6,
        num_signers=3,
        utterances_per_signer=2,
        multimodal=True,
        seed=4,
    )


def test_pose_only_landmarks_get_the_same_changes(utterance):
    """What the pose features read: the first 33 rows, augmented alone, as in the full array."""
    lm, presence = utterance
    config = AugmentConfig(enabled=True, hand_drop=0.2, finger_drop=0.2, frame_drop=0.1, mirror_p=0.5)
    for seed in range(5):
        full, pres_full = augment_landmarks(lm, presence, W, H, config, np.random.default_rng(seed))
        pose, pres = augment_landmarks(lm[:, :33], presence, W, H, config, np.random.default_rng(seed))
        np.testing.assert_array_equal(pres, pres_full)
        np.testing.assert_allclose(pose, full[:, :33], atol=1e-5)
    with pytest.raises(ValueError, match="must be"):
        augment_landmarks(lm[:, :40], presence, W, H, config, np.random.default_rng(0))
