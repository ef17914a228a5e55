"""Landmarks read afresh on every frame: a full detection and a landmark fit per frame, with
nothing carried over between frames (no tracking, no smoothing, no gap filling).

This is how an edit is read back independently of the tracking that drove it: a tracker
follows its own earlier estimates, so it can agree with itself where the pixels say otherwise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .backend import Backend


def fresh_landmarks(frame: np.ndarray, backend: Backend, detect_size: int = 480,
                    turned_size: int = 320) -> np.ndarray | None:
    """(68, 2) landmarks of the largest face in `frame`, or None, found by the backend's
    detection policy (dlib: HOG, upsampled when it finds nothing; its CNN detector when HOG
    finds nothing or only doubtful faces)."""
    boxes = backend.find_faces(frame, max_side=detect_size,
                               turned=lambda: backend.detect_turned(frame, max_side=turned_size))
    if len(boxes) == 0:
        return None
    return backend.landmarks(frame, boxes[0, :4])


def read_landmarks(path: str | Path, backend: Backend | None = None, every: int = 1,
                   **kwargs) -> np.ndarray:
    """(N, 68, 2) landmarks of every `every`-th frame of a video, read afresh on each frame;
    NaN where no face is found."""
    from ..video import VideoReader
    from .backends import make_backend

    backend = backend or make_backend("dlib")
    out = []
    with VideoReader(path, chunk=8) as reader:
        index = 0
        for chunk in reader:
            for frame in chunk:
                if index % every == 0:
                    lmk = fresh_landmarks(frame, backend, **kwargs)
                    out.append(np.full((68, 2), np.nan, np.float32) if lmk is None else lmk)
                index += 1
    return np.asarray(out, np.float32).reshape(-1, 68, 2)
