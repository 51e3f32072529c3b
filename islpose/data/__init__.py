"""Training data: feature datasets over a store, length-bucketed batching, collation."""
from islpose.data.dataset import FeatureDataset, collate
from islpose.data.sampler import BucketBatchSampler, frame_batch_count, pack_frames, shard

__all__ = ["BucketBatchSampler", "FeatureDataset", "collate", "frame_batch_count", "pack_frames", "shard"]
