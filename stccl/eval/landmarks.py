"""Landmark metrics of an edit: the same tracker on INPUT and EDITED, compared frame by frame.

All shapes are first normalised (stccl.face.measures.normalise: eye line horizontal,
inter-ocular distance 1), so distances are in inter-ocular distances (IOD) whatever the
resolution. Frames where either video has no face (NaN landmarks) are left out.
"""

from __future__ import annotations

import numpy as np

from ..face.measures import mouth_corr, mouth_lmd, normalise, rounding_corr, width_corr


def _both(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.isfinite(a).all((1, 2)) & np.isfinite(b).all((1, 2))


def face_lmd(a: np.ndarray, b: np.ndarray) -> float:
    """F-LMD in IOD: mean L2 distance of all 68 points of normalised, mean-centred shapes.

    (N,68,2) twice -> mean over frames where both have a face; nan when there is none.
    """
    ok = _both(a, b)
    if not ok.any():
        return float("nan")
    na, nb = normalise(a[ok]), normalise(b[ok])
    na = na - na.mean(-2, keepdims=True)
    nb = nb - nb.mean(-2, keepdims=True)
    return float(np.linalg.norm(na - nb, axis=-1).mean())


def expression_shift(a: np.ndarray, b: np.ndarray, prototype: np.ndarray | None) -> dict[str, float]:
    """How far the mean landmark displacement b - a went along an emotion's prototype.

    D = mean over frames of normalise(b) - normalise(a), (68,2) in IOD; P = the prototype (68,2),
    the warp engine's displacement for that emotion at intensity 1, in the same frame and units.

    - expr_shift: <D, P> / |P|, the projection of D on P's direction (IOD; 0 = none);
    - expr_shift_ratio: <D, P> / |P|^2, the fraction of the prototype reached (1 = all of it);
    - expr_cos: <D, P> / (|D| |P|), whether the change points the prototype's way (-1..1).

    nan when there is no prototype (neutral) or no frame with both faces.
    """
    nan = {"expr_shift": float("nan"), "expr_shift_ratio": float("nan"), "expr_cos": float("nan")}
    ok = _both(a, b)
    if prototype is None or not ok.any():
        return nan
    p = np.asarray(prototype, np.float64).ravel()
    pn = float(np.linalg.norm(p))
    if pn < 1e-9:
        return nan
    d = (normalise(b[ok]) - normalise(a[ok])).mean(0).ravel()
    dot = float(d @ p)
    dn = float(np.linalg.norm(d))
    return {"expr_shift": dot / pn, "expr_shift_ratio": dot / pn ** 2,
            "expr_cos": dot / (dn * pn) if dn > 1e-12 else 0.0}


def landmark_metrics(a: np.ndarray, b: np.ndarray, prototype: np.ndarray | None) -> dict[str, float]:
    """mouth_corr, width_corr, rounding_corr, m_lmd, f_lmd and the expression shift of EDITED (b)
    against INPUT (a), (N,68,2). width_corr and rounding_corr are nan where the input's mouth
    width or rounding does not move (stccl.face.measures.WIDTH_MOVES, ROUNDING_MOVES)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    out = {"mouth_corr": mouth_corr(a, b), "width_corr": width_corr(a, b),
           "rounding_corr": rounding_corr(a, b), "m_lmd": mouth_lmd(a, b), "f_lmd": face_lmd(a, b)}
    out.update(expression_shift(a, b, prototype))
    return out
