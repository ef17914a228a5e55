"""Measurements of a sequence of aligned face crops: re-tracked landmarks and per-frame features."""

from __future__ import annotations

import numpy as np

from ..config import AlignConfig, TrackConfig
from ..face import FaceStream
from .scorers import FeatureBank, Scorers

TRACK_SIZE = 256  # crops smaller than this are upscaled for tracking (HOG needs ~80 px faces)


def track_crops(crops: np.ndarray, fps: float, backend, tracker: str) -> np.ndarray:
    """(N,68,2) landmarks in crop pixels of a crop sequence, NaN where no face is found."""
    import cv2

    size = crops.shape[1]
    scale = max(1.0, TRACK_SIZE / size)
    track = TrackConfig(tracker=tracker)
    stream = FaceStream.from_backend(backend, fps, track, AlignConfig())
    out: list[np.ndarray] = []

    def keep(emitted):
        for _, face in emitted:
            out.append(face.landmarks / scale if face.has_face else np.full((68, 2), np.nan))

    for c in crops:
        if scale > 1:
            c = cv2.resize(c, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        keep(stream.push(c))
    keep(stream.finish())
    return np.asarray(out, np.float64).reshape(-1, 68, 2)


def crop_features(scorers: Scorers, crops: np.ndarray, lmk: np.ndarray, batch: int) -> dict[str, np.ndarray]:
    """Per-frame features of every loaded model ({} when none is); NaN rows where `lmk` is NaN."""
    bank = FeatureBank(scorers, batch)
    if not bank.active:
        return {}
    ok = np.isfinite(lmk).all((1, 2))
    for c, lm, good in zip(crops, lmk, ok):
        bank.add(c if good else None, lm if good else None)
    return bank.finish()
