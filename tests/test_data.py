"""Feature datasets, collation and length-bucketed batch samplers."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from islpose.data import BucketBatchSampler, FeatureDataset, collate, frame_batch_count, pack_frames, shard
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


def test_frame_budget_batches_bound_the_padded_frames():
    lengths = np.random.default_rng(2).integers(20, 400, size=300)
    lengths[7] = 5000  # longer than the budget on its own: a batch of its own
    sampler = BucketBatchSampler(lengths, 1, max_frames=2000, seed=4)  # batch_size is not used
    batches = list(sampler)
    assert len(batches) == len(sampler)
    assert sorted(i for b in batches for i in b) == list(range(300))
    assert [7] in batches
    assert all(len(b) * lengths[b].max() <= 2000 for b in batches if b != [7])
    assert max(len(b) for b in batches) > 5  # short utterances share big batches, long ones small ones
    assert padding_ratio(sampler, lengths) < 1.1  # bucketing keeps working
    # The same batches every epoch, in another order (same number of steps).
    sampler.set_epoch(1)
    assert list(sampler) != batches and sorted(map(sorted, sampler)) == sorted(map(sorted, batches))
    assert pack_frames([10, 30, 20], 60) == [[0, 2], [1]] and pack_frames([], 10) == []


@pytest.mark.parametrize("n, world, max_frames", [(301, 2, 1500), (100, 3, 700), (50, 2, 100000), (7, 2, 1)])
def test_frame_budget_gives_every_rank_the_same_number_of_batches(n, world, max_frames):
    """Each rank batches its own shard; ``num_batches`` from all lengths evens the step counts."""
    rng = np.random.default_rng(n)
    lengths = np.concatenate([rng.integers(10, 60, size=n // 2), rng.integers(200, 500, size=n - n // 2)])
    rng.shuffle(lengths)
    count = frame_batch_count(lengths, max_frames, world)
    per_rank, unequal = [], []
    for rank in range(world):
        share = shard(lengths, world, rank)
        alone = BucketBatchSampler(lengths[share], 8, max_frames=max_frames)
        sampler = BucketBatchSampler(lengths[share], 8, max_frames=max_frames, num_batches=count, seed=rank)
        batches = list(sampler)
        per_rank.append(len(batches))
        assert sorted(i for b in batches for i in b) == list(range(len(share)))
        assert all(len(b) == 1 or len(b) * lengths[share][b].max() <= max_frames for b in batches)
        assert len(alone) <= count  # only splits: never more frames in a batch
        unequal.append(len(alone))
    assert per_rank == [count] * world
    if (n, world) == (100, 3):
        assert unequal == [16, 15, 15]  # the shards alone would give different step counts
    with pytest.raises(ValueError, match="num_batches"):
        BucketBatchSampler(lengths, 8, max_frames=max_frames, num_batches=len(lengths) + 1)
