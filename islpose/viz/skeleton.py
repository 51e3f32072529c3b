"""Holistic landmarks drawn as a skeleton, and the panel that shows what was detected.

Each component has its own colour (pose blue, left hand green, right hand orange, face
purple; left and right are the signer's, as MediaPipe names them). A component that was
not detected in a frame is not drawn, and the panel under the frame says so in red; the
panel's timeline shows each component's detections over the whole clip (coloured where
detected, red where not) with the current frame marked, so a lost hand is seen at once.
Images are OpenCV's (H, W, 3) uint8 BGR.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from islpose.features.layout import COMPONENTS, CONNECTIONS, POSE_CONNECTIONS, SLICES
from islpose.viz import deps

# BGR colours of the components, and of what is missing.
COLOURS = {"pose": (245, 165, 66), "left_hand": (83, 200, 0), "right_hand": (0, 145, 255), "face": (216, 147, 206)}
MISSING = (53, 57, 229)
LABELS = {"pose": "pose", "left_hand": "left hand", "right_hand": "right hand", "face": "face"}
VISIBILITY = 0.5  # pose points MediaPipe rates less visible than this are not drawn (as its own drawing does)
_FONT = 0  # cv2.FONT_HERSHEY_SIMPLEX


def blank_canvas(width: int, height: int) -> np.ndarray:
    """A dark grey (height, width, 3) uint8 BGR image to draw on when there is no video."""
    return np.full((height, width, 3), 40, np.uint8)


def draw_skeleton(image: np.ndarray, landmarks: np.ndarray, presence: Sequence[bool] | None = None) -> np.ndarray:
    """Draws one frame's landmarks onto ``image`` (in place).

    A hand that was not detected while the pose places its wrist in view gets a red ring
    there: the place to look for the hand MediaPipe missed.

    Args:
        image: (H, W, 3) uint8 BGR; the landmarks' normalised x, y are scaled to its size.
        landmarks: (543, 4) raw Holistic landmarks (x, y, z, visibility; NaN where missing).
        presence: (4,) pose, left hand, right hand, face detected; None: where not NaN.

    Returns:
        ``image``, with the face contours, the pose and both hands with their fingers.
    """
    cv2 = deps.cv2()
    h, w = image.shape[:2]
    xy = landmarks[:, :2].astype(np.float64) * (w, h)  # (543, 2) pixels
    ok = np.isfinite(xy).all(axis=1)
    pose = SLICES["pose"]
    ok[pose] &= ~(landmarks[pose, 3] < VISIBILITY)  # NaN visibility (not given) keeps the point
    if presence is None:
        presence = [ok[SLICES[comp]].any() for comp in COMPONENTS]
    for comp, present in zip(COMPONENTS, presence):
        if not present:
            ok[SLICES[comp]] = False
    pts = np.round(np.nan_to_num(xy) * 16).astype(np.int32)  # 4 fractional bits: anti-aliased sub-pixel lines
    thick = max(1, round(w / 400))
    head = [e for e in POSE_CONNECTIONS if max(e) < 11]  # eyes, ears, mouth of the pose: thin, like the face
    body = [e for e in POSE_CONNECTIONS if max(e) >= 11]
    _bones(image, pts, ok, SLICES["face"].start, CONNECTIONS["face"], COLOURS["face"], thick, dots=False)
    _bones(image, pts, ok, 0, head, COLOURS["pose"], thick, dots=False)
    _bones(image, pts, ok, 0, body, COLOURS["pose"], thick + 1)
    for comp, wrist in (("left_hand", 15), ("right_hand", 16)):
        if presence[COMPONENTS.index(comp)]:
            _bones(image, pts, ok, SLICES[comp].start, CONNECTIONS[comp], COLOURS[comp], thick + 1)
        elif ok[wrist] and 0 <= xy[wrist, 0] < w and 0 <= xy[wrist, 1] < h:
            centre = (int(pts[wrist, 0]), int(pts[wrist, 1]))
            cv2.circle(image, centre, round(w / 18) * 16, (0, 0, 0), thick + 3, cv2.LINE_AA, shift=4)
            cv2.circle(image, centre, round(w / 18) * 16, MISSING, thick + 1, cv2.LINE_AA, shift=4)
    return image


def _bones(
    image: np.ndarray,
    pts: np.ndarray,
    ok: np.ndarray,
    start: int,
    edges: Sequence[tuple[int, int]],
    colour: tuple[int, int, int],
    width: int,
    dots: bool = True,
) -> None:
    """Draws ``edges`` (landmark pairs counted from ``start``) whose ends are both ``ok``;
    thick ones with a dark outline (visible on any background) and a dot on each joint."""
    cv2 = deps.cv2()
    lines = [pts[[start + a, start + b]] for a, b in edges if ok[start + a] and ok[start + b]]
    if not lines:
        return
    if dots:
        cv2.polylines(image, lines, False, (20, 20, 20), width + 2, cv2.LINE_AA, shift=4)
    cv2.polylines(image, lines, False, colour, width, cv2.LINE_AA, shift=4)
    if dots:
        for i in sorted({start + i for e in edges for i in e if ok[start + i]}):
            cv2.circle(image, (int(pts[i, 0]), int(pts[i, 1])), width * 16, colour, -1, cv2.LINE_AA, shift=4)


def text(
    image: np.ndarray, line: str, org: tuple[int, int], scale: float, colour: tuple[int, int, int], thickness: int = 1
) -> None:
    """Writes ASCII ``line`` at ``org`` (bottom-left) with a dark outline, readable on any background."""
    cv2 = deps.cv2()
    line = line.encode("ascii", "replace").decode()
    cv2.putText(image, line, org, _FONT, scale, (0, 0, 0), thickness + 2, cv2.LINE_AA)
    cv2.putText(image, line, org, _FONT, scale, colour, thickness, cv2.LINE_AA)


def caption(image: np.ndarray, line: str) -> np.ndarray:
    """Writes ``line`` (e.g. a recognised gloss) large, centred at the top, on a dark box."""
    cv2 = deps.cv2()
    w = image.shape[1]
    scale, thickness = w / 600, max(1, round(w / 300))
    (tw, th), base = cv2.getTextSize(line, _FONT, scale, thickness)
    x, y = max(0, (w - tw) // 2), th + base + 4
    cv2.rectangle(image, (x - 6, 2), (x + tw + 6, y + base), (0, 0, 0), -1)
    text(image, line, (x, y), scale, (255, 255, 255), thickness)
    return image


def status_panel(width: int, t: int, presence: np.ndarray) -> np.ndarray:
    """The panel under a frame: which components were detected, and a timeline of the clip.

    Args:
        width: panel width in pixels (the frame's).
        t: the frame shown.
        presence: (T, 4) bool detections of the whole clip.

    Returns:
        (H, width, 3) uint8 BGR: two legend rows (a missing component is a red cross and
        "no ..."), then one timeline row per component (its colour where detected, red
        where not) with a white mark at frame ``t``.
    """
    cv2 = deps.cv2()
    T = len(presence)
    scale = max(0.35, width / 900)
    row, gap = max(4, round(width / 100)), 1
    line_h = round(scale * 36)
    panel = np.full((2 * line_h + 4 * (row + gap) + 4, width, 3), 24, np.uint8)
    r = max(2, line_h // 4)
    for i, comp in enumerate(("left_hand", "right_hand", "pose", "face")):  # the hands first: most often lost
        present = presence[t, COMPONENTS.index(comp)]
        x, y = 4 + (i % 2) * (width // 2), (i // 2) * line_h + line_h // 2 + 1
        colour = COLOURS[comp] if present else MISSING
        if present:
            cv2.circle(panel, (x + r, y), r, colour, -1, cv2.LINE_AA)
        else:  # a red cross where the component's dot would be
            cv2.line(panel, (x, y - r), (x + 2 * r, y + r), colour, 2, cv2.LINE_AA)
            cv2.line(panel, (x, y + r), (x + 2 * r, y - r), colour, 2, cv2.LINE_AA)
        text(panel, LABELS[comp] if present else f"no {LABELS[comp]}", (x + 2 * r + 4, y + r), scale, colour)
    top = 2 * line_h + 2
    cols = (np.arange(width) * T // width).clip(0, T - 1)  # pixel column -> frame
    for c, comp in enumerate(COMPONENTS):
        y = top + c * (row + gap)
        panel[y : y + row] = np.where(presence[cols, c][:, None], COLOURS[comp], MISSING).astype(np.uint8)
    x = min(width - 1, int((t + 0.5) * width / T))
    cv2.line(panel, (x, top - 2), (x, panel.shape[0] - 1), (255, 255, 255), max(1, width // 320))
    return panel
