"""The `mesh` tracker: MediaPipe's 468-point face mesh and BlazeFace detector, run without
mediapipe (stccl.face.tflite), from model files inside the package (stccl/face/data/mesh).

It tracks as the mesh is meant to be used. A face found by the detector is fitted on a square
crop 1.5x its box, then refitted on the crop its own points give; each later frame is fitted
on the crop made from the previous frame's points, rotated so the eyes are level, and the
model's face-presence score says when the tracker should detect again. Small faces in wide
frames, which the short-range detector misses, are looked for by the full-range detector
(dlib's CNN detector where the runtime cannot run it).

Everything built on landmarks reads the 68-point iBUG view (stccl.face.mesh_map); the 468
points in 3D (image pixels, z scaled like x) travel beside it (`Follow.dense`).

It reads colour only in its crops and letterboxes (stccl.face.pixels), so the edit can give it
the planes of a yuv420p frame and only those pixels are converted (registry: reads "planes").
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from functools import cached_property
from importlib import resources
from pathlib import Path

import numpy as np

from ..registry import TRACKERS
from . import boxes as _boxes
from . import pixels
from .backend import BaseBackend, Follow, check_image
from .align import invert
from .blazeface import FULL, SHORT, BlazeFace
from .mesh_map import ibug68
from .tflite import TfliteModel, model_path

LANDMARK_FILE = "face_landmark.tflite"
CROP = 192  # the landmark model's input side
ROI_SCALE = 1.5  # crop side / face extent (MediaPipe's face_landmark graphs)
EYES = (33, 263)  # the right eye's outer corner -> the left's: the crop's rotation
IBUG_EYES = (36, 45)  # the same corners in the iBUG view
# the crop from the 68-point view (brows to chin) that matches the one from all 468 points
# (forehead to chin): its side over the 68 points' eye-aligned extent, and its centre's shift
# up the face, in those sides (medians over frames of W009, W036, M026, d12, d20, s18)
_ROI_FROM_68 = {"scale": 1.835, "up": 0.122}
# BlazeFace's box around the 68-point view (as boxes.box_from_landmarks does for dlib's HOG)
_BOX_FROM_68 = {"scale": 1.135, "y_shift": -0.047}


def build(device: str = "auto", weights: Path | None = None) -> "MeshBackend":
    """The registry's factory (the models are package data; they run on the CPU)."""
    return MeshBackend()


def crop_matrix(centre: np.ndarray, side: float, angle: float) -> np.ndarray:
    """(2, 3) image -> crop: the square of `side` about `centre`, turned by `angle` (radians,
    image y down, positive turns the crop's x axis towards the image's y), to CROP²."""
    c, s = math.cos(angle), math.sin(angle)
    k = CROP / side
    R = np.array([[c, s], [-s, c]]) * k
    t = CROP / 2 - R @ np.asarray(centre, np.float64)
    return np.hstack([R, t[:, None]])


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    d = np.asarray(b, np.float64) - np.asarray(a, np.float64)
    return math.atan2(d[1], d[0])


def roi_from_mesh(dense: np.ndarray) -> tuple[np.ndarray, float, float]:
    """MediaPipe's crop for the next frame: centre of the points' box, 1.5x its long side,
    turned so that the eye corners lie level."""
    xy = dense[:, :2]
    lo, hi = xy.min(0), xy.max(0)
    return (lo + hi) / 2, ROI_SCALE * float((hi - lo).max()), _angle(xy[EYES[0]], xy[EYES[1]])


def roi_from_68(lmk: np.ndarray) -> tuple[np.ndarray, float, float]:
    """The crop `roi_from_mesh` would give, from the 68-point view alone."""
    lmk = np.asarray(lmk, np.float64)
    angle = _angle(lmk[IBUG_EYES[0]], lmk[IBUG_EYES[1]])
    c, s = math.cos(angle), math.sin(angle)
    R = np.array([[c, s], [-s, c]])  # image -> eye-level frame
    level = lmk @ R.T
    lo, hi = level.min(0), level.max(0)
    extent = float((hi - lo).max())
    centre = (lo + hi) / 2 - np.array([0.0, _ROI_FROM_68["up"] * extent])
    return centre @ R, _ROI_FROM_68["scale"] * extent, angle


class MeshBackend(BaseBackend):
    """BlazeFace + the 468-point face mesh, with its 68-point iBUG view."""

    name = "mesh"
    caps = TRACKERS["mesh"].caps

    @cached_property
    def view_offset(self) -> np.ndarray:
        """The 68-point view's offset from dlib's (stccl/face/data/mesh_view.json)."""
        data = json.loads((resources.files("stccl.face") / "data" / "mesh_view.json").read_text())
        return np.asarray(data["offset"], np.float64)

    def __init__(self) -> None:
        self._mesh = TfliteModel(model_path(LANDMARK_FILE))
        self._short = BlazeFace(SHORT)
        self._far = None  # the detector for small and turned faces, on first use

    # detection ---------------------------------------------------------------------------
    def detect(self, image: np.ndarray, max_side: int = 480, upsample: int | None = None) -> np.ndarray:
        """BlazeFace short range (it sees the frame at 128², so `max_side` and `upsample` do not apply)."""
        return _boxes.largest_first(self._short(check_image(image))[0])

    def detect_turned(self, image: np.ndarray, max_side: int = 320) -> np.ndarray:
        """The full-range BlazeFace (small faces in wide frames) under LiteRT; under OpenCV,
        which cannot run it, dlib's CNN detector."""
        if self._far is None:
            if self._mesh.runtime == "litert":
                self._far = BlazeFace(FULL)
            else:
                from .dlib_backend import CnnDetector

                self._far = CnnDetector()
        check_image(image)
        if isinstance(self._far, BlazeFace):
            return _boxes.largest_first(self._far(image)[0])
        return _boxes.largest_first(self._far(pixels.rgb(image), max_side))

    # fitting -----------------------------------------------------------------------------
    def fit_crop(self, image: np.ndarray, centre, side: float, angle: float) -> tuple[np.ndarray, float]:
        """The mesh (468, 3) in image pixels fitted on the crop, and the face-presence score."""
        M = crop_matrix(centre, side, angle)
        crop = pixels.warped(image, M, (CROP, CROP))
        points, logit = self._mesh(crop[None].astype(np.float32) / 255.0)
        pts = points.reshape(468, 3).astype(np.float64)
        back = invert(M)  # crop -> image
        xy = pts[:, :2] @ back[:, :2].T + back[:, 2]
        z = pts[:, 2] * side / CROP
        presence = 1.0 / (1.0 + math.exp(-float(np.clip(logit.reshape(-1)[0], -60, 60))))
        return np.column_stack([xy, z]).astype(np.float32), presence

    def fit(self, image: np.ndarray, box: Sequence[float]) -> Follow:
        """From a detection box: a fit on the crop 1.5x the box, then on the crop its points give."""
        x0, y0, x1, y1 = (float(v) for v in box[:4])
        centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
        dense, _ = self.fit_crop(image, centre, ROI_SCALE * max(x1 - x0, y1 - y0), 0.0)
        return self._follow(*self.fit_crop(image, *roi_from_mesh(dense)))

    def landmarks(self, image: np.ndarray, box: Sequence[float]) -> np.ndarray:
        return self.fit(image, box).landmarks

    def follow(self, image: np.ndarray, previous: np.ndarray) -> Follow:
        return self._follow(*self.fit_crop(image, *roi_from_68(previous)))

    def _follow(self, dense: np.ndarray, presence: float) -> Follow:
        lmk = ibug68(dense[:, :2])
        return Follow(lmk, presence=presence, box=self.box_from_landmarks(lmk), dense=dense)

    def box_from_landmarks(self, lmk: np.ndarray) -> np.ndarray:
        return _boxes.box_from_landmarks(lmk, _BOX_FROM_68["scale"], _BOX_FROM_68["y_shift"])

    def nudged(self, image: np.ndarray, lmk: np.ndarray, dx: float, dy: float, grow: float) -> np.ndarray:
        """One fit on the crop `follow` would use, shifted by (dx, dy) of the face's extent
        (the crop's side / ROI_SCALE) along the crop's axes and grown by `grow`."""
        centre, side, angle = roi_from_68(lmk)
        c, s = math.cos(angle), math.sin(angle)
        shift = np.array([[c, -s], [s, c]]) @ np.array([dx, dy]) * side / ROI_SCALE
        dense, _ = self.fit_crop(image, centre + shift, side * (1 + grow), angle)
        return ibug68(dense[:, :2])
