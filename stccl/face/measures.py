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


def mouth_corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation (unitless, -1..1) of the per-frame `mouth_opening` of a and b.

    (N, 68, 2) twice -> correlation over frames where both have a face; nan with fewer than 3
    such frames or when either opening does not vary.
    """
    a, b = _pair(a, b)
    with np.errstate(invalid="ignore", divide="ignore"):
        oa, ob = np.ravel(mouth_opening(a)), np.ravel(mouth_opening(b))
    ok = np.isfinite(oa) & np.isfinite(ob)
    if ok.sum() < 3:
        return float("nan")
    x, y = oa[ok] - oa[ok].mean(), ob[ok] - ob[ok].mean()
    sx, sy = np.sqrt((x * x).sum()), np.sqrt((y * y).sum())
    if sx < 1e-9 or sy < 1e-9:  # openings are ~0.01-0.5 IOD: below this they do not vary
        return float("nan")
    return float((x * y).sum() / (sx * sy))
