"""Training data: feature datasets over a store, length-bucketed batching, collation."""
from islpose.data.dataset import FeatureDataset, collate
from islpose.data.sampler import BucketBatchSampler, shard

__all__ = ["BucketBatchSampler", "FeatureDataset", "collate", "shard"]
