"""Landmark layout and feature math (pure numpy); the stages that produce landmarks live in :mod:`islpose.extract`."""

from islpose.features.compute import compute_features, multimodal_features, pose_features, signing_span
from islpose.features.layout import MULTIMODAL_DIM, NUM_LANDMARKS, POSE_DIM, SLICES, modality_columns

__all__ = [
    "MULTIMODAL_DIM",
    "NUM_LANDMARKS",
    "POSE_DIM",
    "SLICES",
    "compute_features",
    "modality_columns",
    "multimodal_features",
    "pose_features",
    "signing_span",
]
