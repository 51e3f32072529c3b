"""Where everything sits in the landmark array and the feature vectors (docs/reference/features.md)."""

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
LEFT_WRIST, RIGHT_WRIST = 15, 16  # pose landmarks
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
    ``.pose`` file) delivers them to the extraction runner, recognition and drawing.

    Attributes:
        landmarks: (T, 543, 4) float32, NaN where a component is missing.
        presence: (T, 4) bool: pose, left hand, right hand, face detected.
        fps: frame rate (0.0 when unknown).
        width, height: frame size in pixels.
        attrs: further utterance attributes to store (JSON-serialisable values).
        source: the file they came from, or None.
    """

    landmarks: np.ndarray
    presence: np.ndarray
    fps: float
    width: int
    height: int
    attrs: dict[str, Any] = field(default_factory=dict)
    source: str | None = None

    @property
    def num_frames(self) -> int:
        return len(self.landmarks)


def nobody_detected(presence: np.ndarray) -> str | None:
    """Why these landmarks show no signer, or None when they do.

    A signer is a body pose and a face in the same frame, in at least one frame (what
    ``islpose extract``, ``import-pose`` and ``recognize`` all ask of an input).

    Args:
        presence: (T, 4) bool: pose, left hand, right hand, face detected.
    """
    if (presence[:, 0] & presence[:, 3]).any():
        return None
    return f"nobody detected (no frame out of {len(presence)} has both a body pose and a face)"


def presence_of(landmarks: np.ndarray) -> np.ndarray:
    """(T, 543, 4) landmarks -> (T, 4) bool: a component is present where any of its points is finite."""
    return np.stack([np.isfinite(landmarks[:, rows, :2]).all(-1).any(-1) for rows in SLICES.values()], axis=1)


# Holistic topology (MediaPipe's connection lists), as (a, b) landmark pairs within a component.
POSE_CONNECTIONS = (
    (0, 1),
    (1, 2),
    (2, 3),
    (3, 7),
    (0, 4),
    (4, 5),
    (5, 6),
    (6, 8),
    (9, 10),
    (11, 12),
    (11, 13),
    (13, 15),
    (15, 17),
    (15, 19),
    (15, 21),
    (17, 19),
    (12, 14),
    (14, 16),
    (16, 18),
    (16, 20),
    (16, 22),
    (18, 20),
    (11, 23),
    (12, 24),
    (23, 24),
    (23, 25),
    (24, 26),
    (25, 27),
    (26, 28),
    (27, 29),
    (28, 30),
    (29, 31),
    (30, 32),
    (27, 31),
    (28, 32),
)
HAND_CONNECTIONS = (
    (0, 1),
    (1, 2),
    (2, 3),
    (3, 4),
    (0, 5),
    (5, 6),
    (6, 7),
    (7, 8),
    (5, 9),
    (9, 10),
    (10, 11),
    (11, 12),
    (9, 13),
    (13, 14),
    (14, 15),
    (15, 16),
    (13, 17),
    (0, 17),
    (17, 18),
    (18, 19),
    (19, 20),
)
# The face's contours (oval, eyes, eyebrows, lips) as closed or open polylines of face landmarks:
# MediaPipe's FACEMESH_CONTOURS, the light version of its 468-point mesh.
FACE_CONTOURS = (
    (
        10,
        338,
        297,
        332,
        284,
        251,
        389,
        356,
        454,
        323,
        361,
        288,
        397,
        365,
        379,
        378,
        400,
        377,
        152,
        148,
        176,
        149,
        150,
        136,
        172,
        58,
        132,
        93,
        234,
        127,
        162,
        21,
        54,
        103,
        67,
        109,
        10,
    ),  # oval
    (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246, 33),  # eye
    (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466, 263),  # eye
    (46, 53, 52, 65, 55),
    (70, 63, 105, 66, 107),  # eyebrow
    (276, 283, 282, 295, 285),
    (300, 293, 334, 296, 336),  # eyebrow
    (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185, 61),  # outer lips
    (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191, 78),  # inner lips
)
FACE_CONNECTIONS = tuple((a, b) for line in FACE_CONTOURS for a, b in zip(line[:-1], line[1:]))
# Each component's connections, for drawing skeletons and writing .pose limbs.
CONNECTIONS = {
    "pose": POSE_CONNECTIONS,
    "left_hand": HAND_CONNECTIONS,
    "right_hand": HAND_CONNECTIONS,
    "face": FACE_CONNECTIONS,
}
