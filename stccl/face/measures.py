"""Expression and speech measures from 68-point landmarks, in units of inter-ocular distance.

Shapes are first normalised: the eye centres' midpoint goes to the origin and the eye line is
turned horizontal, so the measures do not depend on head position, size or roll.
"""

from __future__ import annotations

import numpy as np

_LEFT_EYE, _RIGHT_EYE = slice(36, 42), slice(42, 48)
# iBUG-68 point -> the point at its mirror image (image left <-> right)
MIRROR = np.r_[16:-1:-1, 26:16:-1, 27:31, 35:30:-1, 45:41:-1, 47:45:-1, 39:35:-1, 41:39:-1,
               54:47:-1, 59:54:-1, 64:59:-1, 67:64:-1]
_INNER_LIP_PAIRS = ((61, 67), (62, 66), (63, 65))
_MOUTH = slice(48, 68)
_CORNERS = (48, 54)  # the outer lip corners
# The spread over time of the input's measure below which it "does not move" and a correlation
# with it is tracker noise: 0.03 IOD for the width, as the lip checks take the opening
# (stccl.eval.readback.MOVING); 0.03 for the rounding (unitless, `mouth_rounding`), which with a
# mouth 0.8-1.1 IOD wide is 0.024-0.033 IOD of opening at a fixed width: the same floor.
WIDTH_MOVES = 0.03
ROUNDING_MOVES = 0.03


def normalise(lmk: np.ndarray) -> np.ndarray:
    """(..., 68, 2) -> same shape, eyes on the x axis, inter-ocular distance 1."""
    lmk = np.asarray(lmk, np.float64)
    left, right = lmk[..., _LEFT_EYE, :].mean(-2), lmk[..., _RIGHT_EYE, :].mean(-2)
    centre = (left + right) / 2
    d = right - left
    iod = np.linalg.norm(d, axis=-1)
    c, s = d[..., 0] / iod, d[..., 1] / iod
    x = lmk[..., 0] - centre[..., None, 0]
    y = lmk[..., 1] - centre[..., None, 1]
    xr = (c[..., None] * x + s[..., None] * y) / iod[..., None]
    yr = (-s[..., None] * x + c[..., None] * y) / iod[..., None]
    return np.stack([xr, yr], axis=-1)


def mouth_opening(lmk: np.ndarray) -> np.ndarray:
    """Inner-lip opening per frame: mean |61-67|, |62-66|, |63-65| / IOD. (..., 68, 2) -> (...)."""
    n = normalise(lmk)
    return np.mean([np.linalg.norm(n[..., a, :] - n[..., b, :], axis=-1) for a, b in _INNER_LIP_PAIRS], axis=0)


def mouth_width(lmk: np.ndarray) -> np.ndarray:
    """Mouth width per frame: |48-54|, the outer lip corners, / IOD. (..., 68, 2) -> (...)."""
    n = normalise(lmk)
    return np.linalg.norm(n[..., _CORNERS[1], :] - n[..., _CORNERS[0], :], axis=-1)


def mouth_rounding(lmk: np.ndarray) -> np.ndarray:
    """How round the mouth is per frame: `mouth_opening` / `mouth_width`, unitless. (..., 68, 2) -> (...).

    High for a rounded "o"/"u" (open and narrow), low for a spread "ee" or a closed mouth (wide
    or shut); about 0..0.6 in speech. The width is the outer corners' (48, 54), not the inner
    lip's (60, 64): the outer corners are the mouth points trackers place best, and the inner
    corners are often put on the outer ones or wander with the teeth; a width of 0.8-1.1 IOD
    also keeps the ratio away from a small denominator. The opening moves more than the width
    in speech, so the rounding follows the opening closely; what it adds is the width's share.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        return mouth_opening(lmk) / mouth_width(lmk)


def expression(lmk: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame measures (y grows downwards, so 'raise' = minus y):

    brow_raise: brows above the eye line; inner_brow_raise: points 21, 22 only;
    lip_corner_lift: lip corners (48, 54) above the upper-lip centre (51), so a smile is up;
    corner_asymmetry: right corner lift minus left corner lift (one-sided, e.g. contempt);
    upper_lip_raise: upper-lip centre (51) towards the eye line;
    eye_opening: mean lid distance (37-41, 38-40, 43-47, 44-46).
    """
    n = normalise(lmk)
    y = n[..., 1]
    lift_l, lift_r = y[..., 51] - y[..., 48], y[..., 51] - y[..., 54]
    lids = [(37, 41), (38, 40), (43, 47), (44, 46)]
    return {
        "brow_raise": -y[..., 17:27].mean(-1),
        "inner_brow_raise": -y[..., [21, 22]].mean(-1),
        "lip_corner_lift": (lift_l + lift_r) / 2,
        "corner_asymmetry": lift_r - lift_l,
        "upper_lip_raise": -y[..., 51],
        "eye_opening": np.mean([y[..., b] - y[..., a] for a, b in lids], axis=0),
        "mouth_opening": mouth_opening(lmk),
    }


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.shape[-2:] != (68, 2):
        raise ValueError(f"expected two landmark arrays of the same shape (..., 68, 2), got {a.shape} and {b.shape}")
    return a, b


def mouth_lmd(a: np.ndarray, b: np.ndarray) -> float:
    """M-LMD in inter-ocular distances: mean L2 distance of the centred mouth points 48-67 of a and b.

    Each shape is first normalised (`normalise`: eyes horizontal, inter-ocular distance 1) and its
    mouth centred on its centroid, so only mouth shape counts, not head position, size, roll or
    where the mouth sits. (..., 68, 2) twice -> mean over frames where both have a face (finite
    landmarks); nan when there is none.
    """
    a, b = _pair(a, b)
    with np.errstate(invalid="ignore", divide="ignore"):
        ma, mb = normalise(a)[..., _MOUTH, :], normalise(b)[..., _MOUTH, :]
        ma = ma - ma.mean(-2, keepdims=True)
        mb = mb - mb.mean(-2, keepdims=True)
        d = np.linalg.norm(ma - mb, axis=-1).mean(-1)
    d = d[np.isfinite(d)]
    return float(d.mean()) if d.size else float("nan")


def _corr_over_time(measure, a: np.ndarray, b: np.ndarray, moves: float, output_still: float) -> float:
    """Pearson correlation over time of `measure` (a per-frame function of (N, 68, 2)) of a
    (input) and b (output), over the frames where both have a face (finite values).

    nan with fewer than 3 such frames or when the input's std over them is below `moves` (it does
    not move: nothing to keep); `output_still` when the output's std is ~0 while the input moves.
    """
    a, b = _pair(a, b)
    with np.errstate(invalid="ignore", divide="ignore"):
        oa, ob = np.ravel(measure(a)), np.ravel(measure(b))
    ok = np.isfinite(oa) & np.isfinite(ob)
    if ok.sum() < 3:
        return float("nan")
    x, y = oa[ok] - oa[ok].mean(), ob[ok] - ob[ok].mean()
    if x.std() < max(moves, 1e-9):
        return float("nan")
    if y.std() < 1e-9:  # the measures are ~0.01-1: below this they do not vary
        return float(output_still)
    return float((x * y).sum() / np.sqrt((x * x).sum() * (y * y).sum()))


def mouth_corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation (unitless, -1..1) of the per-frame `mouth_opening` of a and b.

    (N, 68, 2) twice -> correlation over frames where both have a face; nan with fewer than 3
    such frames or when either opening does not vary.
    """
    return _corr_over_time(mouth_opening, a, b, 0.0, float("nan"))


def width_corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation (-1..1) of the per-frame `mouth_width` of input a and output b: whether
    the output's lips spread and narrow as the input's do.

    (N, 68, 2) twice -> correlation over frames where both have a face, computed only where the
    width moves: nan with fewer than 3 such frames or when the input's width has a std below
    `WIDTH_MOVES` (0.03 IOD) over them; 0 when the output's width does not vary at all while the
    input's moves (the output kept none of it). A constant change of width (a smile's corners
    held wider) keeps it at 1.
    """
    return _corr_over_time(mouth_width, a, b, WIDTH_MOVES, 0.0)


def rounding_corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation (-1..1) of the per-frame `mouth_rounding` of input a and output b: whether
    the output's mouth rounds ("o") and spreads ("ee") when the input's does.

    As `width_corr`, with the floor `ROUNDING_MOVES` (0.03, unitless) on the input's std.
    """
    return _corr_over_time(mouth_rounding, a, b, ROUNDING_MOVES, 0.0)
