"""Similarity alignment of a face to a canonical template, and paste-back.

M is a (2, 3) image->crop affine matrix with no shear and no reflection: crop = M @ [x, y, 1].
The anchors are the two eye centres and the midpoint of the outer mouth corners (48, 54),
which stays put when the jaw opens during speech.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..config import AlignConfig
from ..video import yuv
from .smooth import OneEuro

# Template in fractions of the crop side: eyes 0.25 apart at y=0.35, mouth-corner midpoint
# 1.13 inter-ocular distances below them (the mean over the shared real clips). On those clips
# this keeps brows to chin, mouth wide open included, inside the crop with a margin.
_EYE_Y = 0.35
_IOD = 0.25
_MOUTH_Y = _EYE_Y + 1.13 * _IOD
TEMPLATE = np.array([[0.5 - _IOD / 2, _EYE_Y], [0.5 + _IOD / 2, _EYE_Y], [0.5, _MOUTH_Y]])

_ALIGN = AlignConfig()


def anchors(lmk: np.ndarray) -> np.ndarray:
    """(3, 2) alignment anchors of (68, 2) landmarks: left eye, right eye, mouth-corner midpoint."""
    lmk = np.asarray(lmk, np.float64)
    return np.stack([lmk[36:42].mean(0), lmk[42:48].mean(0), (lmk[48] + lmk[54]) / 2])


def template(size: int = 256) -> np.ndarray:
    """(3, 2) canonical positions of the anchors, in crop pixels (pixel centres at integers)."""
    return TEMPLATE * size - 0.5


def fit_similarity(
    src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    """Weighted least-squares similarity (rotation, uniform scale, translation) src -> dst.

    The same solution as Umeyama's, written with complex numbers: z_dst ~ a * z_src + b.
    """
    zs = src[:, 0] + 1j * src[:, 1]
    zd = dst[:, 0] + 1j * dst[:, 1]
    w = np.ones(len(zs)) if weights is None else np.asarray(weights, np.float64)
    w = w / w.sum()
    ms, md = (w * zs).sum(), (w * zd).sum()
    cs, cd = zs - ms, zd - md
    a = (w * np.conj(cs) * cd).sum() / max((w * np.abs(cs) ** 2).sum(), 1e-12)
    b = md - a * ms
    return np.array([[a.real, -a.imag, b.real], [a.imag, a.real, b.imag]])


def similarity_from_landmarks(lmk68: np.ndarray, size: int = 256) -> np.ndarray:
    """(2, 3) image->crop similarity that puts the anchors of `lmk68` on the template."""
    return fit_similarity(anchors(lmk68), template(size))


def invert(M: np.ndarray) -> np.ndarray:
    """Inverse of a (2, 3) affine matrix (crop->image for an image->crop M)."""
    A_inv = np.linalg.inv(np.asarray(M, np.float64)[:, :2])
    return np.hstack([A_inv, -A_inv @ np.asarray(M, np.float64)[:, 2:]])


def transform_landmarks(lmk: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine matrix to points of shape (..., 2)."""
    M = np.asarray(M, np.float64)
    return np.asarray(lmk, np.float64) @ M[:, :2].T + M[:, 2]


def warp_to_crop(frame: np.ndarray, M: np.ndarray, size: int = 256) -> np.ndarray:
    """(size, size, C) crop of `frame` through the image->crop matrix M.

    When M shrinks the face by more than 2x, the face region is first reduced with an image
    pyramid (cv2.pyrDown), so the crop is not aliased.
    """
    M = np.asarray(M, np.float64).copy()
    scale = float(np.sqrt(abs(np.linalg.det(M[:, :2]))))
    if scale < 0.5:
        frame, M = _pyramid_roi(frame, M, size, scale)
    return cv2.warpAffine(frame, M, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def warp_to_crop_yuv(frame: np.ndarray, width: int, height: int, M: np.ndarray, size: int,
                     matrix: str) -> np.ndarray:
    """warp_to_crop for a flat yuv420p frame (stccl.video.yuv): RGB (size, size, 3), each plane
    warped on its own and only the crop's pixels converted (`matrix`: yuv.rgb_matrix). Chroma
    sample (i, j) covers luma pixels 2i..2i+1, 2j..2j+1; its centre is luma (2i + 0.5, 2j + 0.5)."""
    y, u, v = yuv.planes(frame, width, height)
    M, half = np.asarray(M, np.float64), yuv.chroma_map(M)
    crops = [warp_to_crop(plane, m, size) for plane, m in ((y, M), (u, half), (v, half))]
    return yuv.to_rgb(*crops, matrix)


def _pyramid_roi(frame: np.ndarray, M: np.ndarray, size: int, scale: float):
    """The crop's footprint in `frame`, pyramid-reduced, and M adjusted to it."""
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64)
    foot = transform_landmarks(corners, invert(M))
    h, w = frame.shape[:2]
    x0, y0 = np.clip(np.floor(foot.min(0)) - 4, 0, [w, h]).astype(int)
    x1, y1 = np.clip(np.ceil(foot.max(0)) + 4, 0, [w, h]).astype(int)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return frame, M
    roi = frame[y0:y1, x0:x1]
    M[:, 2] += M[:, :2] @ np.array([x0, y0], np.float64)
    while scale < 0.5 and min(roi.shape[:2]) >= 16:
        roi = cv2.pyrDown(roi)
        M[:, :2] *= 2.0  # pyrDown's output pixel i is centred on input pixel 2i
        scale *= 2.0
    return roi, M


def feather_mask(size: int, feather: float = 0.06) -> np.ndarray:
    """(size, size) float32 mask: 1 inside, falling smoothly to 0 over `feather` x size at the edges."""
    ramp = max(feather * size, 1.0)
    d = np.minimum(np.arange(size), np.arange(size)[::-1]) + 0.5
    edge = np.clip(d / ramp, 0.0, 1.0)
    edge = 0.5 - 0.5 * np.cos(np.pi * edge)
    return np.outer(edge, edge).astype(np.float32)


def paste_back(
    frame: np.ndarray, crop: np.ndarray, M: np.ndarray, mask: np.ndarray | None = None
) -> np.ndarray:
    """Blend `crop` (made with image->crop M) back into a copy of the uint8 `frame`.

    `mask` is in crop coordinates, (size, size) float in [0, 1] or uint8 in [0, 255];
    by default the whole crop with feathered edges.
    """
    size = crop.shape[0]
    if mask is None:
        mask = feather_mask(size)
    elif mask.dtype == np.uint8:
        mask = mask.astype(np.float32) / 255.0
    mask = np.asarray(mask, np.float32).reshape(size, size)
    Minv = invert(M)
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = _crop_footprint(Minv, size, w, h)
    out = frame.copy()
    if x1 <= x0 or y1 <= y0:
        return out
    shift = Minv.copy()
    shift[:, 2] -= (x0, y0)
    dsize = (x1 - x0, y1 - y0)
    patch = cv2.warpAffine(
        crop, shift, dsize, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    alpha = cv2.warpAffine(
        mask, shift, dsize, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    if patch.ndim == 3:
        alpha = alpha[..., None]
    region = out[y0:y1, x0:x1].astype(np.float32)
    blended = region + alpha * (patch.astype(np.float32) - region)
    out[y0:y1, x0:x1] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return out


def _crop_footprint(Minv: np.ndarray, size: int, w: int, h: int) -> tuple[int, int, int, int]:
    """Integer frame box covering the crop square mapped through crop->image Minv, clipped."""
    corners = transform_landmarks(
        np.array([[-1, -1], [size, -1], [-1, size], [size, size]], float), Minv
    )
    x0, y0 = np.floor(corners.min(0)).astype(int)
    x1, y1 = np.ceil(corners.max(0)).astype(int) + 1
    return max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)


def similarity_params(M: np.ndarray, size: int) -> np.ndarray:
    """(log scale, angle, cx, cy): cx, cy = the image point that lands on the crop centre."""
    M = np.asarray(M, np.float64)
    scale = math.hypot(M[0, 0], M[1, 0])
    angle = math.atan2(M[1, 0], M[0, 0])
    c = transform_landmarks(np.full(2, (size - 1) / 2), invert(M))
    return np.array([math.log(scale), angle, c[0], c[1]])


def similarity_from_params(p: np.ndarray, size: int) -> np.ndarray:
    log_scale, angle, cx, cy = p
    s = math.exp(log_scale)
    A = s * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    t = np.full(2, (size - 1) / 2) - A @ np.array([cx, cy])
    return np.hstack([A, t[:, None]])


class SimilaritySmoother:
    """One-Euro smoothing of image->crop similarities over time: `smoother(M) -> M`.

    Works on (log scale, angle, face centre); the centre is measured in units of the crop's
    extent in the image (fixed at the first frame after a reset), so `beta` does not depend
    on the resolution. A jump larger than `cut` in those units (a cut) restarts the filter.
    """

    cut = 0.15

    def __init__(
        self,
        fps: float,
        size: int = _ALIGN.size,
        min_cutoff: float = _ALIGN.min_cutoff,
        beta: float = _ALIGN.beta,
    ) -> None:
        self.size = size
        self._filter = OneEuro(fps, min_cutoff, beta)
        self._unit: float | None = None
        self._last: np.ndarray | None = None

    @classmethod
    def from_config(cls, fps: float, cfg: AlignConfig) -> SimilaritySmoother:
        return cls(fps, cfg.size, cfg.min_cutoff, cfg.beta)

    def reset(self) -> None:
        self._filter.reset()
        self._unit = None
        self._last = None

    def __call__(self, M: np.ndarray) -> np.ndarray:
        p = similarity_params(M, self.size)
        if self._last is not None:
            p[1] = self._last[1] + _wrap(p[1] - self._last[1])
            if self._jumped(p):
                self.reset()
        if self._unit is None:
            self._unit = self.size / math.exp(p[0])
        self._last = p
        q = p / np.array([1.0, 1.0, self._unit, self._unit])
        smooth = self._filter(q) * np.array([1.0, 1.0, self._unit, self._unit])
        return similarity_from_params(smooth, self.size)

    def _jumped(self, p: np.ndarray) -> bool:
        moved = np.linalg.norm(p[2:] - self._last[2:]) / self._unit
        return bool(moved > self.cut or abs(p[0] - self._last[0]) > self.cut)


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi
