"""Thin-plate splines in numpy, batched: solve for control points, evaluate anywhere.

f(x) = a0 + A x + sum_i w_i U(|x - c_i|), U(r) = r^2 log r, with f(c_i) = v_i. The kernels sit
on the control points (the standard interpolant); coordinates should be normalised (~[-1, 1]).
"""

from __future__ import annotations

import cv2
import numpy as np


def _kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """U between every point of a (B,M,2) and b (B,N,2): (B,M,N), in a's precision.

    r² = |a|² + |b|² - 2 a·b, as one product of (x, y, 1, |a|²) and (-2x, -2y, |b|², 1) rows
    (in float32 its rounding, ~1e-7, moves U by less than that: U -> 0 as r -> 0), then
    OpenCV's vectorised log (2x numpy's)."""
    dt = np.float32 if a.dtype == np.float32 else np.float64
    a, b = np.asarray(a, dt), np.asarray(b, dt)
    n = b.shape[1]
    pa = np.empty((*a.shape[:2], 4), dt)
    pa[..., :2], pa[..., 2], pa[..., 3] = a, 1.0, (a * a).sum(-1)
    pb = np.empty((b.shape[0], 4, n), dt)
    pb[:, :2], pb[:, 2], pb[:, 3] = -2.0 * b.transpose(0, 2, 1), (b * b).sum(-1), 1.0
    r2 = pa @ pb
    flat = r2.reshape(-1, n)
    np.maximum(flat, 1e-12, out=flat)
    out = cv2.log(flat)
    cv2.multiply(out, flat, out, scale=0.5)
    return out.reshape(r2.shape)


def tps_fit(centers: np.ndarray, values: np.ndarray, reg: float = 0.0):
    """centers (B,N,2), values (B,N,D) -> (weights (B,N,D), affine (B,3,D)), in float64."""
    centers, values = np.asarray(centers, np.float64), np.asarray(values, np.float64)
    b, n, _ = centers.shape
    k = _kernel(centers, centers)
    if reg:
        k += reg * np.eye(n)
    p = np.concatenate([np.ones((b, n, 1)), centers], -1)
    top = np.concatenate([k, p], -1)
    bottom = np.concatenate([p.transpose(0, 2, 1), np.zeros((b, 3, 3))], -1)
    rhs = np.concatenate([values, np.zeros((b, 3, values.shape[-1]))], 1)
    sol = np.linalg.solve(np.concatenate([top, bottom], 1), rhs)
    return sol[:, :n], sol[:, n:]


def tps_eval(points: np.ndarray, centers: np.ndarray, weights: np.ndarray,
             affine: np.ndarray) -> np.ndarray:
    """points (B,M,2) -> (B,M,D), in the points' precision."""
    p = np.concatenate([np.ones_like(points[..., :1]), points], -1)
    return p @ affine + _kernel(points, centers) @ weights
