"""Streaming face pipeline: track -> fill short gaps -> smooth -> align, frame by frame.

Frames come out in order, each exactly once. A frame is held back only while it sits in a
gap of at most `max_gap` frames without a face, so that the gap can be interpolated when the
face comes back; once a gap grows longer, its frames leave as FACE_MISSING. Memory is
therefore bounded by max_gap + 1 frames.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from ..config import AlignConfig, TrackConfig
from .align import SimilaritySmoother, invert, similarity_from_landmarks
from .smooth import FACE_DETECTED, FACE_INTERPOLATED, FACE_MISSING, LandmarkSmoother
from .spread import fit_spread
from .tracker import FaceTracker


@dataclass
class FaceFrame:
    index: int
    flag: int  # FACE_* bit flags
    landmarks: np.ndarray | None  # (68, 2) smoothed image coords; None when missing
    M: np.ndarray | None  # (2, 3) image->crop, smoothed
    Minv: np.ndarray | None  # (2, 3) crop->image
    spread: float = math.nan  # how unsure the fit is of the mouth (stccl.face.spread), as last measured; NaN: not measured
    dense: np.ndarray | None = None  # a dense tracker's raw points ((468, 3) image px, not smoothed; the mesh's), interpolated in a gap

    @property
    def has_face(self) -> bool:
        """A face to edit or measure: landmarks and an alignment, not a missing frame."""
        return self.M is not None and self.landmarks is not None and not self.flag & FACE_MISSING


Emitted = list[tuple[np.ndarray, FaceFrame]]


class FaceStream:
    """`push(frame)` / `finish()` give (frame, FaceFrame) pairs in input order."""

    def __init__(
        self,
        tracker: FaceTracker,
        fps: float,
        track_cfg: TrackConfig | None = None,
        align_cfg: AlignConfig | None = None,
        spread_every: int = 0,
    ) -> None:
        """`spread_every`: measure the fit's spread (stccl.face.spread) on every N-th frame
        with a fitted face (0: never); the frames between, filled gaps included, carry the last
        measure."""
        self.tracker = tracker
        self.spread_every = spread_every
        self._fitted = 0  # frames fitted since the face was found
        self._spread = math.nan
        self.track_cfg = track_cfg or TrackConfig()
        self.align_cfg = align_cfg or AlignConfig()
        self._lmk_smoother = LandmarkSmoother.from_config(fps, self.track_cfg)
        self._sim_smoother = SimilaritySmoother.from_config(fps, self.align_cfg)
        self._held: deque[tuple[int, np.ndarray]] = deque()  # frames of the current short gap
        self._gap_is_long = False
        self._last: np.ndarray | None = None  # raw landmarks of the last face before the gap
        self._last_dense: np.ndarray | None = None  # ... and its dense points
        self._next_index = 0
        self.max_held = 0

    @classmethod
    def from_backend(cls, backend, fps: float, track_cfg: TrackConfig | None = None,
                     align_cfg: AlignConfig | None = None, spread_every: int = 0) -> "FaceStream":
        """A stream that tracks with `backend` (stccl.face.backends) under `track_cfg`."""
        track_cfg = track_cfg or TrackConfig()
        return cls(FaceTracker(backend, track_cfg), fps, track_cfg, align_cfg, spread_every)

    def push(self, frame, track: np.ndarray | None = None) -> Emitted:
        """Track the face in `track` (default: `frame` itself, RGB or grey) and queue `frame`,
        which the stream only holds and hands back (the edit gives it whole yuv420p frames and
        tracks on their luma)."""
        index = self._next_index
        self._next_index += 1
        image = frame if track is None else track
        raw = self.tracker(image)
        if raw is None:
            return self._no_face(index, frame)
        dense = self.tracker.dense
        out = self._release_gap(raw, dense)
        out.append(self._emit(index, frame, raw, FACE_DETECTED, self._measure(image, raw), dense))
        self._last, self._last_dense = raw, dense
        self._gap_is_long = False
        return out

    @property
    def lost(self) -> bool:
        """The face has been gone for longer than a gap that can be filled."""
        return self._gap_is_long

    def finish(self) -> Emitted:
        """Release the frames still held (a short gap at the end takes the last face). A `face`
        index past the faces found is a NoFaceError that says so."""
        check_picked = getattr(self.tracker, "check_picked", None)
        if check_picked is not None:
            check_picked()
        if self._last is None:
            return self._release_missing()
        return self._release_gap(self._last, self._last_dense)

    def _no_face(self, index: int, frame: np.ndarray) -> Emitted:
        if self._gap_is_long:
            return [self._missing(index, frame)]
        self._held.append((index, frame))
        self.max_held = max(self.max_held, len(self._held))
        if len(self._held) <= self.track_cfg.max_gap:
            return []
        self._gap_is_long = True
        self._last = self._last_dense = None
        return self._release_missing()

    def _release_gap(self, face: np.ndarray, dense: np.ndarray | None = None) -> Emitted:
        """Emit the held gap frames, interpolated between the last face and `face` (and their
        dense points, where both have them)."""
        start = self._last if self._last is not None else face
        start_dense = self._last_dense if self._last is not None else dense
        n = len(self._held) + 1
        out = []
        for k, (index, frame) in enumerate(self._held, start=1):
            lmk = start + (face - start) * (k / n)
            between = None
            if dense is not None and start_dense is not None:
                between = start_dense + (dense - start_dense) * (k / n)
            out.append(self._emit(index, frame, lmk, FACE_INTERPOLATED, self._spread, between))
        self._held.clear()
        return out

    def _release_missing(self) -> Emitted:
        out = [self._missing(index, frame) for index, frame in self._held]
        self._held.clear()
        return out

    def _missing(self, index: int, frame: np.ndarray) -> tuple[np.ndarray, FaceFrame]:
        self._lmk_smoother.reset()
        self._sim_smoother.reset()
        self._fitted, self._spread = 0, math.nan
        return frame, FaceFrame(index, FACE_MISSING, None, None, None)

    def _measure(self, image: np.ndarray, raw: np.ndarray) -> float:
        if self.spread_every and self._fitted % self.spread_every == 0:
            self._spread = fit_spread(self.tracker.backend, image, raw)
        self._fitted += 1
        return self._spread

    def _emit(
        self, index: int, frame: np.ndarray, lmk: np.ndarray, flag: int, spread: float = math.nan,
        dense: np.ndarray | None = None,
    ) -> tuple[np.ndarray, FaceFrame]:
        lmk = np.asarray(lmk, np.float32)
        if self.track_cfg.smooth:
            lmk = self._lmk_smoother(lmk)
        M = similarity_from_landmarks(lmk, self.align_cfg.size)
        if self.track_cfg.smooth:
            M = self._sim_smoother(M)
        return frame, FaceFrame(index, flag, lmk, M, invert(M), spread, dense)


def track_video(path, backend=None, track_cfg: TrackConfig | None = None,
                align_cfg: AlignConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Smoothed landmarks of a whole video: ((N,68,2) image px, NaN where no face; (N,) flags)."""
    from ..video import VideoReader
    from .backends import make_backend

    track_cfg = track_cfg or TrackConfig()
    backend = backend or make_backend(track_cfg.tracker, track_cfg.device)
    lmks, flags = [], []

    def keep(emitted: Emitted) -> None:
        for _, face in emitted:
            flags.append(face.flag)
            lmks.append(np.full((68, 2), np.nan) if face.landmarks is None else face.landmarks)

    with VideoReader(path, chunk=8) as reader:
        stream = FaceStream.from_backend(backend, reader.info.fps, track_cfg, align_cfg)
        for chunk in reader:
            for frame in chunk:
                keep(stream.push(frame))
        keep(stream.finish())
    return np.asarray(lmks, np.float32).reshape(-1, 68, 2), np.asarray(flags, np.uint8)
