"""A synthetic signing corpus for tests and benchmarks.

Every gloss is a distinct movement of the dominant (right) hand around the body with its
own hand shape, location and duration; some glosses use both hands. Signers differ the
way real signers do (:func:`_make_signer`): body proportions (arm reach, hand, head and
hip size, neck length), camera placement and distance (size and position in the frame,
roll, foreshortening from a camera off to the side or above), signing speed, sign size
and a personal offset of where they sign, so dev and test (which hold out signers) test
generalisation to unseen signers. Between signs the hands move smoothly from the end of one
sign into the start of the next (co-articulation); landmarks carry noise, hands drop out
for short runs of frames (NaN, presence False) and sentences follow a gloss bigram
model, so a gloss language model has something to learn. Chance WER is about 100%.

The output is what ``islpose extract`` would write: a feature store with raw
``landmarks`` (T, 543, 4), ``presence`` (T, 4), ``pose`` (T, 66) and optionally
``multimodal`` (T, 6516), plus a JSONL manifest with train/dev/test splits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from islpose.features import multimodal_features, pose_features
from islpose.features.layout import SLICES
from islpose.io import FeatureStore
from islpose.manifests import Utterance, write_manifest

WIDTH, HEIGHT, FPS = 640, 480, 25.0

# Body template in shoulder-width units, origin at the shoulder mid-point, y down.
# MediaPipe's "left" is the signer's left, which a front camera shows on the image right (+x).
_POSE = np.array(
    [
        (0.0, -0.9),
        (0.07, -1.0),
        (0.11, -1.0),
        (0.15, -1.0),
        (-0.07, -1.0),
        (-0.11, -1.0),
        (-0.15, -1.0),
        (0.24, -0.95),
        (-0.24, -0.95),
        (0.06, -0.78),
        (-0.06, -0.78),
        (0.5, 0.0),
        (-0.5, 0.0),
        (0.6, 0.7),
        (-0.6, 0.7),
        (0.5, 1.2),
        (-0.5, 1.2),  # elbows, wrists (replaced per frame)
        (0.5, 1.3),
        (-0.5, 1.3),
        (0.5, 1.3),
        (-0.5, 1.3),
        (0.5, 1.3),
        (-0.5, 1.3),  # hand points (replaced)
        (0.35, 1.6),
        (-0.35, 1.6),
        (0.4, 2.6),
        (-0.4, 2.6),
        (0.4, 3.5),
        (-0.4, 3.5),
        (0.42, 3.6),
        (-0.42, 3.6),
        (0.5, 3.7),
        (-0.5, 3.7),
    ]
)
_REST = {"left": np.array([0.45, 1.25]), "right": np.array([-0.45, 1.25])}
# Hand skeleton: wrist, then thumb (1-4), index (5-8), middle (9-12), ring (13-16), pinky (17-20).
_FINGER_BASE_ANGLE = np.array([-0.9, -0.3, 0.0, 0.25, 0.5])  # radians from the palm axis
_FINGER_BASE_LEN = np.array([0.10, 0.20, 0.21, 0.20, 0.18])  # wrist -> MCP, shoulder widths
_SEGMENT_LEN = np.array([0.07, 0.06, 0.05])


@dataclass(frozen=True)
class _Gloss:
    name: str
    centre: np.ndarray  # (2,) where the right hand signs, body units
    coeffs: np.ndarray  # (2, K, 2) Fourier amplitudes (x/y, harmonic, sin/cos)
    curl: np.ndarray  # (2, 5) finger curl at start / end of the sign
    palm: np.ndarray  # (2,) palm angle at start / end
    frames: int  # duration at speed 1
    two_handed: bool


@dataclass(frozen=True)
class SyntheticCorpus:
    """Paths and facts of a generated corpus.

    Attributes:
        store: the HDF5 feature store.
        manifest: the JSONL manifest (id, glosses, split, signer).
        glosses: the gloss names.
        splits: utterances per split.
        spans: id -> the true frame span ``(first, end)`` (end exclusive) of each gloss of
            the utterance, in order: the frames of the sign itself, without the transitions.
    """

    store: Path
    manifest: Path
    glosses: tuple[str, ...]
    splits: dict[str, int]
    spans: dict[str, list[tuple[int, int]]] = field(default_factory=dict)


def _make_glosses(n: int, rng: np.random.Generator) -> list[_Gloss]:
    glosses = []
    for i in range(n):
        glosses.append(
            _Gloss(
                name=f"G{i:03d}",
                centre=np.array([rng.uniform(-0.6, 0.5), rng.uniform(-0.9, 0.9)]),
                coeffs=rng.normal(0.0, 0.22, size=(2, 2, 2)),
                curl=rng.uniform(0.0, 1.0, size=(2, 5)),
                palm=rng.uniform(-0.8, 0.8, size=2) + np.pi / 2 + np.pi,
                frames=int(rng.integers(8, 15)),
                two_handed=bool(rng.random() < 0.35),
            )
        )
    return glosses


def _bigram(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n + 1, n) next-gloss probabilities; row n is the sentence start. Each gloss
    prefers a few successors, so sentences are predictable but not fixed."""
    logits = rng.normal(0.0, 1.0, size=(n + 1, n))
    for row in logits:
        row[rng.choice(n, size=min(4, n), replace=False)] += 3.0
    probs = np.exp(logits)
    return probs / probs.sum(axis=1, keepdims=True)


def _hand_points(wrist: np.ndarray, palm: np.ndarray, curl: np.ndarray, mirror: float, size: float = 1.0) -> np.ndarray:
    """21 hand points. wrist (T, 2), palm (T,), curl (T, 5) -> (T, 21, 2) body units;
    ``size`` scales the hand."""
    T = len(wrist)
    pts = np.empty((T, 21, 2))
    pts[:, 0] = wrist
    for f in range(5):
        angle = palm + mirror * _FINGER_BASE_ANGLE[f]  # (T,)
        joint = wrist + size * _FINGER_BASE_LEN[f] * np.stack([np.cos(angle), np.sin(angle)], axis=-1)
        pts[:, 1 + 4 * f] = joint
        for s in range(3):
            angle = angle + mirror * curl[:, f] * 1.1  # each segment bends further
            joint = joint + size * _SEGMENT_LEN[s] * np.stack([np.cos(angle), np.sin(angle)], axis=-1)
            pts[:, 2 + 4 * f + s] = joint
    return pts


def _ease(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """n frames moving smoothly from a to b (cosine easing). a, b (D,) -> (n, D)."""
    w = (1 - np.cos(np.linspace(0, np.pi, n + 2)[1:-1])) / 2
    return a + w[:, None] * (b - a)


def _sentence_tracks(
    glosses: list[_Gloss], seq: list[int], signer: dict, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], list[tuple[int, int]]]:
    """Per-frame tracks of one sentence, in body units: right/left wrist ``rw``/``lw``
    (T, 2), palm angles ``rp``/``lp`` (T,), finger curls ``rc``/``lc`` (T, 5); and the
    (first, end) frames of each sign."""
    keys = ("rw", "lw", "rp", "lp", "rc", "lc")
    rest_curl = np.full(5, 0.3)
    rest = (_REST["right"], _REST["left"], np.array([np.pi / 2]), np.array([np.pi / 2]), rest_curl, rest_curl)
    segments: list[tuple[np.ndarray, ...]] = []  # each: one (n, D) array per key
    spans: list[tuple[int, int]] = []

    def glide(a: tuple, b: tuple, n: int) -> None:
        segments.append(tuple(_ease(x, y, n) for x, y in zip(a, b)))

    def hold(state: tuple, n: int) -> None:
        segments.append(tuple(np.tile(x, (n, 1)) for x in state))

    hold(rest, int(rng.integers(3, 7)))
    state = rest
    for gi in seq:
        g = glosses[gi]
        n = max(4, int(round(g.frames / signer["speed"] * rng.uniform(0.85, 1.15))))
        u = np.linspace(0.0, 1.0, n)[:, None]  # (n, 1)
        phase = 2 * np.pi * u * np.arange(1, 3)  # (n, K=2)
        offset = (
            np.sin(phase)[:, None, :] * g.coeffs[None, :, :, 0]
            + (np.cos(phase)[:, None, :] - 1) * g.coeffs[None, :, :, 1]
        ).sum(-1)  # (n, 2)
        rw = g.centre * signer["reach"] + signer["style"] + offset * signer["sign_size"]
        rc = g.curl[0] + u * (g.curl[1] - g.curl[0])  # (n, 5)
        rp = g.palm[0] + u * (g.palm[1] - g.palm[0])  # (n, 1)
        if g.two_handed:  # the left hand mirrors the right about the body's midline
            sign = (rw, rw * np.array([-1.0, 1.0]), rp, np.pi - rp, rc, rc)
        else:
            sign = (rw, np.tile(_REST["left"], (n, 1)), rp, np.full((n, 1), np.pi / 2), rc, np.tile(rest_curl, (n, 1)))
        glide(state, tuple(x[0] for x in sign), int(rng.integers(3, 6)))  # co-articulation
        first = sum(len(seg[0]) for seg in segments)
        spans.append((first, first + n))
        segments.append(sign)
        state = tuple(x[-1] for x in sign)
    glide(state, rest, 4)
    hold(rest, int(rng.integers(3, 7)))
    tracks = {k: np.concatenate([seg[i] for seg in segments]) for i, k in enumerate(keys)}
    tracks["rp"], tracks["lp"] = tracks["rp"][:, 0], tracks["lp"][:, 0]
    return tracks, spans


def _render(
    tracks: dict[str, np.ndarray],
    face: np.ndarray,
    signer: dict,
    noise: float,
    drop_rate: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Tracks in body units -> (landmarks (T, 543, 4), presence (T, 4)) as Holistic gives them."""
    T = len(tracks["rw"])
    body = np.zeros((T, 543, 2))
    body[:, SLICES["pose"]] = _POSE
    right = _hand_points(tracks["rw"], tracks["rp"], tracks["rc"], mirror=1.0, size=signer["hand"])
    left = _hand_points(tracks["lw"], tracks["lp"], tracks["lc"], mirror=-1.0, size=signer["hand"])
    body[:, SLICES["right_hand"]] = right
    body[:, SLICES["left_hand"]] = left
    for side, hand, shoulder in ((1, left, 11), (0, right, 12)):  # pose indices: left odd, right even
        wrist = hand[:, 0]
        mid = (_POSE[shoulder] + wrist) / 2
        out = np.sign(_POSE[shoulder][0]) * 0.25
        body[:, 13 + (1 - side), :] = mid + np.array([out, 0.2])  # elbows 13 (left) / 14 (right)
        body[:, 15 + (1 - side)] = wrist
        body[:, 17 + (1 - side)] = hand[:, 20]  # pinky
        body[:, 19 + (1 - side)] = hand[:, 8]  # index
        body[:, 21 + (1 - side)] = hand[:, 4]  # thumb
    nose = _POSE[0] + (0.0, signer["neck"])
    body[:, :11] = nose + signer["head"] * (_POSE[:11] - _POSE[0])
    body[:, 23:33] = _POSE[23:33] * (signer["hips"], 1.0)
    head = rng.normal(0.0, 0.01, size=(T, 2)).cumsum(axis=0) * 0.3  # slow head drift
    body[:, SLICES["face"]] = signer["head"] * face + nose + head[:, None, :]
    body[:, :11] += head[:, None, :]
    body += rng.normal(0.0, noise, size=body.shape)

    scale, centre = signer["scale"], signer["centre"]
    body = body @ signer["camera"].T  # roll and foreshortening of the camera
    lm = np.empty((T, 543, 4), dtype=np.float32)
    lm[..., 0] = (centre[0] + body[..., 0] * scale) / WIDTH
    lm[..., 1] = (centre[1] + body[..., 1] * scale) / HEIGHT
    lm[..., 2] = rng.normal(0.0, 0.02, size=(T, 543)) * scale / WIDTH
    lm[..., 3] = 1.0
    lm[:, 23:33, 3] = 0.2  # legs are mostly out of view

    presence = np.ones((T, 4), dtype=bool)
    for comp in (1, 2):  # hands drop out in short runs
        t = 0
        while t < T:
            if rng.random() < drop_rate:
                run = int(rng.integers(1, 5))
                presence[t : t + run, comp] = False
                t += run
            t += 1
    for comp, rows in enumerate(SLICES.values()):
        lm[~presence[:, comp], rows] = np.nan
    return lm, presence


def _make_signer(rng: np.random.Generator) -> dict:
    """One signer's body, camera and signing habits (ranges like those between real signers
    and recording set-ups)."""
    roll = np.radians(rng.uniform(-6, 6))
    foreshorten = np.diag([rng.uniform(0.85, 1.0), rng.uniform(0.9, 1.0)])  # camera to the side / above
    rotation = np.array([[np.cos(roll), -np.sin(roll)], [np.sin(roll), np.cos(roll)]])
    return {
        "scale": rng.uniform(80, 160),  # camera distance: pixels per shoulder width
        "centre": np.array([rng.uniform(0.35, 0.65) * WIDTH, rng.uniform(0.35, 0.6) * HEIGHT]),
        "camera": rotation @ foreshorten,
        "speed": rng.uniform(0.75, 1.35),
        "reach": rng.uniform(0.85, 1.15),  # arm length relative to the shoulders
        "sign_size": rng.uniform(0.7, 1.35),  # how large the movements are
        "style": rng.normal(0.0, 0.06, size=2),  # where this signer signs
        "hand": rng.uniform(0.85, 1.2),
        "head": rng.uniform(0.85, 1.15),
        "neck": rng.uniform(-0.1, 0.1),
        "hips": rng.uniform(0.85, 1.2),
    }


def _face(rng: np.random.Generator) -> np.ndarray:
    """(468, 2) face points in face units, with the nose tip and the outer eye corners
    where the features look for them."""
    face = np.stack([rng.uniform(-0.22, 0.22, 468), rng.uniform(-0.3, 0.3, 468)], axis=1)
    face[1] = (0.0, 0.0)  # nose tip
    face[33], face[263] = (-0.2, -0.12), (0.2, -0.12)  # outer eye corners
    return face


def _sentence(bigram: np.ndarray, min_glosses: int, max_glosses: int, rng: np.random.Generator) -> list[int]:
    """Gloss indices of one sentence: its length drawn from [min_glosses, max_glosses], its
    glosses from the bigram chain (whose last row is the sentence start)."""
    n = int(rng.integers(min_glosses, max_glosses + 1))
    seq, prev = [], len(bigram) - 1
    for _ in range(n):
        prev = int(rng.choice(bigram.shape[1], p=bigram[prev]))
        seq.append(prev)
    return seq


def _arrays(lm: np.ndarray, presence: np.ndarray, multimodal: bool) -> dict[str, np.ndarray]:
    """What the store keeps of one utterance: landmarks (T, 543, 4), presence (T, 4), the
    pose features and, when asked, the multimodal ones."""
    arrays = {"landmarks": lm, "presence": presence, "pose": pose_features(lm, presence, WIDTH, HEIGHT)}
    if multimodal:
        arrays["multimodal"] = multimodal_features(lm, presence, WIDTH, HEIGHT)
    return arrays


def make_synthetic_corpus(
    out_dir: str | Path,
    *,
    num_glosses: int = 20,
    num_signers: int = 6,
    utterances_per_signer: int = 30,
    min_glosses: int = 2,
    max_glosses: int = 5,
    noise: float = 0.01,
    drop_rate: float = 0.03,
    multimodal: bool = False,
    seed: int = 0,
) -> SyntheticCorpus:
    """Generates a corpus into ``out_dir`` (``features.h5`` + ``corpus.jsonl``).

    Args:
        out_dir: folder to write to (created).
        num_glosses: vocabulary size without ``<blank>``.
        num_signers: at least 3; the last signer is the test split, the one before it dev.
        utterances_per_signer: sentences per signer.
        min_glosses, max_glosses: sentence length range.
        noise: landmark jitter in shoulder widths.
        drop_rate: chance per frame that a missing-hand run starts.
        multimodal: also store the 6516-d features (about 13 kB per frame).
        seed: everything is reproducible from it.

    Returns:
        The corpus paths and split sizes.
    """
    if num_signers < 3:
        raise ValueError("num_signers must be >= 3 (train, dev and test hold out signers)")
    if not 1 <= min_glosses <= max_glosses:
        raise ValueError("need 1 <= min_glosses <= max_glosses")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    glosses = _make_glosses(num_glosses, rng)
    bigram = _bigram(num_glosses, rng)
    face = _face(rng)

    utterances = []
    spans: dict[str, list[tuple[int, int]]] = {}
    store_path = out / "features.h5"
    with FeatureStore(store_path, "w", metadata={"extractor": {"name": "synthetic", "seed": seed}}) as store:
        for s in range(num_signers):
            split = "test" if s == num_signers - 1 else "dev" if s == num_signers - 2 else "train"
            signer = _make_signer(rng)
            for k in range(utterances_per_signer):
                seq = _sentence(bigram, min_glosses, max_glosses, rng)
                tracks, sign_spans = _sentence_tracks(glosses, seq, signer, rng)
                arrays = _arrays(*_render(tracks, face, signer, noise, drop_rate, rng), multimodal)
                uid = f"s{s:02d}_u{k:04d}"
                spans[uid] = sign_spans
                store.write(uid, arrays, {"fps": FPS, "width": WIDTH, "height": HEIGHT, "source": "synthetic"})
                utterances.append(
                    Utterance(uid, glosses=tuple(glosses[i].name for i in seq), split=split, signer=f"signer{s:02d}")
                )
    manifest = write_manifest(utterances, out / "corpus.jsonl")
    splits = {name: sum(u.split == name for u in utterances) for name in ("train", "dev", "test")}
    return SyntheticCorpus(store_path, manifest, tuple(g.name for g in glosses), splits, spans)
