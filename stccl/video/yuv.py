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
    (stccl.face.backend.to_gray) stretch it to full range, and only the pixels they read.

    A whole frame's luma made with a `matrix` (`luma(..., matrix=)`) also carries its chroma:
    `colour` is (U, V, matrix), from which a tracker that needs colour converts only the pixels
    it reads (stccl.face.pixels). A region cut from it carries none (None)."""

    colour: tuple[np.ndarray, np.ndarray, str] | None = None


def luma(frame: np.ndarray, width: int, height: int, matrix: str | None = None) -> VideoLuma:
    """The luma plane of a flat yuv420p frame, as the grey image a tracker reads (a view);
    with `matrix` (rgb_matrix), carrying the chroma planes as its `colour`."""
    y, u, v = planes(frame, width, height)
    out = y.view(VideoLuma)
    if matrix is not None:
        out.colour = (u, v, matrix)
    return out


def grey(y: np.ndarray) -> np.ndarray:
    """The luma plane (video range, 16-235) stretched to the full 0-255 range of an RGB-to-grey
    conversion, which is what the face detectors and the landmark predictor were trained on."""
    global _LUT
    import cv2

    if _LUT is None:
        _LUT = np.clip(np.round((np.arange(256) - 16) * 255 / 219), 0, 255).astype(np.uint8)
    return cv2.LUT(np.ascontiguousarray(y).view(np.ndarray), _LUT)


def chroma_map(M: np.ndarray) -> np.ndarray:
    """The (2, 3) map from chroma samples to the output of a map M from luma pixels: chroma
    sample (i, j) covers luma pixels 2i..2i+1, 2j..2j+1, so its centre is luma (2i + 0.5, 2j + 0.5)."""
    M = np.asarray(M, np.float64)
    half = M.copy()
    half[:, :2] *= 2.0
    half[:, 2] += 0.5 * M[:, :2].sum(1)
    return half


def rotate(frame: np.ndarray, width: int, height: int, k: int) -> np.ndarray:
    """A flat yuv420p frame (width x height) turned k quarter turns counter-clockwise
    (np.rot90), as a new flat frame."""
    return np.concatenate([np.rot90(p, k).ravel() for p in planes(frame, width, height)])


def _yuv_to_rgb(kr: float, kb: float) -> np.ndarray:
    """(3, 4) rows R, G, B over video-range (Y, U, V, 1)."""
    kg = 1.0 - kr - kb
    ys, cs = 255 / 219, 255 / 224
    m = np.array([[ys, 0.0, 2 * (1 - kr) * cs],
                  [ys, -2 * (1 - kb) * kb / kg * cs, -2 * (1 - kr) * kr / kg * cs],
                  [ys, 2 * (1 - kb) * cs, 0.0]])
    return np.hstack([m, (-m @ np.array([16.0, 128.0, 128.0]))[:, None]])


# the matrices of ffmpeg's own yuv -> rgb24 conversion: BT.709 where the input says so, BT.601
# where it says smpte170m / bt470bg or says nothing
_TO_RGB = {"bt709": _yuv_to_rgb(0.2126, 0.0722), "bt601": _yuv_to_rgb(0.299, 0.114)}
_SPACES = {None: "bt601", "smpte170m": "bt601", "bt470bg": "bt601", "bt709": "bt709"}


def rgb_matrix(colour) -> str | None:
    """The matrix ("bt601" or "bt709") that turns this input's video-range 8-bit yuv into the
    RGB that ffmpeg's rgb24 output gives, or None where this module does not do it the same
    way (full range, BT.2020, more than 8 bits: read RGB from ffmpeg instead)."""
    if colour.range not in (None, "tv") or colour.depth != 8:
        return None
    return _SPACES.get(colour.space)


def to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray, matrix: str) -> np.ndarray:
    """RGB uint8 (H, W, 3) of video-range planes of one size (H, W), by `matrix` (rgb_matrix).
    Within about a grey level of ffmpeg's own conversion (it truncates where this rounds)."""
    import cv2

    return cv2.transform(cv2.merge([y, u, v]), _TO_RGB[matrix])
