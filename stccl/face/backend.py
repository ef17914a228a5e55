"""What every tracker (landmark backend) gives and takes, and the policies a backend may override.

A backend detects faces and fits the 68 iBUG landmarks (a dense model gives its 68-point view).
What it can do is declared in its registry entry (`stccl.registry.TRACKERS`, `TrackerCaps`) and
is the backend's `caps`. `BaseBackend` holds the policies that are tuned on dlib and that a
backend unlike it overrides:
- `find_faces`: which detector runs, when the slower one is asked, which box comes first;
- `follow`: the next frame's fit from the previous frame's landmarks;
- `box_from_landmarks`: the box its detector would give around a face.

Images are RGB uint8 (H, W, 3) or grey uint8 (H, W). Boxes are (x0, y0, x1, y1, confidence)
in image pixels, the confidence in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from ..errors import InputError
from ..registry import TrackerCaps
from ..video.yuv import VideoLuma, grey
from . import boxes as _boxes

_MOVED = 0.04  # box move (of its side) past which the followed fit is redone from its own box


@dataclass
class Follow:
    """A fit that followed the face from the previous frame: its landmarks, how sure the backend
    is that a face is there (None: it cannot say), whether it refitted (the face moved fast),
    the box of the fit (`box_from_landmarks(landmarks)`; None: the tracker computes it), and
    the dense model's points when the backend has one ((P, 3) image px; the mesh's 468)."""

    landmarks: np.ndarray
    presence: float | None = None
    refitted: bool = False
    box: np.ndarray | None = None
    dense: np.ndarray | None = None


class Backend(Protocol):
    name: str
    caps: TrackerCaps
    # (68, 2) how the 68-point view sits off dlib's fit of the same face, in the expression
    # reading's normalised coordinates (stccl.edit.expression); None: dlib's own convention
    view_offset: np.ndarray | None

    def detect(self, image: np.ndarray, max_side: int = 480, upsample: int | None = None) -> np.ndarray:
        """Faces in `image` as (K, 5) float32 rows x0, y0, x1, y1, confidence (image coords).

        Runs on a copy downscaled so its longest side is <= `max_side`; `upsample` is the
        detector's pyramid upsampling (None: 0, then 1 when nothing is found)."""

    def detect_turned(self, image: np.ndarray, max_side: int = 320) -> np.ndarray:
        """Like `detect`, by a slower detector that also sees turned faces, boxes in `detect`'s
        convention; asked only where `detect` finds nothing or only doubtful faces."""

    def landmarks(self, image: np.ndarray, box: Sequence[float]) -> np.ndarray:
        """(68, 2) float32 landmarks of the face in `box` (image coords)."""

    def fit(self, image: np.ndarray, box: Sequence[float]) -> Follow:
        """The fit from a detection box, with what the backend knows beside the landmarks."""

    def find_faces(self, image: np.ndarray, max_side: int = 480, upsample: int | None = None,
                   turned: Callable[[], np.ndarray] | None = None) -> np.ndarray:
        """The faces in `image`, (K, 5) largest first (the detection policy)."""

    def follow(self, image: np.ndarray, previous: np.ndarray) -> Follow:
        """The fit of the face whose landmarks were `previous` on the frame before."""

    def box_from_landmarks(self, lmk: np.ndarray) -> np.ndarray:
        """The box `detect` would give around a face with these landmarks."""

    def nudged(self, image: np.ndarray, lmk: np.ndarray, dx: float, dy: float, grow: float) -> np.ndarray:
        """(68, 2) one fit from the start `lmk` gives, shifted by (dx, dy) of its side and grown
        by `grow` (stccl.face.spread)."""


def check_image(image: np.ndarray) -> np.ndarray:
    """`image` if it is RGB uint8 (H, W, 3) or grey uint8 (H, W) (the edit tracks on the luma
    plane); InputError otherwise."""
    if (
        not isinstance(image, np.ndarray)
        or image.dtype != np.uint8
        or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3))
    ):
        got = image.shape if isinstance(image, np.ndarray) else type(image).__name__
        raise InputError(f"expected an RGB (H, W, 3) or grey (H, W) uint8 image, got {got}")
    return image


def to_gray(image: np.ndarray) -> np.ndarray:
    """Grey uint8 (H, W) of an RGB or grey image; a video-range luma plane
    (stccl.video.yuv.VideoLuma) is stretched to full range."""
    image = check_image(image)
    if image.ndim == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if isinstance(image, VideoLuma):
        return grey(image)
    return np.ascontiguousarray(image)


def confidence(margin) -> np.ndarray:
    """A detector's margin (an SVM's, >= 0, unbounded) as a confidence in [0, 1): m / (1 + m)."""
    m = np.maximum(np.asarray(margin, np.float32), 0.0)
    return m / (1.0 + m)


def yuv_view(backend: Backend, matrix: str | None) -> str | None:
    """How `backend` can track on a yuv420p frame: "luma" (the luma plane alone), "planes" (the
    luma plane carrying its chroma, converted only where it reads colour, by `matrix`:
    stccl.video.yuv.rgb_matrix, which is None for colours it does not convert as ffmpeg does),
    or None (it needs RGB frames)."""
    if backend.caps.reads == "luma":
        return "luma"
    if backend.caps.reads == "planes" and matrix is not None:
        return "planes"
    return None


class BaseBackend:
    """The detection and follow policies tuned on dlib; subclasses give `name`, `caps`,
    `detect`, `detect_turned` and `landmarks`, and override a policy where it does not fit."""

    name: str
    caps: TrackerCaps
    view_offset: np.ndarray | None = None

    def doubtful(self, boxes: np.ndarray) -> bool:
        """No face found, or only faces less sure than `caps.weak`: the slower detector should look."""
        return len(boxes) == 0 or float(boxes[:, 4].max()) < self.caps.weak

    def find_faces(self, image: np.ndarray, max_side: int = 480, upsample: int | None = None,
                   turned: Callable[[], np.ndarray] | None = None) -> np.ndarray:
        """`detect`; where that is doubtful, `turned()` (the caller's search with the slower
        detector) when given, whose faces replace the doubtful ones if it finds any. Largest first."""
        found = self.detect(image, max_side=max_side, upsample=upsample)
        if turned is not None and self.doubtful(found):
            other = turned()
            found = other if len(other) else found
        return _boxes.largest_first(found)

    def fit(self, image: np.ndarray, box: Sequence[float]) -> Follow:
        """`landmarks`, fitted twice: the second time from the box of the first fit, so that
        boxes of either detector give the same fit."""
        lmk = self.landmarks(image, box)
        return Follow(self.landmarks(image, self.box_from_landmarks(lmk)))

    def follow(self, image: np.ndarray, previous: np.ndarray) -> Follow:
        """A fit from the box of `previous`, redone from its own box when that lies more than
        `_MOVED` of a side away: the fit depends on its start box, and from one this far off it
        can settle on another mouth (d12's fast head roll: a wide-open one read closed)."""
        box = self.box_from_landmarks(previous)
        lmk = self.landmarks(image, box)
        fitted = self.box_from_landmarks(lmk)
        if _boxes.moved(box, fitted) <= _MOVED:
            return Follow(lmk, box=fitted)
        lmk = self.landmarks(image, fitted)
        return Follow(lmk, refitted=True, box=self.box_from_landmarks(lmk))

    def box_from_landmarks(self, lmk: np.ndarray) -> np.ndarray:
        return _boxes.box_from_landmarks(lmk)

    def nudged(self, image: np.ndarray, lmk: np.ndarray, dx: float, dy: float, grow: float) -> np.ndarray:
        """A fit from the box of `lmk` moved by (dx, dy) of its side and grown by `grow`."""
        box = np.asarray(self.box_from_landmarks(lmk), np.float64)
        centre, side = (box[:2] + box[2:]) / 2, float(np.mean(box[2:] - box[:2]))
        c, half = centre + np.array([dx, dy]) * side, side * (1 + grow) / 2
        return self.landmarks(image, np.r_[c - half, c + half])
