"""Frames in ffmpeg's own yuv420p, as the edit carries them from decoder to encoder.

A frame is one flat uint8 buffer laid out as ffmpeg's rawvideo writes it: the luma plane Y
(H, W), then the chroma planes U and V (H/2, W/2). Width and height must be even. Keeping
frames in this form spares both pipes a colour conversion (and half their bytes): the warp
engine moves the planes themselves, and the tracker reads the luma plane.
"""

from __future__ import annotations

import numpy as np

_LUT = None


def frame_size(width: int, height: int) -> int:
    """Bytes of one yuv420p frame."""
    return width * height * 3 // 2


def fits(width: int, height: int) -> bool:
    """Whether frames of this size can be carried as yuv420p (both sides even)."""
    return width % 2 == 0 and height % 2 == 0


def planes(frame: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views Y (H, W), U and V (H/2, W/2) into a flat yuv420p `frame`."""
    n, q = width * height, width * height // 4
    y = frame[:n].reshape(height, width)
    u = frame[n:n + q].reshape(height // 2, width // 2)
    v = frame[n + q:n + 2 * q].reshape(height // 2, width // 2)
    return y, u, v


class VideoLuma(np.ndarray):
    """A luma plane (or a region of one) in video range, 16-235. Grey conversions that see one
    (stccl.face.backends.to_gray) stretch it to full range, and only the pixels they read."""


def grey(y: np.ndarray) -> np.ndarray:
    """The luma plane (video range, 16-235) stretched to the full 0-255 range of an RGB-to-grey
    conversion, which is what the face detectors and the landmark predictor were trained on."""
    global _LUT
    import cv2

    if _LUT is None:
        _LUT = np.clip(np.round((np.arange(256) - 16) * 255 / 219), 0, 255).astype(np.uint8)
    return cv2.LUT(np.ascontiguousarray(y).view(np.ndarray), _LUT)


def rotate(frame: np.ndarray, width: int, height: int, k: int) -> np.ndarray:
    """A flat yuv420p frame (width x height) turned k quarter turns counter-clockwise
    (np.rot90), as a new flat frame."""
    return np.concatenate([np.rot90(p, k).ravel() for p in planes(frame, width, height)])
