"""Landmark backends. Every backend gives the 68-point iBUG layout in image coordinates.

- `dlib`: offline default; HOG detector + the 68-point shape predictor that ships inside the
  `face_recognition_models` package.
- Every backend also has `detect_turned`: dlib's MMOD CNN face detector (same package), which
  finds turned and profile faces that HOG misses. It is ~20x slower, so the tracker runs it
  only where HOG found nothing, on a small image.
- `fan`: face-alignment's 2D FAN-4 for landmarks (needs `2DFAN4-11f355bf06.pth.tar`), with
  dlib's HOG detector for detection so that nothing is downloaded.
- `auto`: `fan` when its weights are found, else `dlib`.

Images are RGB uint8 (H, W, 3) or grey uint8 (H, W). Boxes are (x0, y0, x1, y1[, score]) in image pixels.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from ..devices import check_device, resolve_device
from ..errors import InputError, WeightsError
from ..fs import torch_hub_dir
from ..video.yuv import VideoLuma, grey

FAN_WEIGHTS = "2DFAN4-11f355bf06.pth.tar"
DLIB_PREDICTOR = "shape_predictor_68_face_landmarks.dat"
DLIB_CNN = "mmod_human_face_detector.dat"
BACKENDS = ("auto", "fan", "dlib")
# HOG detections scoring below this are doubtful (on a profile face, upsampled HOG fires on
# the chin): where the best one is this weak, the CNN detector is asked too
WEAK_HOG_SCORE = 0.2


def doubtful(boxes: np.ndarray) -> bool:
    """No HOG detection, or only weak ones: the CNN detector should look too."""
    return len(boxes) == 0 or float(boxes[:, 4].max()) < WEAK_HOG_SCORE

# face-alignment's box -> crop convention for detector boxes (see FaceAlignment.get_landmarks_from_image)
_FAN_REFERENCE_SCALE = 195.0
_FAN_CENTER_Y_OFFSET = 0.12


class Backend(Protocol):
    name: str

    def detect(
        self, image: np.ndarray, max_side: int = 480, upsample: int | None = None
    ) -> np.ndarray:
        """Faces in `image` as (K, 5) float32 rows x0, y0, x1, y1, score (image coords).

        Runs on a copy downscaled so its longest side is <= `max_side`; `upsample` is the
        detector's pyramid upsampling (None: 0, then 1 when nothing is found).
        """

    def detect_turned(self, image: np.ndarray, max_side: int = 320) -> np.ndarray:
        """Like `detect`, by the slower CNN detector that also sees turned faces; boxes are
        mapped to the HOG detector's convention."""

    def landmarks(self, image: np.ndarray, box: Sequence[float]) -> np.ndarray:
        """(68, 2) float32 landmarks of the face in `box` (image coords)."""


def check_image(image: np.ndarray) -> np.ndarray:
    """`image` if it is RGB uint8 (H, W, 3) or grey uint8 (H, W) (the edit tracks on the luma
    plane); InputError otherwise."""
    if (
        not isinstance(image, np.ndarray)
        or image.dtype != np.uint8
        or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3))
    ):
        got = getattr(image, "shape", type(image).__name__)
        raise InputError(f"expected an RGB (H, W, 3) or grey (H, W) uint8 image, got {got}")
    return image


def reads_grey(backend) -> bool:
    """Whether the backend reads only grey (dlib: HOG, the CNN and the predictor), so that it
    can track on a luma plane."""
    return getattr(backend, "name", None) == "dlib"


def to_gray(image: np.ndarray) -> np.ndarray:
    """Grey uint8 (H, W) of an RGB or grey image; a video-range luma plane
    (stccl.video.yuv.VideoLuma) is stretched to full range."""
    image = check_image(image)
    if image.ndim == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if isinstance(image, VideoLuma):
        return grey(image)
    return np.ascontiguousarray(image)


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
            out[:, 4] = scores
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
            out[i] = (cx - half, cy - half, cx + half, cy + half, d.confidence)
        out[:, :4] /= scale
        return out


class _HogDetectBackend:
    """Detection by dlib's HOG detector (`self._hog`), and by its CNN detector for turned faces
    (loaded on first use), shared by the dlib and FAN backends."""

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


class DlibBackend(_HogDetectBackend):
    """HOG detector + dlib's 68-point shape predictor (CPU, offline)."""

    name = "dlib"

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


class FanBackend(_HogDetectBackend):
    """face-alignment's 2D FAN-4 landmarks; detection by dlib's HOG detector."""

    name = "fan"

    def __init__(self, weights: str | Path, device: str = "auto", flip_input: bool = True) -> None:
        import torch

        self._torch = torch
        self.device = resolve_device(device)
        self.flip_input = flip_input
        self.net = load_fan(Path(weights), self.device)
        self._hog = HogDetector()

    def landmarks(self, image: np.ndarray, box: Sequence[float]) -> np.ndarray:
        from face_alignment.utils import crop, flip, get_preds_fromhm

        torch = self._torch
        if check_image(image).ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        center, scale = fan_center_scale(box)
        patch = crop(image, center, scale).transpose(2, 0, 1).astype(np.float32) / 255.0
        x = torch.from_numpy(patch)[None].to(self.device)
        with torch.inference_mode():
            hm = self.net(x)[-1]
            if self.flip_input:
                hm = hm + flip(self.net(flip(x))[-1], is_label=True)
        heat = hm.float().cpu().numpy()
        preds, _, _ = get_preds_fromhm(heat)
        return heatmap_to_image(preds[0], center, scale, heat.shape[-1])


def fan_center_scale(box: Sequence[float]) -> tuple[np.ndarray, float]:
    x0, y0, x1, y1 = (float(v) for v in box[:4])
    center = np.array([(x0 + x1) / 2.0, (y0 + y1) / 2.0 - (y1 - y0) * _FAN_CENTER_Y_OFFSET])
    return center, (x1 - x0 + y1 - y0) / _FAN_REFERENCE_SCALE


def heatmap_to_image(
    preds: np.ndarray, center: np.ndarray, scale: float, resolution: int
) -> np.ndarray:
    # the float inverse of face_alignment.utils.transform_np (which rounds to integer pixels)
    h = 200.0 * scale
    return ((preds / resolution - 0.5) * h + center).astype(np.float32)


def fan_search_dirs(weights_dir: str | Path | None = None) -> list[Path]:
    """Folders searched for the FAN weights, first hit wins."""
    dirs = [Path(weights_dir)] if weights_dir else []
    dirs.append(Path("weights").absolute())
    if os.environ.get("STCCL_WEIGHTS"):
        dirs.append(Path(os.environ["STCCL_WEIGHTS"]))
    dirs.append(torch_hub_dir() / "checkpoints")
    return dirs


def fan_weights_path(weights_dir: str | Path | None = None) -> Path | None:
    for d in fan_search_dirs(weights_dir):
        if (d / FAN_WEIGHTS).is_file():
            return d / FAN_WEIGHTS
    return None


def load_fan(path: Path, device: str):
    import torch
    from face_alignment.models import FAN

    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except (OSError, RuntimeError, ValueError, EOFError) as e:
        raise WeightsError(
            f"cannot load FAN weights {path}: {' '.join(str(e).split())[:200]}"
        ) from None
    if not isinstance(state, dict):
        raise WeightsError(f"{path} is not a state dict")
    net = FAN(4)
    own = net.state_dict()
    check_keys(own.keys(), state.keys(), path)
    wrong = [k for k in own if tuple(own[k].shape) != tuple(getattr(state[k], "shape", ()))]
    if wrong:
        k = wrong[0]
        raise WeightsError(f"{path} does not fit FAN-4: {len(wrong)} tensor(s) of another shape (first "
                           f"{k}: FAN-4's {tuple(own[k].shape)}, the file's "
                           f"{tuple(getattr(state[k], 'shape', ()))})")
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise WeightsError(f"{path} does not fit FAN-4: {' '.join(str(e).split())[:300]}") from None
    return net.to(device).eval()


def check_keys(expected, got, path: Path) -> None:
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    if not (missing or unexpected):
        return
    parts = []
    if missing:
        parts.append(f"missing keys {_few(missing)}")
    if unexpected:
        parts.append(f"unexpected keys {_few(unexpected)}")
    raise WeightsError(f"{path} does not fit FAN-4: {'; '.join(parts)}")


def _few(keys: list[str], n: int = 5) -> str:
    more = f" (+{len(keys) - n} more)" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def make_backend(
    name: str = "auto", device: str = "auto", weights_dir: str | Path | None = None
) -> Backend:
    """Build a landmark backend: `auto` (FAN when its weights are found, else dlib), `fan` or `dlib`."""
    if name not in BACKENDS:
        raise InputError(f"unknown tracker {name!r}; use one of {', '.join(BACKENDS)}")
    if name == "dlib":
        return DlibBackend()
    check_device(device)  # the spelling; the device itself only for FAN (dlib needs no torch)
    path = fan_weights_path(weights_dir)
    if path is None:
        if name == "auto":
            return DlibBackend()
        searched = ", ".join(str(d) for d in fan_search_dirs(weights_dir))
        raise WeightsError(
            f"FAN weights not found: put {FAN_WEIGHTS} in one of {searched} (or use --tracker dlib)"
        )
    return FanBackend(path, resolve_device(device))
