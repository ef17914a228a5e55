"""Mouth-deviation measures between two landmark tracks (stccl.face.measures): M-LMD, the
mouth-opening correlation and the mouth shape's (width, rounding) correlations, on synthetic
68-point faces whose values can be worked out by hand."""

import math

import numpy as np
import pytest

from stccl.face.measures import (ROUNDING_MOVES, WIDTH_MOVES, mouth_corr, mouth_lmd, mouth_opening,
                                 mouth_rounding, mouth_width, rounding_corr, width_corr)

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


# -- the mouth's shape: width (48-54) and rounding (opening / width) ------------------------------
def shaped(opening: float, width: float) -> np.ndarray:
    """`face(opening)` with the mouth stretched sideways to a corner-to-corner width (IOD); the
    stretch is horizontal, so the inner-lip opening (vertical pairs) is unchanged."""
    f = face(opening)
    f[48:68, 0] *= width / 0.8
    return f


OPENING = lambda t: 0.15 + 0.1 * np.sin(2 * np.pi * t / 20)  # noqa: E731
WIDTH = lambda t: 0.85 - 0.08 * np.sin(2 * np.pi * t / 14 + 1)  # noqa: E731


def speaking(n: int = 60) -> np.ndarray:
    """(n, 68, 2) a mouth that opens and closes (period 20) and rounds and spreads (width 0.77-0.93
    IOD, period 14): open and narrow is an "o", shut and wide an "ee"."""
    return np.stack([shaped(OPENING(k), WIDTH(k)) for k in range(n)])


def test_width_and_rounding_by_hand():
    f = shaped(0.1, 0.9)
    assert mouth_width(f) == pytest.approx(0.9, abs=1e-12)
    assert mouth_opening(f) == pytest.approx(mouth_opening(face(0.1)), abs=1e-12)  # the stretch keeps it
    assert mouth_rounding(f) == pytest.approx(mouth_opening(face(0.1)) / 0.9, rel=1e-12)
    moved = similarity(f, 70, -12, (400, 300))  # head position, size and roll do not count
    assert mouth_width(moved) == pytest.approx(0.9, abs=1e-9)
    assert mouth_rounding(moved) == pytest.approx(mouth_rounding(f), rel=1e-9)
    # an "o" (open, narrow) is rounder than an "ee" (nearly shut, wide)
    assert mouth_rounding(shaped(0.25, 0.75)) > 3 * mouth_rounding(shaped(0.06, 0.95))


def test_a_kept_mouth_shape_correlates_and_a_flattened_one_does_not():
    a = speaking()
    assert mouth_width(a).std() > WIDTH_MOVES and mouth_rounding(a).std() > ROUNDING_MOVES
    assert width_corr(a, a) == pytest.approx(1, abs=1e-12) and rounding_corr(a, a) == pytest.approx(1, abs=1e-12)
    # the shape kept under a constant change: corners held 0.05 IOD wider each (a smile's spread),
    # in another head position and size
    wider = a.copy()
    wider[:, 48, 0] -= 0.05
    wider[:, 54, 0] += 0.05
    wider = similarity(wider, 90, 8, (500, 260))
    assert width_corr(a, wider) == pytest.approx(1, abs=1e-9)
    assert rounding_corr(a, wider) > 0.99
    # the opening kept, the width held: the speech's spreading and rounding are gone
    held = np.stack([shaped(OPENING(k), 0.85) for k in range(60)])
    assert mouth_corr(a, held) == pytest.approx(1, abs=1e-9)
    assert width_corr(a, held) == 0  # the output does not move at all: it kept none of it
    rng = np.random.default_rng(0)
    jitter = np.stack([shaped(OPENING(k), 0.85 + rng.normal(0, 0.005)) for k in range(60)])
    assert abs(width_corr(a, jitter)) < 0.3  # held, with a tracker's jitter
    # the rounding is the opening over the width, and the opening moves more: holding the width
    # alone leaves it high; width_corr is the one that sees the spread
    assert rounding_corr(a, held) > 0.9
    # a mouth that widens as it opens never rounds: its rounding is flat
    opened = mouth_opening(np.stack([face(OPENING(k)) for k in range(60)]))
    flat = np.stack([shaped(OPENING(k), 4 * o) for k, o in enumerate(opened)])
    assert np.ptp(mouth_rounding(flat)) < 1e-9 and rounding_corr(a, flat) == 0
    flat_jitter = np.stack([shaped(OPENING(k), 4 * o * (1 + rng.normal(0, 0.02))) for k, o in enumerate(opened)])
    assert abs(rounding_corr(a, flat_jitter)) < 0.3
    # spread when the input rounds: anti-correlated
    swapped = np.stack([shaped(OPENING(k), 1.7 - WIDTH(k)) for k in range(60)])
    assert width_corr(a, swapped) == pytest.approx(-1, abs=1e-9)


def test_shape_correlations_only_where_the_input_moves():
    a = talking(60)  # the opening moves, the width (0.8) does not
    assert np.ptp(mouth_width(a)) < 1e-12
    assert math.isnan(width_corr(a, speaking()))
    assert rounding_corr(a, a) == pytest.approx(1, abs=1e-12)  # the rounding moves with the opening
    # a width that moves a little (std 0.02 IOD, under the 0.03 floor) is not judged; 0.04 is
    for amp, judged in ((0.02 * math.sqrt(2), False), (0.04 * math.sqrt(2), True)):
        w = 0.85 + amp * np.sin(2 * np.pi * np.arange(60) / 14)
        b = np.stack([shaped(0.1, x) for x in w])
        assert mouth_width(b).std() == pytest.approx(amp / math.sqrt(2), rel=0.02)
        assert math.isnan(width_corr(b, b)) != judged
    # a nearly shut mouth that spreads: its width moves, its rounding (std ~0.002) does not
    shut = np.stack([shaped(0.05, 0.75 + 0.1 * math.sin(k / 3)) for k in range(60)])
    assert width_corr(shut, shut) == pytest.approx(1, abs=1e-12) and math.isnan(rounding_corr(shut, shut))


def test_shape_correlations_skip_faceless_frames_and_need_three():
    a, b = speaking(40), speaking(40)
    b[:, 54, 0] += 0.03 * np.cos(np.arange(40))  # the output's corner wanders
    keep = np.ones(40, bool)
    keep[[3, 4, 20]] = False
    a_gap, b_gap = a.copy(), b.copy()
    a_gap[[3, 4]] = np.nan
    b_gap[20] = np.nan
    for corr in (width_corr, rounding_corr):
        assert corr(a_gap, b_gap) == pytest.approx(corr(a[keep], b[keep]), rel=1e-12)
        assert corr(a_gap, b_gap) != pytest.approx(corr(a, b), rel=1e-6)
        assert math.isnan(corr(a[:2], b[:2]))
        assert math.isnan(corr(a, np.full_like(a, np.nan)))
    with pytest.raises(ValueError):
        width_corr(a, a[:5])
