"""Temporal smoothing (One-Euro filter) and gap filling of landmark tracks.

Flags are uint8 bit flags, stored per frame in prepared data:
FACE_DETECTED (landmarks measured), FACE_INTERPOLATED (short gap filled), FACE_MISSING (no face).
"""

from __future__ import annotations

import math

import numpy as np

from ..config import TrackConfig
from ..errors import InputError

FACE_DETECTED = 1
FACE_INTERPOLATED = 2
FACE_MISSING = 4

_TRACK = TrackConfig()


class OneEuro:
    """One-Euro filter (Casiez et al. 2012), elementwise over arrays of any fixed shape.

    `freq` is the sample rate in Hz; pass `t` (seconds) to `__call__` for irregular samples.
    `min_cutoff` (Hz) and `beta` may be arrays that broadcast against the samples.
    Lower `min_cutoff` removes more jitter at rest; higher `beta` lags less on fast motion.
    """

    def __init__(self, freq: float, min_cutoff=1.0, beta=0.05, d_cutoff: float = 1.0) -> None:
        if freq <= 0:
            raise InputError(f"frame rate must be positive, got {freq}")
        self.freq, self.min_cutoff, self.beta, self.d_cutoff = (
            float(freq),
            min_cutoff,
            beta,
            d_cutoff,
        )
        self.reset()

    def reset(self) -> None:
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def __call__(self, x: np.ndarray, t: float | None = None) -> np.ndarray:
        x = np.asarray(x, np.float64)
        if self._x is None:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return x.copy()
        dt = 1.0 / self.freq
        if t is not None and self._t is not None and t > self._t:
            dt = t - self._t
        self._t = t
        a_d = _alpha(self.d_cutoff, dt)
        self._dx = a_d * (x - self._x) / dt + (1 - a_d) * self._dx
        a = _alpha(self.min_cutoff + self.beta * np.abs(self._dx), dt)
        self._x = a * x + (1 - a) * self._x
        return self._x.copy()


def _alpha(cutoff, dt: float):
    tau = 1.0 / (2 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


def inter_ocular(lmk: np.ndarray) -> float:
    """Distance between the eye centres of a (68, 2) landmark set."""
    return float(np.linalg.norm(lmk[36:42].mean(0) - lmk[42:48].mean(0)))


# points that move with speech (lips, lower jaw) and points that only move with the head
MOUTH_POINTS = np.r_[4:13, 48:68]
STABLE_POINTS = np.r_[27:36, 36:48]


class LandmarkSmoother:
    """One-Euro smoothing of (68, 2) landmarks that keeps speech motion.

    The landmarks are split into the centroid of the stable points (head motion) and the
    offsets from it (face shape). The centroid and the stable offsets get the strong filter
    (`min_cutoff`, `beta`); lip and jaw offsets get the light one (`mouth_min_cutoff`,
    `mouth_beta`), so the mouth follows speech without lag yet does not jitter against the head.
    Units are inter-ocular distances, fixed at the first frame after a reset, so the betas do
    not depend on the video resolution. A jump of the head by more than `cut` units in one
    frame (a cut in the video) restarts the filters instead of gliding across it.
    """

    cut = 0.5

    def __init__(
        self,
        fps: float,
        min_cutoff: float = _TRACK.min_cutoff,
        beta: float = _TRACK.beta,
        mouth_min_cutoff: float = _TRACK.mouth_min_cutoff,
        mouth_beta: float = _TRACK.mouth_beta,
    ) -> None:
        cutoff = np.full((68, 1), float(min_cutoff))
        speed = np.full((68, 1), float(beta))
        cutoff[MOUTH_POINTS], speed[MOUTH_POINTS] = mouth_min_cutoff, mouth_beta
        self._head = OneEuro(fps, min_cutoff, beta)
        self._shape = OneEuro(fps, cutoff, speed)
        self._unit: float | None = None
        self._center: np.ndarray | None = None  # image coords

    @classmethod
    def from_config(cls, fps: float, cfg: TrackConfig) -> LandmarkSmoother:
        return cls(fps, cfg.min_cutoff, cfg.beta, cfg.mouth_min_cutoff, cfg.mouth_beta)

    def reset(self) -> None:
        self._head.reset()
        self._shape.reset()
        self._unit = None
        self._center = None

    def __call__(self, lmk: np.ndarray) -> np.ndarray:
        x = np.asarray(lmk, np.float64)
        center = x[STABLE_POINTS].mean(0)
        if self._unit is not None and np.linalg.norm(center - self._center) > self.cut * self._unit:
            self.reset()
        if self._unit is None:
            self._unit = max(inter_ocular(x), 1e-3)
        self._center = center
        x, center = x / self._unit, center / self._unit
        out = self._shape(x - center) + self._head(center)
        return (out * self._unit).astype(np.float32)


def valid_frames(landmarks: np.ndarray) -> np.ndarray:
    return np.isfinite(landmarks).reshape(len(landmarks), -1).all(1)


def smooth_track(
    landmarks: np.ndarray,
    fps: float,
    min_cutoff: float = _TRACK.min_cutoff,
    beta: float = _TRACK.beta,
    mouth_min_cutoff: float = _TRACK.mouth_min_cutoff,
    mouth_beta: float = _TRACK.mouth_beta,
) -> np.ndarray:
    """Causal smoothing (LandmarkSmoother) of a (N, 68, 2) track; NaN frames stay NaN and reset it."""
    smoother = LandmarkSmoother(fps, min_cutoff, beta, mouth_min_cutoff, mouth_beta)
    out = np.full(landmarks.shape, np.nan, np.float32)
    for i, ok in enumerate(valid_frames(landmarks)):
        if ok:
            out[i] = smoother(landmarks[i])
        else:
            smoother.reset()
    return out


def missing_runs(valid: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of False in `valid`."""
    edges = np.diff(np.r_[0, (~valid).astype(np.int8), 0])
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def fill_gaps(landmarks: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Linearly interpolate gaps of <= max_gap frames in a (N, 68, 2) NaN-missing track.

    Short gaps at the start or end take the nearest face. Returns the filled track
    (long gaps stay NaN) and (N,) uint8 flags.
    """
    filled = np.array(landmarks, np.float32, copy=True)
    valid = valid_frames(filled)
    flags = np.where(valid, FACE_DETECTED, FACE_MISSING).astype(np.uint8)
    if not valid.any():
        return filled, flags
    n = len(filled)
    for a, b in missing_runs(valid):
        if b - a > max_gap:
            continue
        if a == 0:
            filled[a:b] = filled[b]
        elif b == n:
            filled[a:b] = filled[a - 1]
        else:
            w = (np.arange(a, b) - (a - 1)) / (b - (a - 1))
            filled[a:b] = (1 - w)[:, None, None] * filled[a - 1] + w[:, None, None] * filled[b]
        flags[a:b] = FACE_INTERPOLATED
    return filled, flags
