"""Feature datasets, collation and length-bucketed batch samplers."""
from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from islpose.data import BucketBatchSampler, FeatureDataset, collate, shard
from islpose.errors import IslposeError
from islpose.io import FeatureStore
from islpose.manifests import Utterance
from islpose.vocab import Vocabulary

LENGTHS = {"a": 12, "b": 5, "c": 30, "d": 1}
GLOSSES = {"a": ("HELLO", "WORLD"), "b": ("WORLD",), "c": ("I", "GO", "HOME"), "d": ("HELLO",)}


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "feats.h5"
    rng = np.random.default_rng(0)
    with FeatureStore(path, "w") as s:
        for uid, T in LENGTHS.items():
            s.write(uid, {"pose": rng.normal(size=(T, 66)).astype(np.float32)}, {"fps": 25.0})
    return path


def utterances(ids=LENGTHS):
    return [Utterance(uid, glosses=GLOSSES[uid], split="train") for uid in ids]


VOCAB = Vocabulary(["HELLO", "WORLD", "I", "GO"])  # HOME is unknown -> <unk>


@pytest.mark.parametrize("preload_gb", [8.0, 0.0])
def test_dataset_items_in_memory_and_read_on_access(store, preload_gb):
    ds = FeatureDataset(store, utterances(), VOCAB, "pose", preload_gb=preload_gb)
    assert ds.in_memory == (preload_gb > 0)
    assert ds.lengths == list(LENGTHS.values()) and ds.dim == 66 and len(ds) == 4
    with FeatureStore(store) as s:
        for i, uid in enumerate(LENGTHS):
            item = ds[i]
            assert item["id"] == uid
            np.testing.assert_array_equal(item["features"], s.read(uid, "pose"))
            assert item["targets"].tolist() == VOCAB.encode(GLOSSES[uid])
    assert ds[2]["targets"].tolist()[-1] == VOCAB.unk_id
    assert ds.references[2] == "I GO HOME"


def test_lazy_dataset_works_in_dataloader_workers(store):
    ds = FeatureDataset(store, utterances(), VOCAB, "pose", preload_gb=0)
    ds[0]  # opens the store in this process; workers must open their own
    loader = torch.utils.data.DataLoader(ds, batch_size=2, collate_fn=collate, num_workers=1)
    assert sorted(i for batch in loader for i in batch["ids"]) == sorted(LENGTHS)


@pytest.mark.parametrize("preload_gb", [8.0, 0.0])
def test_nan_features_are_a_clear_error_naming_the_utterance(store, preload_gb):
    with h5py.File(store, "r+") as f:
        f["utterances/c/pose"][7, 3] = np.inf
    with pytest.raises(IslposeError, match=r"feats\.h5: utterance 'c': pose features contain NaN or inf.*frame 7"):
        ds = FeatureDataset(store, utterances(), VOCAB, "pose", preload_gb=preload_gb)
        [ds[i] for i in range(len(ds))]


def test_missing_feature_dataset_is_a_clear_error(store):
    with pytest.raises(IslposeError, match="'a' has no 'multimodal'"):
        FeatureDataset(store, utterances(), VOCAB, "multimodal")


def test_collate_pads_and_concatenates_targets(store):
    ds = FeatureDataset(store, utterances(), VOCAB, "pose")
    batch = collate([ds[0], ds[1], ds[2]])
    assert batch["features"].shape == (3, 30, 66) and batch["features"].dtype == torch.float32
    assert batch["lengths"].tolist() == [12, 5, 30]
    assert batch["ids"] == ["a", "b", "c"]
    assert torch.equal(batch["features"][1, :5], torch.from_numpy(ds[1]["features"]))
    assert batch["features"][1, 5:].abs().sum() == 0
    assert batch["target_lengths"].tolist() == [2, 1, 3]
    assert batch["targets"].tolist() == VOCAB.encode("HELLO WORLD WORLD I GO HOME")


def padding_ratio(sampler, lengths):
    lengths = np.asarray(lengths)
    padded = sum(len(b) * lengths[b].max() for b in sampler)
    return padded / lengths.sum()


def test_bucketing_covers_every_utterance_once_and_reduces_padding():
    lengths = np.random.default_rng(0).integers(20, 400, size=500)
    bucketed = BucketBatchSampler(lengths, 16, pool=10, seed=3)
    plain = BucketBatchSampler(lengths, 16, bucketing=False, seed=3)
    for sampler in (bucketed, plain):
        batches = list(sampler)
        assert len(batches) == len(sampler) == 32
        assert sorted(i for b in batches for i in b) == list(range(500))
        assert all(1 <= len(b) <= 16 for b in batches)
    assert padding_ratio(bucketed, lengths) < 1.1 < 1.5 < padding_ratio(plain, lengths)


def test_order_depends_only_on_seed_and_epoch():
    lengths = list(range(1, 101))
    a, b = BucketBatchSampler(lengths, 8, seed=1), BucketBatchSampler(lengths, 8, seed=1)
    assert list(a) == list(b)
    a.set_epoch(1)
    assert list(a) != list(b)
    b.set_epoch(1)
    assert list(a) == list(b)
    fixed = BucketBatchSampler(lengths, 8, shuffle=False)
    assert list(fixed) == list(fixed) and [i for bt in fixed for i in bt] == list(range(100))


@pytest.mark.parametrize("n, world", [(50, 2), (50, 3), (2, 3), (0, 2)])
def test_each_rank_loads_its_own_share(n, world):
    lengths = np.random.default_rng(1).integers(5, 100, size=n)
    shares = [shard(lengths, world, r) for r in range(world)]
    assert len({len(s) for s in shares}) == 1  # every rank runs the same number of steps
    seen = [i for s in shares for i in s]
    assert set(seen) == set(range(n)) and len(seen) - n < world  # all items, at most one round repeated
    if n >= world:
        assert len(set(shares[0]) & set(shares[1])) <= 1
    with pytest.raises(ValueError, match="rank"):
        shard(lengths, world, world)
