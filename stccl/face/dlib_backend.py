"""The `dlib` tracker: dlib's HOG detector and 68-point shape predictor, and its MMOD CNN
detector for turned faces, all shipped in `face_recognition_models` (CPU, offline).

The CNN detector finds turned and profile faces that HOG misses. It is ~20x slower, so the
tracker runs it only where HOG found nothing or only doubtful faces, on a small image. dlib's
detectors give SVM margins; they leave here as confidences in [0, 1] (`confidence`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ..errors import WeightsError
from ..registry import TRACKERS
from .backend import BaseBackend, check_image, confidence, to_gray

DLIB_PREDICTOR = "shape_predictor_68_face_landmarks.dat"
DLIB_CNN = "mmod_human_face_detector.dat"


def build(device: str = "auto", weights: Path | None = None) -> "DlibBackend":
    """The registry's factory (dlib needs no device and finds its own models)."""
    return DlibBackend()


class HogDetector:
    """dlib's frontal HOG detector on a downscaled copy of the frame."""

    def __init__(self) -> None:
        import dlib

        self._detector = dlib.get_frontal_face_detector()

    def __call__(
        self, image: np.ndarray, max_side: int = 480, upsample: int | None = None
    ) -> np.ndarray:
        """`upsample=None` tries 0 and, when nothing is found, 1 (small faces)."""
        gray = to_gray(image)
        scale = min(1.0, max_side / max(gray.shape[:2]))
        if scale < 1.0:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        for up in (0, 1) if upsample is None else (upsample,):
            rects, scores, _ = self._detector.run(gray, up, 0.0)
            if len(rects):
                break
        boxes = [[r.left(), r.top(), r.right() + 1, r.bottom() + 1] for r in rects]
        out = np.zeros((len(boxes), 5), np.float32)
        if boxes:
            out[:, :4] = np.asarray(boxes, np.float32) / scale
            out[:, 4] = confidence(scores)
        return out


def dlib_model_path(name: str = DLIB_PREDICTOR) -> Path:
    """A model file shipped in face_recognition_models (the 68-point predictor by default)."""
    # importing face_recognition_models needs pkg_resources, so only locate it
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise WeightsError(
            "the dlib face models need the package face_recognition_models (pip install face_recognition_models)"
        )
    path = Path(spec.origin).parent / "models" / name
    if not path.is_file():
        raise WeightsError(f"{name} is missing from {path.parent}; reinstall face_recognition_models")
    return path


def dlib_predictor_path() -> Path:
    return dlib_model_path(DLIB_PREDICTOR)


# MMOD box -> HOG box: centre shift and size ratio, in MMOD box sides, so that the landmark
# predictor, trained on HOG-like boxes, gets the box it expects. Medians over 83 frames of 7
# shared clips (MEAD, d12, d20, s18, LRS3, mead-pairs) where both detectors found one face;
# checked in tests/test_face_backends.py
_CNN_TO_HOG = {"dx": 0.05, "dy": 0.10, "scale": 0.9}


class CnnDetector:
    """dlib's MMOD CNN face detector, on a copy downscaled to `max_side`. It finds faces
    down to ~80 px at that scale, frontal to profile; it costs ~0.3 s on a 224² image on CPU."""

    def __init__(self, path: str | Path | None = None) -> None:
        import dlib

        self._detector = dlib.cnn_face_detection_model_v1(str(path or dlib_model_path(DLIB_CNN)))

    def __call__(self, image: np.ndarray, max_side: int = 320) -> np.ndarray:
        check_image(image)
        scale = min(1.0, max_side / max(image.shape[:2]))
        small = image
        if scale < 1.0:
            small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        found = self._detector(np.ascontiguousarray(small), 0)
        out = np.zeros((len(found), 5), np.float32)
        for i, d in enumerate(found):
            r = d.rect
            x0, y0, x1, y1 = r.left(), r.top(), r.right() + 1, r.bottom() + 1
            side = ((x1 - x0) + (y1 - y0)) / 2
            cx = (x0 + x1) / 2 + _CNN_TO_HOG["dx"] * side
            cy = (y0 + y1) / 2 + _CNN_TO_HOG["dy"] * side
            half = _CNN_TO_HOG["scale"] * side / 2
            out[i] = (cx - half, cy - half, cx + half, cy + half, confidence(d.confidence))
        out[:, :4] /= scale
        return out


class HogDetectBackend(BaseBackend):
    """Detection by dlib's HOG detector (`self._hog`), and by its CNN detector for turned faces
    (loaded on first use): the dlib tracker's, and FAN's."""

    _hog: HogDetector
    _cnn: CnnDetector | None = None

    def detect(
        self, image: np.ndarray, max_side: int = 480, upsample: int | None = None
    ) -> np.ndarray:
        return self._hog(image, max_side, upsample)

    def detect_turned(self, image: np.ndarray, max_side: int = 320) -> np.ndarray:
        if self._cnn is None:
            self._cnn = CnnDetector()
        return self._cnn(image, max_side)


class DlibBackend(HogDetectBackend):
    """HOG detector + dlib's 68-point shape predictor (CPU, offline)."""

    name = "dlib"
    caps = TRACKERS["dlib"].caps

    def __init__(self, predictor_path: str | Path | None = None) -> None:
        import dlib

        self._dlib = dlib
        self._predictor = dlib.shape_predictor(str(predictor_path or dlib_predictor_path()))
        self._hog = HogDetector()

    def landmarks(self, image: np.ndarray, box: Sequence[float]) -> np.ndarray:
        check_image(image)
        x0, y0, x1, y1 = (float(v) for v in box[:4])
        # the predictor only reads pixels near the box: convert that region, not the whole frame
        margin = 0.5 * max(x1 - x0, y1 - y0)
        h, w = image.shape[:2]
        cx0, cy0 = max(0, int(x0 - margin)), max(0, int(y0 - margin))
        cx1, cy1 = min(w, int(x1 + margin) + 1), min(h, int(y1 + margin) + 1)
        if cx1 <= cx0 or cy1 <= cy0:
            cx0, cy0, cx1, cy1 = 0, 0, w, h
        gray = to_gray(image[cy0:cy1, cx0:cx1])
        rect = self._dlib.rectangle(
            round(x0) - cx0, round(y0) - cy0, round(x1) - 1 - cx0, round(y1) - 1 - cy0
        )
        shape = self._predictor(gray, rect)
        pts = np.array([(p.x, p.y) for p in shape.parts()], np.float32)
        return pts + np.array([cx0, cy0], np.float32)
