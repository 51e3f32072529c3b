"""Where everything sits in the landmark array and the feature vectors (SPEC.md)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

NUM_LANDMARKS = 543
COMPONENTS = ("pose", "left_hand", "right_hand", "face")
# Landmark rows of each component in the (T, 543, 4) array.
SLICES = {
    "pose": slice(0, 33),
    "left_hand": slice(33, 54),
    "right_hand": slice(54, 75),
    "face": slice(75, 543),
}
SIZES = np.array([33, 21, 21, 468])
# Landmark index -> component index (0 pose, 1 left hand, 2 right hand, 3 face).
COMPONENT_OF = np.repeat(np.arange(4), SIZES)

LEFT_SHOULDER, RIGHT_SHOULDER = 11, 12  # pose landmarks
HAND_WRIST, HAND_MIDDLE_MCP = 0, 9  # hand landmarks (within a hand)
FACE_NOSE_TIP, FACE_EYE_OUTER_A, FACE_EYE_OUTER_B = 1, 33, 263  # face landmarks (within the face)

POSE_DIM = 66
BLOCK = NUM_LANDMARKS * 3  # 1629 values per block of the multimodal features
MULTIMODAL_DIM = 4 * BLOCK  # 6516


def _columns(block: int, component: str) -> np.ndarray:
    rows = SLICES[component]
    return block * BLOCK + np.arange(rows.start * 3, rows.stop * 3)


def modality_columns() -> dict[str, np.ndarray]:
    """Column indices of the 6516-d vector that each modality encoder reads.

    pose = pose columns of blocks 0-1 (198), hands = both hands of blocks 0-1 (252),
    face = face of blocks 0-1 (2808), temporal = blocks 2-3 (3258).
    """
    two = lambda comps: np.concatenate([_columns(b, c) for b in (0, 1) for c in comps])  # noqa: E731
    return {
        "pose": two(["pose"]),
        "hands": two(["left_hand", "right_hand"]),
        "face": two(["face"]),
        "temporal": np.arange(2 * BLOCK, 4 * BLOCK),
    }


@dataclass
class Landmarks:
    """The landmarks of one utterance, as every source (a video through MediaPipe, a
    ``.pose`` file) delivers them to the extraction runner.

    Attributes:
        landmarks: (T, 543, 4) float32, NaN where a component is missing.
        presence: (T, 4) bool: pose, left hand, right hand, face detected.
        fps: frame rate (0.0 when unknown).
        width, height: frame size in pixels.
        attrs: further utterance attributes to store (JSON-serialisable values).
    """

    landmarks: np.ndarray
    presence: np.ndarray
    fps: float
    width: int
    height: int
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return len(self.landmarks)
