"""Render a synthetic corpus into small videos, so that RGB teachers can be tested on it.

:func:`render_synthetic_videos` draws the raw landmarks of every utterance of a
:func:`~islpose.testing.make_synthetic_corpus` store as a stick figure on a plain
background (upper-body skeleton, head, and both hands with MediaPipe's hand bones in
different colours) and writes one mp4 per utterance plus a manifest that adds the
``video`` and a ``text`` field (the glosses as a lower-case sentence) to the corpus
manifest. Missing landmarks (NaN) are simply not drawn, like a detector that lost a hand.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from islpose.features.layout import CONNECTIONS, SLICES
from islpose.io import FeatureStore
from islpose.manifests import read_manifest, write_manifest
from islpose.testing.synthetic import FPS, SyntheticCorpus

UPPER_BODY = {11, 12, 13, 14, 15, 16, 23, 24}  # shoulders, elbows, wrists, hips (pose landmarks)
POSE_EDGES = tuple(e for e in CONNECTIONS["pose"] if set(e) <= UPPER_BODY)
HAND_EDGES = CONNECTIONS["left_hand"]
BACKGROUND = (235, 235, 235)  # BGR
COLOURS = {"pose": (120, 70, 20), "left_hand": (40, 160, 40), "right_hand": (40, 40, 200), "head": (90, 90, 90)}


def render_frame(landmarks: np.ndarray, width: int, height: int) -> np.ndarray:
    """Draws one frame of raw landmarks.

    Args:
        landmarks: (543, 4) raw Holistic landmarks, x and y normalised to the image.
        width, height: output size in pixels.

    Returns:
        (height, width, 3) uint8 BGR image.
    """
    import cv2

    img = np.empty((height, width, 3), np.uint8)
    img[:] = BACKGROUND
    xy = landmarks[:, :2] * np.array([width, height])  # (543, 2) pixels
    ok = np.isfinite(xy).all(axis=1)
    pt = lambda i: (int(round(xy[i, 0])), int(round(xy[i, 1])))  # noqa: E731
    thick = max(1, round(width / 80))

    def lines(offset: int, edges: tuple, colour: tuple) -> None:
        for a, b in edges:
            if ok[offset + a] and ok[offset + b]:
                cv2.line(img, pt(offset + a), pt(offset + b), colour, thick, cv2.LINE_AA)

    lines(0, POSE_EDGES, COLOURS["pose"])
    face = np.arange(SLICES["face"].start, SLICES["face"].stop)[ok[SLICES["face"]]]
    if len(face):
        centre = xy[face].mean(axis=0)
        radius = max(2, int(np.ptp(xy[face, 0]) / 2))
        cv2.circle(img, (int(centre[0]), int(centre[1])), radius, COLOURS["head"], thick, cv2.LINE_AA)
    for part in ("left_hand", "right_hand"):
        start = SLICES[part].start
        lines(start, HAND_EDGES, COLOURS[part])
        for tip in (4, 8, 12, 16, 20):  # fingertips as dots: the hand shape stays visible when small
            if ok[start + tip]:
                cv2.circle(img, pt(start + tip), thick, COLOURS[part], -1, cv2.LINE_AA)
    return img


def render_synthetic_videos(
    corpus: SyntheticCorpus, out_dir: str | Path, *, width: int = 160, height: int = 120, fps: float = FPS
) -> Path:
    """Renders every utterance of ``corpus`` into ``out_dir/videos/<id>.mp4``.

    Args:
        corpus: a corpus made by :func:`~islpose.testing.make_synthetic_corpus`.
        out_dir: output folder (created).
        width, height: video size in pixels (small keeps tests fast).
        fps: frame rate written into the videos.

    Returns:
        The manifest ``out_dir/videos.jsonl``: the corpus manifest plus ``video`` (relative
        to the manifest) and ``text`` (the glosses lower-cased and joined by spaces).
    """
    import cv2

    out = Path(out_dir)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    utterances = []
    with FeatureStore(corpus.store) as store:
        for utt in read_manifest(corpus.manifest):
            rel = f"videos/{utt.id}.mp4"
            writer = cv2.VideoWriter(str(out / rel), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
            if not writer.isOpened():
                raise RuntimeError(f"OpenCV cannot write mp4v video {out / rel}")
            try:
                for frame in store.read(utt.id, "landmarks"):  # (543, 4) per frame
                    writer.write(render_frame(frame, width, height))
            finally:
                writer.release()
            utterances.append(replace(utt, video=rel, text=" ".join(utt.glosses or ()).lower()))
    return write_manifest(utterances, out / "videos.jsonl")
