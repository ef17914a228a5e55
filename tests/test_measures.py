"""Mouth-deviation measures between two landmark tracks (stccl.face.measures): M-LMD and the
mouth-opening correlation, on synthetic 68-point faces whose values can be worked out by hand."""

import math

import numpy as np
import pytest

from stccl.face.measures import mouth_corr, mouth_lmd, mouth_opening

LOWER_LIP = [55, 56, 57, 58, 59, 65, 66, 67]  # outer and inner lower lip: move down as the mouth opens


def face(opening: float = 0.1) -> np.ndarray:
    """(68, 2) face in inter-ocular units: eye centres at (-0.5, 0) and (0.5, 0), mouth below."""
    f = np.zeros((68, 2))
    t = np.linspace(0, 2 * np.pi, 36, endpoint=False)
    f[:36] = np.c_[0.9 * np.cos(t), 0.3 + 1.1 * np.sin(t)]  # jaw, brows, nose: not used here
    hexagon = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    ring = np.c_[0.15 * np.cos(hexagon), 0.06 * np.sin(hexagon)]
    f[36:42], f[42:48] = ring + (-0.5, 0.0), ring + (0.5, 0.0)
    outer = np.pi + np.linspace(0, 2 * np.pi, 12, endpoint=False)  # 48 = left corner, 49-53 upper lip
    f[48:60] = np.c_[0.4 * np.cos(outer), 1.0 + 0.15 * np.sin(outer)]
    inner = np.pi + np.linspace(0, 2 * np.pi, 8, endpoint=False)  # 60 = left corner, 61-63 upper lip
    f[60:68] = np.c_[0.3 * np.cos(inner), 1.0 + 0.01 * np.sin(inner)]
    f[LOWER_LIP, 1] += opening
    return f


def similarity(pts: np.ndarray, scale: float, degrees: float, shift) -> np.ndarray:
    r = math.radians(degrees)
    rot = np.array([[math.cos(r), -math.sin(r)], [math.sin(r), math.cos(r)]])
    return scale * pts @ rot.T + np.asarray(shift, float)


def talking(n: int = 50, phase: float = 0.0) -> np.ndarray:
    """(n, 68, 2) a mouth opening and closing, 0.05..0.25 IOD, period 20 frames."""
    t = np.arange(n)
    return np.stack([face(0.15 + 0.1 * np.sin(2 * np.pi * (k + phase) / 20)) for k in t])


def test_identical_tracks_give_zero_lmd_and_unit_correlation():
    seq = similarity(talking(), 80, 5, (640, 360))
    assert mouth_lmd(seq, seq) == pytest.approx(0, abs=1e-12)
    assert mouth_corr(seq, seq) == pytest.approx(1, abs=1e-12)


@pytest.mark.parametrize("scale, degrees, shift", [(1, 0, (300, -50)), (120, 0, (0, 0)), (1, 25, (0, 0)),
                                                   (55, -15, (900, 400))])
def test_lmd_does_not_depend_on_head_position_size_or_roll(scale, degrees, shift):
    a, b = talking(), talking(phase=3)
    ref = mouth_lmd(a, b)
    assert ref > 0.01
    ta, tb = similarity(a, scale, degrees, shift), similarity(b, scale, degrees, shift)
    assert mouth_lmd(ta, tb) == pytest.approx(ref, rel=1e-9)
    # each track under its own similarity (output head moved/resized relative to the input)
    assert mouth_lmd(a, tb) == pytest.approx(ref, rel=1e-9)
    assert mouth_lmd(ta, a) == pytest.approx(0, abs=1e-9)
    assert mouth_corr(ta, b) == pytest.approx(mouth_corr(a, b), abs=1e-9)


def test_known_mouth_displacement_gives_hand_computed_lmd():
    a = similarity(face(), 60, 10, (320, 240))  # IOD 60 px
    # one mouth point moved 12 px = 0.2 IOD: after centring it is 0.2 - 0.2/20 = 0.19 off and the
    # 19 others 0.01 off, so the mean distance is (0.19 + 19 * 0.01) / 20 = 0.019
    b = a.copy()
    b[50] += similarity(np.array([[1.0, 0.0]]), 12, 10, (0, 0))[0]
    assert mouth_lmd(a[None], b[None]) == pytest.approx(0.019, rel=1e-9)
    # the lower lip (8 of 20 points) 0.1 IOD lower: moved points 0.06 off, the 12 others 0.04 off,
    # mean (8 * 0.06 + 12 * 0.04) / 20 = 0.048
    assert mouth_lmd(face(0.1), face(0.2)) == pytest.approx(0.048, rel=1e-9)
    # the whole mouth shifted (no change of shape) does not count
    c = face()
    c[48:68] += (0.05, -0.03)
    assert mouth_lmd(face(), c) == pytest.approx(0, abs=1e-12)


def test_lmd_is_symmetric_in_same_size_faces_and_grows_with_displacement():
    a = talking()
    b1, b2 = a.copy(), a.copy()
    b1[:, 57, 1] += 0.05
    b2[:, 57, 1] += 0.10
    assert mouth_lmd(a, b1) == pytest.approx(mouth_lmd(b1, a), rel=1e-9)
    assert mouth_lmd(a, b2) == pytest.approx(2 * mouth_lmd(a, b1), rel=1e-9)


def test_correlation_follows_the_opening_signal():
    a = talking(60)
    assert mouth_opening(a).std() > 0.05
    assert mouth_corr(a, similarity(a, 2, 10, (5, 5))) == pytest.approx(1, abs=1e-9)
    assert mouth_corr(a, talking(60, phase=5)) < 0.5  # a quarter period late
    closed = np.stack([face(0.3 - o) for o in mouth_opening(a) - 0.01])  # opens when a closes
    assert mouth_corr(a, closed) < -0.9
    # a scaled and offset opening is still perfectly correlated
    louder = np.stack([face(0.02 + 1.5 * o) for o in mouth_opening(a) - 0.01])
    assert mouth_corr(a, louder) == pytest.approx(1, abs=1e-9)


def test_frames_without_a_face_are_skipped():
    a, b = talking(40), talking(40, phase=2)
    keep = np.ones(40, bool)
    keep[[0, 7, 8, 30]] = False
    a_gap, b_gap = a.copy(), b.copy()
    a_gap[[0, 7]] = np.nan
    b_gap[[8, 30]] = np.nan
    lmd = mouth_lmd(a_gap, b_gap)
    corr = mouth_corr(a_gap, b_gap)
    assert np.isfinite(lmd) and np.isfinite(corr)
    assert lmd == pytest.approx(mouth_lmd(a[keep], b[keep]), rel=1e-12)
    assert corr == pytest.approx(mouth_corr(a[keep], b[keep]), rel=1e-12)
    assert lmd != pytest.approx(mouth_lmd(a, b), rel=1e-6)  # the skipped frames would have counted


def test_degenerate_inputs_give_nan():
    a = talking(10)
    gone = np.full_like(a, np.nan)
    assert math.isnan(mouth_lmd(a, gone)) and math.isnan(mouth_corr(a, gone))
    assert math.isnan(mouth_corr(a[:2], a[:2]))  # fewer than 3 frames
    still = np.stack([similarity(face(0.1), 60, 5, (3.7 * k, 1.3 * k)) for k in range(10)])
    assert np.ptp(mouth_opening(still)) < 1e-12  # only rounding noise from the head motion
    assert math.isnan(mouth_corr(a, still))  # zero variance
    assert math.isnan(mouth_corr(still, a))
    assert mouth_lmd(a[:2], a[:2]) == 0
    with pytest.raises(ValueError):
        mouth_lmd(a, a[:5])
