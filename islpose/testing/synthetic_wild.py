"""A second synthetic signing corpus whose signers differ much more than in :mod:`islpose.testing.synthetic`.

It shares no sign model with the first generator, so a setting tuned on one can be checked
on the other. Each gloss is a path through 2-4 keyframes of the dominant hand (place in the
signing space, hand shape from a small inventory, palm direction), traced by a Catmull-Rom
spline, optionally with a trill; the other hand rests, mirrors the dominant one or holds a
base hand shape. Sentences follow random templates over four gloss classes with Zipf-like
word frequencies.

Signers (:func:`make_wild_signer`) differ in body size in the frame (up to 1.6x), position in
the frame and camera roll, signing speed (0.8-1.25x), sign size, a personal warp of the
signing space plus a personal offset of every sign's path, handedness (left-handed signers
mirror every sign), how often they repeat a repeatable movement, hesitate (holds between and
within signs), how strongly neighbouring signs blend (co-articulation), and how often the
tracker loses a hand (0-6% of frames; the pose model's hand points then stay where the hand
was last seen).

The output is what the first generator writes: ``features.h5`` (``landmarks`` (T, 543, 4),
``presence`` (T, 4), ``pose`` (T, 66), optionally ``multimodal`` (T, 6516)) and a JSONL
manifest ``corpus.jsonl`` with train/dev/test splits that hold out whole signers, and every
sign's true frame span.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from islpose.features import multimodal_features, pose_features
from islpose.features.layout import SLICES
from islpose.io import FeatureStore
from islpose.manifests import Utterance, write_manifest
from islpose.testing.synthetic import SyntheticCorpus

WIDTH, HEIGHT, FPS = 720, 540, 25.0
# Hand shapes: flexion of thumb, index, middle, ring, pinky (0 straight, 1 fist) and finger spread.
_HANDSHAPES = np.array(
    [
        [0.0, 0.0, 0.0, 0.0, 0.0, 1.0],
        [0.9, 1.0, 1.0, 1.0, 1.0, 0.2],
        [0.8, 0.0, 1.0, 1.0, 1.0, 0.3],
        [0.8, 0.0, 0.0, 1.0, 1.0, 0.6],
        [0.0, 1.0, 1.0, 1.0, 0.0, 0.8],
        [0.5, 0.5, 0.5, 0.5, 0.5, 0.4],
        [0.0, 0.0, 1.0, 1.0, 1.0, 0.9],
        [0.9, 1.0, 1.0, 1.0, 0.0, 0.5],
        [0.3, 0.0, 0.0, 0.0, 0.0, 0.0],
        [0.6, 0.3, 0.6, 0.9, 1.0, 0.5],
        [0.9, 0.0, 0.0, 0.0, 1.0, 0.7],
        [0.0, 0.8, 0.8, 0.0, 0.0, 0.6],
    ]
)
_FAN = np.array([-1.1, -0.35, 0.0, 0.3, 0.6])  # finger directions from the hand axis, times the spread
_BONES = np.array(
    [
        [0.05, 0.05, 0.04, 0.03],
        [0.1, 0.06, 0.035, 0.03],
        [0.1, 0.065, 0.04, 0.03],
        [0.095, 0.06, 0.035, 0.03],
        [0.09, 0.045, 0.03, 0.025],
    ]
)  # per finger, shoulder widths
_BEND = np.array([0.2, 0.9, 0.8, 0.6])  # radians of bend per bone at full flexion
_UPPER_ARM, _FOREARM = 0.62, 0.55


@dataclass(frozen=True)
class _Sign:
    keys: np.ndarray  # (K, 2) dominant-wrist places, body units (dominant side at -x)
    shapes: np.ndarray  # (K,) hand shape indices
    palms: np.ndarray  # (K,) hand-axis angle, radians
    trill: float  # amplitude of a small oscillation (0: none)
    repeatable: bool
    other: int  # 0 rests, 1 mirrors, 2 holds a base hand
    base: np.ndarray  # (2,) where a base hand is held
    base_shape: int
    frames: int  # duration at speed 1


@dataclass(frozen=True)
class WildCorpus(SyntheticCorpus):
    """:class:`~islpose.testing.SyntheticCorpus` plus ``signers``: signer id -> the signer's
    drawn traits (scale, speed, left_handed, drop_rate, ...; see :func:`make_wild_signer`)."""

    signers: dict[str, dict] = field(default_factory=dict)


def _make_signs(n: int, rng: np.random.Generator) -> list[_Sign]:
    signs = []
    for _ in range(n):
        k = int(rng.integers(2, 5))
        centre = np.array([rng.uniform(-0.85, 0.35), rng.uniform(-1.05, 0.95)])
        signs.append(
            _Sign(
                keys=centre + rng.normal(0.0, 0.2, size=(k, 2)),
                shapes=rng.integers(0, len(_HANDSHAPES), size=k),
                palms=rng.uniform(-2.4, -0.7, size=k),
                trill=float(rng.uniform(0.02, 0.05) * (rng.random() < 0.2)),
                repeatable=bool(rng.random() < 0.4),
                other=int(rng.choice(3, p=[0.55, 0.3, 0.15])),
                base=np.array([rng.uniform(0.05, 0.45), rng.uniform(-0.2, 0.9)]),
                base_shape=int(rng.integers(len(_HANDSHAPES))),
                frames=int(rng.integers(9, 17)),
            )
        )
    return signs


def make_wild_signer(num_signs: int, rng: np.random.Generator) -> dict:
    """One signer's traits: camera (``scale`` pixels per shoulder width, 85-136, i.e. up to
    1.6x; ``centre`` in pixels; ``roll`` radians), ``speed`` (0.8-1.25), ``sign_size``,
    ``warp``/``shift`` (a personal affine warp of the signing space), ``offsets``
    (num_signs, 2) (a personal offset of every sign's path), ``left_handed``,
    ``repeat`` (chance of an extra repetition), ``hesitate`` (chance of a hold per sign),
    ``coarticulation`` (0-0.5), ``drop_rate`` (0-0.06 of frames without a hand),
    ``noise``, ``head``, ``reach``."""
    return {
        "scale": rng.uniform(85.0, 136.0),
        "centre": np.array([rng.uniform(0.3, 0.7) * WIDTH, rng.uniform(0.3, 0.55) * HEIGHT]),
        "roll": np.radians(rng.uniform(-8.0, 8.0)),
        "speed": rng.uniform(0.8, 1.25),
        "sign_size": rng.uniform(0.75, 1.3),
        "warp": np.eye(2) + rng.normal(0.0, 0.08, size=(2, 2)),
        "shift": rng.normal(0.0, 0.08, size=2),
        "offsets": rng.normal(0.0, 0.07, size=(num_signs, 2)),
        "left_handed": bool(rng.random() < 0.3),
        "repeat": rng.uniform(0.0, 0.5),
        "hesitate": rng.uniform(0.0, 0.3),
        "coarticulation": rng.uniform(0.0, 0.5),
        "drop_rate": rng.uniform(0.0, 0.06),
        "noise": rng.uniform(0.006, 0.02),
        "head": rng.uniform(0.85, 1.15),
        "reach": rng.uniform(0.9, 1.1),
    }


def _spline(points: np.ndarray, n: int) -> np.ndarray:
    """n samples of a Catmull-Rom spline through points (K, D) -> (n, D)."""
    p = np.concatenate([points[:1], points, points[-1:]])
    u = np.linspace(0.0, len(points) - 1, n)
    i = np.minimum(u.astype(int), len(points) - 2)
    t = (u - i)[:, None]
    p0, p1, p2, p3 = p[i], p[i + 1], p[i + 2], p[i + 3]
    return 0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2 + (3 * p1 - p0 - 3 * p2 + p3) * t**3)


def _sign_frames(sign: _Sign, index: int, signer: dict, start: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per-frame state of one sign, (n, 18): dominant wrist (2), axis angle, hand shape (6),
    then the same 9 values of the other hand. ``start`` (2,) is where the previous sign's
    dominant hand ended (co-articulation pulls the first place towards it)."""
    keys = sign.keys.mean(0) + (sign.keys - sign.keys.mean(0)) * signer["sign_size"]
    keys = keys @ signer["warp"].T * signer["reach"] + signer["shift"] + signer["offsets"][index]
    keys[0] += signer["coarticulation"] * 0.5 * (start - keys[0])
    reps = 1 + int(sign.repeatable) + int(sign.repeatable and rng.random() < signer["repeat"])
    order = np.concatenate([np.arange(len(keys))] * reps)
    shapes = _HANDSHAPES[sign.shapes[order]]
    knots = np.concatenate([keys[order], sign.palms[order, None], shapes], axis=1)  # (K', 9)
    n = max(5, int(round(sign.frames * (1 + 0.6 * (reps - 1)) / signer["speed"] * rng.uniform(0.9, 1.1))))
    track = _spline(knots, n)
    if sign.trill:
        track[:, :2] += sign.trill * np.sin(np.linspace(0, 6 * np.pi, n))[:, None] * np.array([1.0, 0.5])
    if rng.random() < signer["hesitate"] / 2:  # a hold inside the sign
        at = int(rng.integers(1, n))
        track = np.concatenate([track[:at], np.repeat(track[at - 1 : at], int(rng.integers(3, 8)), 0), track[at:]])
    other = _other_hand(sign, track)
    return np.concatenate([track, other], axis=1)


def _other_hand(sign: _Sign, track: np.ndarray) -> np.ndarray:
    """The non-dominant hand during a sign: (n, 9) wrist, axis angle, hand shape."""
    n = len(track)
    if sign.other == 1:  # mirrors the dominant hand about the midline
        return np.concatenate([track[:, :2] * (-1.0, 1.0), np.pi - track[:, 2:3], track[:, 3:9]], axis=1)
    if sign.other == 2:
        held = np.concatenate([sign.base, [-np.pi + 1.4], _HANDSHAPES[sign.base_shape]])
        return np.tile(held, (n, 1))
    return np.tile(_rest(+1), (n, 1))


def _rest(side: int) -> np.ndarray:
    """A hand at rest in front of the hips: (9,) wrist, axis angle, hand shape."""
    return np.concatenate([[0.35 * side, 1.3], [np.pi / 2], _HANDSHAPES[5]])


def _glide(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """n frames from state a to b (smoothstep), (n, D)."""
    w = np.linspace(0.0, 1.0, n + 2)[1:-1, None]
    return a + (3 * w**2 - 2 * w**3) * (b - a)


def _sentence_states(
    signs: list[_Sign], seq: list[int], signer: dict, rng: np.random.Generator
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Per-frame hand states of one sentence, (T, 18), the dominant hand at -x; and each sign's (first, end) frame."""
    rest = np.concatenate([_rest(-1), _rest(+1)])
    parts, spans, state = [np.tile(rest, (int(rng.integers(3, 9)), 1))], [], rest
    for gi in seq:
        if rng.random() < signer["hesitate"]:  # a hold before the sign
            parts.append(np.tile(state, (int(rng.integers(3, 10)), 1)))
        frames = _sign_frames(signs[gi], gi, signer, state[:2], rng)
        move = max(2, int(round(rng.uniform(3, 7) * (1 - signer["coarticulation"]) / signer["speed"])))
        parts.append(_glide(state, frames[0], move))
        first = sum(len(p) for p in parts)
        spans.append((first, first + len(frames)))
        parts.append(frames)
        state = frames[-1]
    parts += [_glide(state, rest, 5), np.tile(rest, (int(rng.integers(3, 9)), 1))]
    return np.concatenate(parts), spans


def _hand(wrist: np.ndarray, axis: np.ndarray, shape: np.ndarray, side: float) -> np.ndarray:
    """21 hand points (T, 21, 2) from wrist (T, 2), axis angle (T,), hand shape (T, 6);
    ``side`` +1 for the hand whose thumb points to -angle, -1 for the other."""
    pts = np.empty((len(wrist), 21, 2))
    pts[:, 0] = wrist
    for f in range(5):
        angle = axis + side * _FAN[f] * (0.4 + 0.6 * shape[:, 5])
        joint = wrist
        for b in range(4):
            angle = angle + side * _BEND[b] * shape[:, f] * (b > 0 or f == 0)
            joint = joint + _BONES[f, b] * np.stack([np.cos(angle), np.sin(angle)], axis=-1)
            pts[:, 1 + 4 * f + b] = joint
    return pts


def _elbow(shoulder: np.ndarray, wrist: np.ndarray, out: float) -> np.ndarray:
    """Two-link arm: the elbow (T, 2) between a shoulder (2,) and wrists (T, 2), bent outwards (``out`` = +-1)."""
    d = wrist - shoulder
    dist = np.clip(np.linalg.norm(d, axis=-1, keepdims=True), 1e-6, _UPPER_ARM + _FOREARM - 1e-3)
    along = (_UPPER_ARM**2 - _FOREARM**2 + dist**2) / (2 * dist)
    across = np.sqrt(np.maximum(_UPPER_ARM**2 - along**2, 0.0))
    unit = d / dist
    normal = np.stack([unit[:, 1], -unit[:, 0]], axis=-1) * out
    return shoulder + unit * along + normal * across


def _render(
    states: np.ndarray, face: np.ndarray, signer: dict, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Hand states (T, 18) in body units -> (landmarks (T, 543, 4), presence (T, 4))."""
    T = len(states)
    flip = -1.0 if signer["left_handed"] else 1.0  # a left-handed signer: every sign mirrored
    dom, oth = states[:, :9].copy(), states[:, 9:].copy()
    for s in (dom, oth):
        s[:, 0] *= flip
        if flip < 0:
            s[:, 2] = np.pi - s[:, 2]
    # the hand at -x is the signer's right (MediaPipe "right_hand"); its thumb side is +angle
    right, left = (dom, oth) if flip > 0 else (oth, dom)
    body = np.zeros((T, 543, 2))
    pose = body[:, SLICES["pose"]]
    pose[:, 11], pose[:, 12] = (0.5, 0.0), (-0.5, 0.0)
    nose = np.array([0.0, -0.85]) + rng.normal(0.0, 0.008, size=(T, 2)).cumsum(0) * 0.2
    eyes = np.array(
        [
            (0.06, -0.07),
            (0.1, -0.075),
            (0.14, -0.07),
            (-0.06, -0.07),
            (-0.1, -0.075),
            (-0.14, -0.07),
            (0.22, -0.03),
            (-0.22, -0.03),
            (0.05, 0.12),
            (-0.05, 0.12),
        ]
    )
    pose[:, 0] = nose
    pose[:, 1:11] = nose[:, None] + signer["head"] * eyes
    pose[:, 23], pose[:, 24] = (0.32, 1.7), (-0.32, 1.7)
    pose[:, 25:33] = np.array(
        [(0.33, 2.7), (-0.33, 2.7), (0.33, 3.6), (-0.33, 3.6), (0.3, 3.7), (-0.3, 3.7), (0.4, 3.75), (-0.4, 3.75)]
    )
    for name, st, side, sh, el, wr, sign in (
        ("left", left, -1.0, 11, 13, 15, 1.0),
        ("right", right, 1.0, 12, 14, 16, -1.0),
    ):
        pts = _hand(st[:, :2], st[:, 2], np.clip(st[:, 3:9], 0.0, 1.0), side)
        body[:, SLICES[f"{name}_hand"]] = pts
        pose[:, el] = _elbow(pose[0, sh], st[:, :2], sign)
        pose[:, wr] = st[:, :2]
        pose[:, wr + 2], pose[:, wr + 4], pose[:, wr + 6] = pts[:, 17], pts[:, 5], pts[:, 2]  # pinky, index, thumb
    body[:, SLICES["face"]] = nose[:, None] + signer["head"] * face
    body += rng.normal(0.0, signer["noise"], size=body.shape)
    presence = np.ones((T, 4), dtype=bool)
    for comp, wrist in ((1, 15), (2, 16)):  # the tracker loses a hand in runs of 1-6 frames
        t = 0
        while t < T:
            if rng.random() < signer["drop_rate"] / 3.5:
                run = int(rng.integers(1, 7))
                presence[t : t + run, comp] = False
                held = body[max(t - 1, 0), [wrist, wrist + 2, wrist + 4, wrist + 6]]
                body[t : t + run, [wrist, wrist + 2, wrist + 4, wrist + 6]] = held  # the pose model's hand points lag
                t += run
            t += 1
    c, s = np.cos(signer["roll"]), np.sin(signer["roll"])
    body = body @ np.array([[c, -s], [s, c]]).T
    lm = np.empty((T, 543, 4), dtype=np.float32)
    lm[..., 0] = (signer["centre"][0] + signer["scale"] * body[..., 0]) / WIDTH
    lm[..., 1] = (signer["centre"][1] + signer["scale"] * body[..., 1]) / HEIGHT
    lm[..., 2] = rng.normal(0.0, 0.015, size=(T, 543)) * signer["scale"] / WIDTH
    lm[..., 3] = 1.0
    lm[:, 25:33, 3] = 0.1
    for comp, rows in enumerate(SLICES.values()):
        lm[~presence[:, comp], rows] = np.nan
    return lm, presence


def _face_template(rng: np.random.Generator) -> np.ndarray:
    """(468, 2) face points on an ellipse-shaped face, nose tip (1) at the origin, outer eye corners at 33 and 263."""
    r, a = np.sqrt(rng.uniform(0.0, 1.0, 468)), rng.uniform(0.0, 2 * np.pi, 468)
    face = np.stack([0.2 * r * np.cos(a), 0.27 * r * np.sin(a) - 0.02], axis=1)
    face[1], face[33], face[263] = (0.0, 0.0), (-0.17, -0.1), (0.17, -0.1)
    return face


def _grammar(n: int, rng: np.random.Generator) -> tuple[np.ndarray, list[np.ndarray], list[list[int]]]:
    """Gloss classes (n,), per class its glosses' probabilities (Zipf-like), and templates over the 4 classes."""
    classes = rng.integers(0, 4, size=n)
    classes[:4] = np.arange(4)
    probs = []
    for c in range(4):
        w = 1.0 / np.arange(1, (classes == c).sum() + 1) ** 0.8
        probs.append(rng.permutation(w / w.sum()))
    templates = [
        [0, 1],
        [0, 1, 2],
        [3, 0, 1],
        [0, 1, 2, 3],
        [0, 2, 1],
        [3, 0, 2, 1],
        [0, 1, 2, 3, 2],
        [2, 0, 1, 3],
        [1, 2],
        [0, 3, 1, 2, 1],
    ]
    return classes, probs, templates


def _wild_sentence(
    classes: np.ndarray, probs: list[np.ndarray], templates: list[list[int]], lo: int, hi: int, rng: np.random.Generator
) -> list[int]:
    fits = [t for t in templates if lo <= len(t) <= hi] or [[int(c) for c in rng.integers(0, 4, size=lo)]]
    template = fits[int(rng.integers(len(fits)))]
    return [int(rng.choice(np.flatnonzero(classes == c), p=probs[c])) for c in template]


def make_wild_corpus(
    out_dir: str | Path,
    *,
    num_glosses: int = 80,
    signers: tuple[int, int, int] = (7, 1, 2),
    sentences: tuple[int, int, int] = (600, 100, 100),
    min_glosses: int = 2,
    max_glosses: int = 5,
    multimodal: bool = False,
    seed: int = 0,
) -> WildCorpus:
    """Generates a corpus into ``out_dir`` (``features.h5`` + ``corpus.jsonl``).

    Args:
        out_dir: folder to write to (created).
        num_glosses: vocabulary size without ``<blank>`` (at least 4).
        signers: how many signers the train, dev and test splits have (no signer is in two).
        sentences: sentences of the train, dev and test splits, shared round-robin by the split's signers.
        min_glosses, max_glosses: sentence length range.
        multimodal: also store the 6516-d features (about 13 kB per frame).
        seed: everything is reproducible from it.

    Returns:
        The corpus paths, split sizes, true sign spans and each signer's traits.
    """
    if num_glosses < 4:
        raise ValueError("num_glosses must be >= 4")
    if len(signers) != 3 or min(signers) < 1 or len(sentences) != 3 or min(sentences) < 1:
        raise ValueError("signers and sentences need three values >= 1 (train, dev, test)")
    if not 1 <= min_glosses <= max_glosses:
        raise ValueError("need 1 <= min_glosses <= max_glosses")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 0x57])
    signs = _make_signs(num_glosses, rng)
    names = tuple(f"W{i:03d}" for i in range(num_glosses))
    grammar = _grammar(num_glosses, rng)
    face = _face_template(rng)
    traits: dict[str, dict] = {}
    utterances, spans = [], {}
    with FeatureStore(
        out / "features.h5", "w", metadata={"extractor": {"name": "synthetic_wild", "seed": seed}}
    ) as store:
        number = 0
        for split, n_signers, n_sentences in zip(("train", "dev", "test"), signers, sentences):
            ids = [f"wild{number + i:02d}" for i in range(n_signers)]
            number += n_signers
            for sid in ids:
                traits[sid] = make_wild_signer(num_glosses, rng)
            for k in range(n_sentences):
                sid = ids[k % n_signers]
                seq = _wild_sentence(*grammar, min_glosses, max_glosses, rng)
                states, sign_spans = _sentence_states(signs, seq, traits[sid], rng)
                lm, presence = _render(states, face, traits[sid], rng)
                arrays = {"landmarks": lm, "presence": presence, "pose": pose_features(lm, presence, WIDTH, HEIGHT)}
                if multimodal:
                    arrays["multimodal"] = multimodal_features(lm, presence, WIDTH, HEIGHT)
                uid = f"{split}_{sid}_{k:04d}"
                spans[uid] = sign_spans
                store.write(uid, arrays, {"fps": FPS, "width": WIDTH, "height": HEIGHT, "source": "synthetic_wild"})
                utterances.append(Utterance(uid, glosses=tuple(names[i] for i in seq), split=split, signer=sid))
    manifest = write_manifest(utterances, out / "corpus.jsonl")
    counts = {name: sum(u.split == name for u in utterances) for name in ("train", "dev", "test")}
    return WildCorpus(out / "features.h5", manifest, names, counts, spans, traits)
