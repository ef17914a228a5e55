"""Dynamic time warping between two takes of a sentence, and content features for it."""

from __future__ import annotations

import librosa
import numpy as np
from scipy.spatial.distance import cdist

from ..errors import DataError, InputError

METRICS = ("cosine", "euclidean")
# Sakoe-Chiba radius used for pairing takes (fraction of the shorter sequence).
DEFAULT_BAND = 0.25

# iBUG 68-point indices
RIGHT_EYE = slice(36, 42)
LEFT_EYE = slice(42, 48)
MOUTH_LEFT, MOUTH_RIGHT = 48, 54
INNER_UPPER = [61, 62, 63]
INNER_LOWER = [67, 66, 65]


def dtw(a: np.ndarray, b: np.ndarray, metric: str = "cosine",
        band: float | None = None) -> tuple[np.ndarray, float]:
    """Align feature sequences a (n, d) and b (m, d).

    Returns the path, shape (L, 2) int, rows (i, j) from (0, 0) to (n-1, m-1) with steps
    (1, 0), (0, 1), (1, 1), and the accumulated cost divided by L. `band` is an optional
    Sakoe-Chiba radius as a fraction of min(n, m), widened as needed for unequal lengths.
    """
    a = _as_sequence(a, "a")
    b = _as_sequence(b, "b")
    if a.shape[1] != b.shape[1]:
        raise InputError(f"dtw: feature sizes differ ({a.shape[1]} vs {b.shape[1]})")
    if metric not in METRICS:
        raise InputError(f"dtw: unknown metric {metric!r}; use {' or '.join(METRICS)}")
    cost = np.nan_to_num(cdist(a, b, metric=metric), nan=1.0, posinf=1e6)
    kwargs = {"global_constraints": True, "band_rad": float(band)} if band else {}
    acc, wp = librosa.sequence.dtw(C=cost, backtrack=True, **kwargs)
    path = np.ascontiguousarray(wp[::-1]).astype(np.int64)
    return path, float(acc[-1, -1] / len(path))


def _as_sequence(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] == 0:
        raise InputError(f"dtw: {name} must be a non-empty (frames, features) array, got {x.shape}")
    return x


def frame_pairs(path: np.ndarray) -> np.ndarray:
    """For each frame i of sequence A, its partner frame in B: shape (n_a,) int, monotone.

    The partner is the rounded mean of the j's that the path matches to i.
    """
    path = np.asarray(path)
    n_a = int(path[:, 0].max()) + 1
    sums = np.bincount(path[:, 0], weights=path[:, 1], minlength=n_a)
    counts = np.bincount(path[:, 0], minlength=n_a)
    partner = np.floor(sums / np.maximum(counts, 1) + 0.5).astype(np.int64)
    return np.maximum.accumulate(partner)


def mouth_features(landmarks68: np.ndarray) -> np.ndarray:
    """A content feature for clips without audio: shape (N, 4) float32.

    Columns: inner-lip opening and mouth width, both divided by the inter-ocular distance,
    then their per-frame velocities; each column standardised over the clip. Frames with
    NaN landmarks (no face) are filled by linear interpolation in time.
    """
    lm = np.asarray(landmarks68, np.float64)
    if lm.ndim != 3 or lm.shape[1:] != (68, 2):
        raise DataError(f"landmarks must have shape (N, 68, 2), got {lm.shape}")
    ocular = np.linalg.norm(lm[:, RIGHT_EYE].mean(1) - lm[:, LEFT_EYE].mean(1), axis=1)
    ocular = np.where(ocular > 1e-6, ocular, np.nan)
    opening = np.linalg.norm(lm[:, INNER_UPPER] - lm[:, INNER_LOWER], axis=2).mean(1)
    width = np.linalg.norm(lm[:, MOUTH_LEFT] - lm[:, MOUTH_RIGHT], axis=1)
    shape = np.stack([opening / ocular, width / ocular], axis=1)
    shape = _fill_gaps(shape)
    velocity = np.gradient(shape, axis=0) if len(shape) > 1 else np.zeros_like(shape)
    return _standardise(np.concatenate([shape, velocity], axis=1)).astype(np.float32)


def _fill_gaps(x: np.ndarray) -> np.ndarray:
    """Linear interpolation over NaN rows, per column; an all-NaN column becomes 0."""
    out = x.copy()
    t = np.arange(len(x))
    for c in range(x.shape[1]):
        ok = np.isfinite(x[:, c])
        out[:, c] = np.interp(t, t[ok], x[ok, c]) if ok.any() else 0.0
    return out


def _standardise(x: np.ndarray) -> np.ndarray:
    std = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(std > 1e-8, std, 1.0)
