"""The faces of an edit, one lane each, and the frames held until every lane has seen them.

A lane follows one face: its own tracker, gap filling and smoothing (a FaceStream), its own
ease (EaseBuffer) and its own reading of the expression shown (ShownReader). `--face N` is
one lane for the whole video. `--face all` looks for faces every `detect_every` frames and
opens a lane for each face that no lane follows; a lane whose face has been gone for longer
than a fillable gap is closed (a face that comes back later gets a new lane), and a lane
that comes to follow the same face as an older one is closed too.

Each lane hands frames back in order, but later than they came in (gap and ease
look-ahead), so a frame waits here until every lane that was open when it came in has
reported on it. Memory stays bounded by the longest look-ahead.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np

from ..config import EditConfig
from ..face import FaceFrame, FaceStream
from ..face.spread import trust
from ..face.tracker import FaceTracker, box_distance, iou
from .ease import EaseBuffer
from .expression import ShownReader

_NEW_FACE = 0.6  # a found box this far (box_distance) from every followed face is a new face
_SAME_FACE_IOU = 0.5  # two lanes whose faces overlap this much follow the same face


@dataclass
class Frame:
    """A decoded frame on its way to the encoder, with what each lane says of it."""

    index: int
    pixels: np.ndarray
    waiting: int = 0  # lanes that have not reported on this frame yet
    faces: list["Face"] = field(default_factory=list)

    def release(self) -> None:
        """Drop the pixels and the faces once the frame is written. A Frame and its Faces refer
        to each other, a cycle that only Python's rare full collection would free: the pixels
        of every frame would pile up until then (memory growing with the video's length)."""
        self.pixels = None
        self.faces.clear()


@dataclass
class Face:
    """One lane's face on one frame, and how strongly it is to be edited there."""

    lane: "Lane"
    frame: Frame
    face: FaceFrame
    ease: float  # the lane's ease factor (gaps, entering, leaving)
    alpha: float = 0.0  # ease x window x intensity, set by the pipeline
    emotion: str = ""


class Lane:
    def __init__(self, number: int, stream: FaceStream, ease: EaseBuffer, shown: ShownReader | None):
        self.number, self.stream, self.ease, self.shown = number, stream, ease, shown
        self.edited = 0  # frames of this face the edit changed

    @property
    def tracker(self) -> FaceTracker:
        return self.stream.tracker

    def push(self, frame: Frame, track: np.ndarray) -> list[Face]:
        return self._eased(self.stream.push(frame, track))

    def finish(self) -> list[Face]:
        faces = self._eased(self.stream.finish())
        return faces + [Face(self, f, face, k) for (f, face), k in self.ease.finish()]

    def _eased(self, emitted) -> list[Face]:
        out = []
        for frame, face in emitted:
            sure = trust(face.spread)
            out += [Face(self, f, fc, k) for (f, fc), k in self.ease.push((frame, face), face.has_face, sure)]
        return out


class Lanes:
    """`push(pixels, track)` / `finish()` -> the Frames whose every lane has reported, in order."""

    def __init__(self, backend, cfg: EditConfig, fps: float, expression=None):
        self.backend, self.cfg, self.fps, self.expression = backend, cfg, fps, expression
        self.every = cfg.faces == "all"
        self.track_cfg = replace(cfg.track, face=0) if self.every else cfg.track
        self.ramp = round(cfg.ease * fps)
        # the fit's spread is measured where the tracker says it can be (dlib: 6 fits of ~3 ms
        # every 8th frame)
        self.spread_every = cfg.fit_check_every if backend.caps.mouth_check else 0
        self.open: list[Lane] = []
        self.closed: list[Lane] = []
        self._frames: deque[Frame] = deque()
        self._next = 0
        self._finder = FaceTracker(backend, self.track_cfg) if self.every else None
        if not self.every:
            self.open.append(self._lane(entering=False))

    @property
    def lanes(self) -> list[Lane]:
        return sorted(self.open + self.closed, key=lambda lane: lane.number)

    def push(self, pixels: np.ndarray, track: np.ndarray) -> list[Frame]:
        frame = Frame(self._next, pixels)
        self._next += 1
        if self.every and frame.index % self.track_cfg.detect_every == 0:
            self._find(frame.index, track)
        frame.waiting = len(self.open)
        self._frames.append(frame)
        for lane in list(self.open):
            self._report(lane.push(frame, track))
            if self.every and lane.stream.lost:
                self._close(lane)
        if self.every:
            self._close_duplicates()
        return self._ready()

    def finish(self) -> list[Frame]:
        for lane in list(self.open):
            self._close(lane)
        return self._ready()

    def _lane(self, entering: bool) -> Lane:
        stream = FaceStream.from_backend(self.backend, self.fps, self.track_cfg, self.cfg.align,
                                         spread_every=self.spread_every)
        ease = EaseBuffer(self.ramp, entering=entering)
        shown = None if self.expression is None else ShownReader(self.expression, self.fps)
        return Lane(len(self.open) + len(self.closed), stream, ease, shown)

    def _find(self, index: int, track: np.ndarray) -> None:
        """Open a lane for each confident face that no open lane follows."""
        known = [lane.tracker.last_box for lane in self.open if lane.tracker.last_box is not None]
        for box in self._finder.find(track):
            if all(box_distance(box[:4], k) > _NEW_FACE for k in known):
                lane = self._lane(entering=index > 0)
                lane.tracker.seed(track, box)
                known.append(lane.tracker.last_box)
                self.open.append(lane)

    def _close_duplicates(self) -> None:
        followed = [lane for lane in self.open if lane.tracker.followed and not lane.tracker.missed]
        for k, young in enumerate(followed):
            box = young.tracker.last_box
            if any(iou(box, old.tracker.last_box) > _SAME_FACE_IOU for old in followed[:k]):
                self._close(young)

    def _close(self, lane: Lane) -> None:
        self._report(lane.finish())
        self.open.remove(lane)
        self.closed.append(lane)

    def _report(self, faces: list[Face]) -> None:
        for face in faces:
            face.frame.faces.append(face)
            face.frame.waiting -= 1

    def _ready(self) -> list[Frame]:
        out = []
        while self._frames and self._frames[0].waiting == 0:
            out.append(self._frames.popleft())
        return out
