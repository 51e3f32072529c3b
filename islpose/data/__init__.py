"""Training data: feature datasets over a store, landmark augmentation, length-bucketed batching, collation."""

from islpose.data.augment import AugmentConfig, augment_landmarks
from islpose.data.dataset import EpochBatches, FeatureDataset, collate
from islpose.data.sampler import BucketBatchSampler, frame_batch_count, pack_frames, shard

__all__ = [
    "AugmentConfig",
    "BucketBatchSampler",
    "EpochBatches",
    "FeatureDataset",
    "augment_landmarks",
    "collate",
    "frame_batch_count",
    "pack_frames",
    "shard",
]
