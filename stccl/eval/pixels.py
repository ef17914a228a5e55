"""Pixel metrics of an edit: background preservation outside the face, and temporal flicker inside.

The face region is the edit pipeline's face mask (stccl.edit.paste.face_mask: the landmark hull
with the brows lifted 0.6 IOD for the forehead), feathered a little wider (0.4 IOD instead of
0.3) and taken wherever it is above 0.001, so it holds every pixel an edit may touch. It comes
from INPUT's landmarks, as in the edit pipeline.

- bg_psnr (dB, higher is better): PSNR of RGB over all background pixels of all frames pooled
  (one MSE); identical backgrounds give the cap, 100 dB.
- bg_ssim (0..1, higher is better): SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5,
  K1 0.01, K2 0.03) on BT.601 luma, implemented here with numpy + cv2.GaussianBlur; EDITED's face
  region is first replaced by INPUT's, so windows at the region's border see only background
  changes; the SSIM map is averaged over the background pixels.
- flicker (8-bit levels, 0 = as stable as the input): mean |Y_t - Y_t-1| inside the face region
  of frame t, for EDITED minus the same for INPUT; positive = the edit adds frame-to-frame change.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..edit.paste import face_mask
from ..face.align import transform_landmarks

PSNR_CAP = 100.0
REGION_SIZE = 256


def luma(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


def crop_region(lmk_crop: np.ndarray, size: int) -> np.ndarray:
    """(size, size) bool face region from (68,2) landmarks in crop pixels."""
    return face_mask(lmk_crop, size, grow=0.6, feather=0.4) > 1e-3


def image_region(lmk: np.ndarray, M: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H, W) bool face region from (68,2) image landmarks and the (2,3) image->crop matrix M."""
    mask = face_mask(transform_landmarks(lmk, M), REGION_SIZE, grow=0.6, feather=0.4)
    img = cv2.warpAffine(mask, np.asarray(M, np.float64), (width, height),
                         flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT)
    return img > 1e-3


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """SSIM map of two float32 single-channel images in 0..255 (same shape)."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(x):
        return cv2.GaussianBlur(x, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    mu_a, mu_b = blur(a), blur(b)
    saa = blur(a * a) - mu_a * mu_a
    sbb = blur(b * b) - mu_b * mu_b
    sab = blur(a * b) - mu_a * mu_b
    return ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (saa + sbb + c2))


def psnr(mse: float) -> float:
    """PSNR in dB of 8-bit images from their MSE, capped at PSNR_CAP (identical = the cap)."""
    if not math.isfinite(mse):
        return float("nan")
    if mse <= 255.0 ** 2 * 10 ** (-PSNR_CAP / 10):
        return PSNR_CAP
    return float(10 * math.log10(255.0 ** 2 / mse))


def _box(mask: np.ndarray) -> tuple[slice, slice] | None:
    x, y, w, h = cv2.boundingRect(mask.view(np.uint8))
    return (slice(y, y + h), slice(x, x + w)) if w and h else None


class PixelStats:
    """Accumulates background and flicker statistics over aligned frame pairs."""

    def __init__(self) -> None:
        self.sse = 0.0
        self.bg_values = 0
        self.ssim_sum = 0.0
        self.bg_pixels = 0
        self.flicker_a = 0.0
        self.flicker_b = 0.0
        self.flicker_frames = 0
        self._prev: tuple[np.ndarray, np.ndarray] | None = None

    def add(self, a: np.ndarray, b: np.ndarray, face: np.ndarray | None) -> None:
        """a, b (H,W,3) uint8 RGB (INPUT, EDITED); face (H,W) bool, None when INPUT has no face."""
        if face is None:
            self._prev = None
            return
        ya, yb = luma(a), luma(b)
        bg = (~face).view(np.uint8)
        n = cv2.countNonZero(bg)
        if n:
            self.sse += float(cv2.norm(a, b, cv2.NORM_L2SQR, mask=bg))
            self.bg_values += 3 * n
            yb_bg = yb.copy()
            cv2.copyTo(ya, face.view(np.uint8), yb_bg)  # the face made equal: windows at its border
            self.ssim_sum += float(cv2.mean(ssim_map(ya, yb_bg), mask=bg)[0]) * n  # see only background
            self.bg_pixels += n
        if self._prev is not None:
            roi = _box(face)
            if roi is not None:
                pa, pb = self._prev
                inside = face[roi].view(np.uint8)
                self.flicker_a += cv2.mean(cv2.absdiff(ya[roi], pa[roi]), mask=inside)[0]
                self.flicker_b += cv2.mean(cv2.absdiff(yb[roi], pb[roi]), mask=inside)[0]
                self.flicker_frames += 1
        self._prev = (ya, yb)

    def result(self) -> dict[str, float]:
        nan = float("nan")
        fa = self.flicker_a / self.flicker_frames if self.flicker_frames else nan
        fb = self.flicker_b / self.flicker_frames if self.flicker_frames else nan
        return {
            "bg_psnr": psnr(self.sse / self.bg_values) if self.bg_values else nan,
            "bg_ssim": self.ssim_sum / self.bg_pixels if self.bg_pixels else nan,
            "flicker": fb - fa,
            "flicker_input": fa,
            "flicker_edited": fb,
        }
