"""Thin-plate splines in numpy, batched: solve for control points, evaluate anywhere.

f(x) = a0 + A x + sum_i w_i U(|x - c_i|), U(r) = r^2 log r, with f(c_i) = v_i. The kernels sit
on the control points (the standard interpolant); coordinates should be normalised (~[-1, 1]).
"""

from __future__ import annotations

import numpy as np


def _kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """U between every point of a (B,M,2) and b (B,N,2): (B,M,N), in a's precision, in place
    in two (B,M,N) buffers."""
    r2 = a[:, :, None, 0] - b[:, None, :, 0]
    r2 *= r2
    dy = a[:, :, None, 1] - b[:, None, :, 1]
    dy *= dy
    r2 += dy
    np.maximum(r2, 1e-12, out=r2)
    out = np.log(r2, out=dy)
    out *= r2
    out *= 0.5
    return out


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
