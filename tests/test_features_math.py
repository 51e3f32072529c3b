"""The 66-d and 6516-d feature math on hand-made landmark arrays whose expected values
are worked out by hand in the comments (image 100 x 200 pixels unless said otherwise)."""

from __future__ import annotations

import numpy as np
import pytest

from islpose.features import MULTIMODAL_DIM, POSE_DIM, SLICES, compute_features, modality_columns
from islpose.features.compute import multimodal_features, pose_features, signing_span
from islpose.features.layout import BLOCK

W, H = 100, 200
LH, RH, FACE = SLICES["left_hand"].start, SLICES["right_hand"].start, SLICES["face"].start


def empty(T: int) -> tuple[np.ndarray, np.ndarray]:
    """Nothing detected: landmarks NaN, presence False."""
    return np.full((T, 543, 4), np.nan, np.float32), np.zeros((T, 4), bool)


def put_pose(lm, pr, t, left_sh, right_sh, others=None):
    """A pose in frame t: every pose point at the shoulder mid-point, shoulders 11 and 12
    where given (normalised x, y), and ``others`` {index: (x, y)}."""
    mid = ((left_sh[0] + right_sh[0]) / 2, (left_sh[1] + right_sh[1]) / 2)
    lm[t, :33] = (*mid, 0.0, 1.0)
    lm[t, 11, :2], lm[t, 12, :2] = left_sh, right_sh
    for i, xy in (others or {}).items():
        lm[t, i, :2] = xy
    pr[t, 0] = True


def col(block: int, row: int, coord: int) -> int:
    """Column of landmark row ``row`` (0-542), coordinate 0/1/2 = x/y/z, in ``block``."""
    return block * BLOCK + row * 3 + coord


def test_pose_centred_on_shoulders_and_scaled_by_median_width():
    lm, pr = empty(3)
    # shoulder widths in pixels: 20, 40, 24 -> median 24 (mean 28); mid-point (50, 100) every frame
    put_pose(lm, pr, 0, (0.4, 0.5), (0.6, 0.5), {0: (0.5, 0.2)})  # nose (50, 40) px
    put_pose(lm, pr, 1, (0.3, 0.5), (0.7, 0.5), {0: (0.8, 0.5)})  # nose (80, 100) px
    put_pose(lm, pr, 2, (0.38, 0.5), (0.62, 0.5), {0: (0.5, 0.5)})
    f = pose_features(lm, pr, W, H)
    assert f.shape == (3, POSE_DIM) and f.dtype == np.float32
    np.testing.assert_allclose(f[0, 0:2], [0.0, -60 / 24], atol=1e-6)  # (50-50, 40-100) / 24
    np.testing.assert_allclose(f[1, 0:2], [30 / 24, 0.0], atol=1e-6)  # (80-50, 100-100) / 24
    np.testing.assert_allclose(f[0, 22:26], [-10 / 24, 0, 10 / 24, 0], atol=1e-6)  # shoulders 11, 12
    np.testing.assert_allclose(f[1, 22:24], [-20 / 24, 0], atol=1e-6)


def test_pose_interpolated_over_missing_frames_and_held_at_ends():
    lm, pr = empty(5)
    # width 20 px, mid (50, 100); nose x: frame 1 -> (70-50)/20 = 1, frame 3 -> (110-50)/20 = 3
    put_pose(lm, pr, 1, (0.4, 0.5), (0.6, 0.5), {0: (0.7, 0.5)})
    put_pose(lm, pr, 3, (0.4, 0.5), (0.6, 0.5), {0: (1.1, 0.5)})
    f = pose_features(lm, pr, W, H)
    np.testing.assert_allclose(f[:, 0], [1.0, 1.0, 2.0, 3.0, 3.0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(f[:, 1], 0.0, atol=1e-6)
    # the multimodal block 0 puts the missing pose at zero (no interpolation of landmarks)
    mm = multimodal_features(lm, pr, W, H, np.float32)
    np.testing.assert_allclose(mm[:, col(0, 0, 0)], [0.0, 1.0, 0.0, 3.0, 0.0], rtol=1e-6, atol=1e-6)


def test_interpolated_centre_is_used_for_hands_in_frames_without_pose():
    lm, pr = empty(3)
    # mid-point x: 40 px in frame 0, 60 px in frame 2 -> 50 px in frame 1; width 20 px
    put_pose(lm, pr, 0, (0.3, 0.5), (0.5, 0.5))
    put_pose(lm, pr, 2, (0.5, 0.5), (0.7, 0.5))
    lm[1, LH : LH + 21] = (0.9, 0.5, 0.0, 1.0)  # left hand at (90, 100) px, no pose in frame 1
    pr[1, 1] = True
    mm = multimodal_features(lm, pr, W, H, np.float32)
    np.testing.assert_allclose(mm[1, col(0, LH, 0) : col(0, LH, 2) + 1], [(90 - 50) / 20, 0.0, 0.0], atol=1e-6)


def test_no_pose_falls_back_to_image_centre_and_quarter_width():
    lm, pr = empty(2)
    lm[:, FACE:] = (0.75, 0.25, 0.1, 1.0)  # (75, 50) px, z 0.1 * 100 = 10 px
    pr[:, 3] = True
    feats = compute_features(lm, pr, W, H, np.float32)
    assert not feats["pose"].any()  # no pose at all: zeros
    # centre (50, 100), scale 100 / 4 = 25: ((75-50)/25, (50-100)/25, 10/25)
    np.testing.assert_allclose(
        feats["multimodal"][0, col(0, FACE, 0) : col(0, FACE, 2) + 1], [1.0, -2.0, 0.4], rtol=1e-6, atol=1e-6
    )


def test_hand_shape_relative_to_wrist_over_hand_size():
    lm, pr = empty(1)
    put_pose(lm, pr, 0, (0.4, 0.5), (0.6, 0.5))
    hand = lm[0, RH : RH + 21]
    hand[:] = (0.10, 0.10, 0.0, 1.0)  # wrist and all points at (10, 20) px
    hand[9, :2] = (0.13, 0.12)  # MCP at (13, 24): hand size 5 px
    hand[4, :3] = (0.16, 0.14, 0.05)  # (16, 28) px, z 5 px
    pr[0, 2] = True
    mm = multimodal_features(lm, pr, W, H, np.float32)
    np.testing.assert_allclose(
        mm[0, col(1, RH + 4, 0) : col(1, RH + 4, 2) + 1], [6 / 5, 8 / 5, 5 / 5], rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(mm[0, col(1, RH, 0) : col(1, RH, 2) + 1], 0.0)  # the wrist itself
    # the left hand is missing: zero in every block
    assert not mm[0, [col(b, LH + i, c) for b in range(4) for i in range(21) for c in range(3)]].any()


def test_face_shape_relative_to_nose_over_eye_distance():
    lm, pr = empty(1)
    put_pose(lm, pr, 0, (0.4, 0.5), (0.6, 0.5))
    face = lm[0, FACE:]
    face[:] = (0.5, 0.25, 0.0, 1.0)  # all at (50, 50) px (nose tip = point 1)
    face[33, :2] = (0.4, 0.225)  # eye corners (40, 45) and (60, 45): 20 px apart
    face[263, :2] = (0.6, 0.225)
    face[0, :2] = (0.5, 0.35)  # (50, 70) px
    pr[0, 3] = True
    mm = multimodal_features(lm, pr, W, H, np.float32)
    np.testing.assert_allclose(mm[0, col(1, FACE, 0) : col(1, FACE, 1) + 1], [0.0, 20 / 20], atol=1e-6)
    np.testing.assert_allclose(mm[0, col(1, FACE + 33, 0)], -10 / 20, rtol=1e-6, atol=1e-6)
    # the pose's shape block is its block-0 position
    np.testing.assert_array_equal(mm[0, col(1, 0, 0) : col(1, 33, 0)], mm[0, col(0, 0, 0) : col(0, 33, 0)])


def test_velocity_and_acceleration_zero_where_a_frame_misses_the_component():
    lm, pr = empty(4)
    nose_x = [0.5, 0.6, 0.9, 1.4]  # relative x (x*100 - 50) / 20: 0, 0.5, 2, 4.5
    for t in range(4):
        put_pose(lm, pr, t, (0.4, 0.5), (0.6, 0.5), {0: (nose_x[t], 0.5)})
    for t in (0, 1, 3):  # right hand missing in frame 2; wrist x (10 t + 50 - 50) / 20 = t / 2
        lm[t, RH : RH + 21] = (0.5 + 0.1 * t, 0.5, 0.0, 1.0)
        pr[t, 2] = True
    mm = multimodal_features(lm, pr, W, H, np.float32)
    v, a = mm[:, col(2, 0, 0)], mm[:, col(3, 0, 0)]
    np.testing.assert_allclose(v, [0.0, 0.5, 1.5, 2.5], rtol=1e-6, atol=1e-6)  # zero at t = 0
    np.testing.assert_allclose(a, [0.0, 0.0, 1.0, 1.0], rtol=1e-6, atol=1e-6)  # zero at t < 2
    np.testing.assert_allclose(mm[:, col(2, RH, 0)], [0.0, 0.5, 0.0, 0.0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(mm[:, col(3, RH, 0)], 0.0)
    np.testing.assert_allclose(mm[:, col(0, RH, 0)], [0.0, 0.5, 0.0, 1.5], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_multimodal_shape_dtype_and_finite(dtype):
    lm, pr = empty(3)
    put_pose(lm, pr, 0, (0.4, 0.5), (0.6, 0.5))
    mm = multimodal_features(lm, pr, W, H, dtype)
    assert mm.shape == (3, MULTIMODAL_DIM) and mm.dtype == dtype and np.isfinite(mm).all()


def test_modality_columns_partition_the_vector():
    cols = modality_columns()
    assert {k: len(v) for k, v in cols.items()} == {"pose": 198, "hands": 252, "face": 2808, "temporal": 3258}
    together = np.concatenate(list(cols.values()))
    np.testing.assert_array_equal(np.sort(together), np.arange(MULTIMODAL_DIM))  # no gap, no overlap
    assert cols["pose"][0] == 0 and cols["pose"][99] == BLOCK
    assert cols["hands"][0] == LH * 3 and cols["face"][0] == FACE * 3


def test_modality_columns_select_the_component_features():
    lm, pr = empty(1)
    put_pose(lm, pr, 0, (0.4, 0.5), (0.6, 0.5))
    lm[0, LH : LH + 21] = (0.9, 0.9, 0.1, 1.0)
    lm[0, LH + 9, :2] = (0.95, 0.9)
    pr[0, 1] = True
    mm = multimodal_features(lm, pr, W, H, np.float32)
    cols = modality_columns()
    assert mm[0, cols["hands"]].any() and not mm[0, cols["face"]].any()
    # everything outside pose and hands columns of blocks 0-1 is zero in this frame
    rest = np.setdiff1d(np.arange(MULTIMODAL_DIM), np.concatenate([cols["pose"], cols["hands"]]))
    assert not mm[0, rest].any()


def test_bad_shapes_are_rejected():
    lm, pr = empty(2)
    with pytest.raises(ValueError, match="543"):
        pose_features(lm[:, :500], pr, W, H)
    with pytest.raises(ValueError, match="presence"):
        multimodal_features(lm, pr[:1], W, H)


# ----------------------------------------------------------------- degenerate landmarks
def signer(T: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """A plausible signer in every frame: pose, both hands and the face present (image W x H)."""
    rng = np.random.default_rng(0)
    lm, pr = empty(T)
    for t in range(T):
        put_pose(lm, pr, t, (0.4, 0.5), (0.6, 0.5))
    lm[:, 33:, :3] = 0.3 + 0.4 * rng.random((T, 510, 3), dtype=np.float32)
    lm[:, 33:, 3] = 1.0
    pr[:, 1:] = True
    return lm, pr


def test_features_are_finite_with_degenerate_landmarks():
    lm, pr = signer()
    lm[:, 12, :2] = lm[:, 11, :2] + 1e-5  # shoulders 0.001 px apart
    lm[0, LH : LH + 21, :3] = lm[0, LH, :3]  # frame 0: a collapsed hand (all points on the wrist)
    lm[1, FACE + 263, :3] = lm[1, FACE + 33, :3]  # frame 1: a face of zero size (eye corners equal)
    lm[2, FACE + 1, :3] = np.nan  # frame 2: face present, but its nose tip unknown
    lm[3, RH : RH + 21, :2] = 1e6  # frame 3: a hand far outside the image
    for dtype in (np.float16, np.float32):
        feats = compute_features(lm, pr, W, H, dtype)
        for name, f in feats.items():
            assert np.isfinite(f).all(), (name, dtype)
    mm = compute_features(lm, pr, W, H, np.float32)["multimodal"]
    shape_of = lambda t, start, n: mm[t, BLOCK + start * 3 : BLOCK + (start + n) * 3]  # noqa: E731
    assert not shape_of(0, LH, 21).any()  # the collapsed hand has no shape coordinates
    assert shape_of(0, RH, 21).any()  # the other hand still has
    assert not shape_of(1, FACE, 468).any() and not shape_of(2, FACE, 468).any()
    assert shape_of(3, FACE, 468).any()


def test_degenerate_shoulders_fall_back_to_the_other_frames_or_the_image():
    lm, pr = signer(3)
    lm[1:, 12, :2] = lm[1:, 11, :2] + 1e-5  # frames 1, 2: shoulders 0.001 px apart; frame 0: 20 px
    f = pose_features(lm, pr, W, H)
    np.testing.assert_allclose(f[0, 22:24], [-0.5, 0.0], atol=1e-6)  # scale = 20 px, from frame 0 only
    lm[:, 12, :2] = lm[:, 11, :2]  # every frame: treated as no usable pose (zeros, not inf)
    assert not pose_features(lm, pr, W, H).any()
    assert np.isfinite(multimodal_features(lm, pr, W, H)).all()


def test_float16_overflow_is_clipped_and_bad_image_sizes_rejected():
    lm, pr = signer(2)
    lm[1, 0, :2] = 1e5  # 10 million px away: block 0 overflows float16 (max 65504)
    mm = multimodal_features(lm, pr, W, H, np.float16)
    assert np.isfinite(mm).all() and mm.max() == np.finfo(np.float16).max
    for w, h in [(0, H), (W, float("nan")), (-1, H)]:
        with pytest.raises(ValueError, match="image size"):
            compute_features(lm, pr, w, h)


# ----------------------------------------------------------------- rest at the start and end (signing_span)
def test_signing_span_runs_from_leaving_rest_to_returning():
    # Shoulders 20 px apart; the right wrist (pose 16) rests at (50, 140) px, is 10 px away
    # (0.5 shoulder widths) in frames 3-6, 3 px (0.15, jitter) in frame 8.
    T = 10
    lm, pr = empty(T)
    for t in range(T):
        put_pose(lm, pr, t, (0.4, 0.5), (0.6, 0.5), {15: (0.5, 0.7), 16: (0.5, 0.7)})
    lm[3:7, 16, 0] = 0.6
    lm[8, 16, 0] = 0.53
    assert signing_span(lm, pr, W, H) == (3, 6)
    lm[:3, 16, 0] = (0.7, 0.65, 0.6)  # the clip starts mid-sign, the hand moving
    assert signing_span(lm, pr, W, H) == (0, 6)
    lm[:3, 16, 0] = 0.6  # ... or holding still: no rest to be seen at the start
    assert signing_span(lm, pr, W, H) is None
    lm[:, 16, 0] = 0.5  # never leaves rest
    assert signing_span(lm, pr, W, H) is None
    assert signing_span(*empty(T), W, H) is None  # no pose


def test_signing_span_starts_and_ends_in_the_glides_around_the_synthetic_signs(small_corpus):
    from islpose.io import FeatureStore

    with FeatureStore(small_corpus.store) as store:
        for uid, spans in small_corpus.spans.items():
            a = store.attrs(uid)
            lm, presence = store.read(uid, "landmarks"), store.read(uid, "presence")
            first, last = signing_span(lm, presence, a["width"], a["height"])
            assert spans[0][0] - 5 <= first < spans[0][0]  # in the 3-5 frames gliding into the first sign
            assert spans[-1][1] - 1 <= last < spans[-1][1] + 4  # in the 4 frames gliding back to rest


def test_signing_span_finds_the_rests_of_real_recordings(media_dir):
    from islpose.extract.posefile import read_pose

    for path in sorted((media_dir / "poses").glob("*.pose")):
        rec = read_pose(path)
        first, last = signing_span(rec.landmarks, rec.presence, rec.width, rec.height)
        assert 0 < first < last < len(rec.landmarks) - 1, path.name
