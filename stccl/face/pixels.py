"""The RGB pixels a tracker reads, made from an RGB or grey image, or from the planes of a
yuv420p frame, converting only the pixels it reads.

The edit can carry its frames as yuv420p (stccl.video.yuv). A tracker that needs colour only
in crops and small copies (the mesh: its 192² crop, BlazeFace's letterbox; registry `reads =
"planes"`) is then given the frame's luma plane with the chroma planes beside it
(`VideoLuma.colour`), and each crop is made from the planes: every plane warped or resized to
the output on its own, then converted by the input's own matrix (`yuv.to_rgb`, within about a
grey level of ffmpeg's rgb24).
"""

from __future__ import annotations

import cv2
import numpy as np

from ..video import yuv
from ..video.yuv import VideoLuma

_BLACK = (16, 128, 128)  # video-range Y, U, V of RGB black


def _planes(image: np.ndarray):
    """(Y, U, V, matrix) when `image` is a luma plane that carries its colour, else None."""
    if isinstance(image, VideoLuma) and image.colour is not None:
        return (image.view(np.ndarray), *image.colour)
    return None


def _plain_rgb(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 3 else cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_GRAY2RGB)


def rgb(image: np.ndarray) -> np.ndarray:
    """The whole image as RGB (H, W, 3) uint8."""
    p = _planes(image)
    if p is None:
        return _plain_rgb(image)
    y, u, v, matrix = p
    size = (y.shape[1], y.shape[0])
    up = [cv2.resize(c, size, interpolation=cv2.INTER_LINEAR) for c in (u, v)]
    return yuv.to_rgb(y, *up, matrix)


def resized(image: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
    """The whole image resized to `size` (width, height), RGB."""
    p = _planes(image)
    if p is None:
        return _plain_rgb(cv2.resize(image, size, interpolation=interpolation))
    y, u, v, matrix = p
    return yuv.to_rgb(*(cv2.resize(c, size, interpolation=interpolation) for c in (y, u, v)), matrix)


def warped(image: np.ndarray, M: np.ndarray, size: tuple[int, int],
           border: int = cv2.BORDER_CONSTANT) -> np.ndarray:
    """cv2.warpAffine(image, M, size) (bilinear) as RGB; a constant border is black."""
    p = _planes(image)
    if p is None:
        return _plain_rgb(cv2.warpAffine(image, M, size, flags=cv2.INTER_LINEAR, borderMode=border))
    y, u, v, matrix = p
    half = yuv.chroma_map(M)
    out = [cv2.warpAffine(c, m, size, flags=cv2.INTER_LINEAR, borderMode=border, borderValue=black)
           for c, m, black in ((y, M, _BLACK[0]), (u, half, _BLACK[1]), (v, half, _BLACK[2]))]
    return yuv.to_rgb(*out, matrix)


def region(image: np.ndarray, box: tuple[int, int, int, int], pad: tuple[int, int, int, int],
           scale: float) -> np.ndarray:
    """The pixels of `box` (x0, y0, x1, y1, inside the image), padded with black by `pad` (top,
    bottom, left, right) and resized by `scale` (area-averaged when it shrinks): as the image is
    for an RGB or grey one; for planes each plane is padded and resized on its own and only the
    result converted to RGB (the region can be most of a 1080p frame, its result a few hundred
    pixels)."""
    x0, y0, x1, y1 = box
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    p = _planes(image)
    if p is None:
        cut = cv2.copyMakeBorder(image[y0:y1, x0:x1], *pad, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        return cv2.resize(cut, None, fx=scale, fy=scale, interpolation=interpolation)
    y, u, v, matrix = p
    luma = cv2.copyMakeBorder(y[y0:y1, x0:x1], *pad, cv2.BORDER_CONSTANT, value=_BLACK[0])
    luma = cv2.resize(luma, None, fx=scale, fy=scale, interpolation=interpolation)
    size = (luma.shape[1], luma.shape[0])
    half = (y0 // 2, (y1 + 1) // 2, x0 // 2, (x1 + 1) // 2)  # the chroma samples over the box
    chroma = [cv2.resize(cv2.copyMakeBorder(c[half[0]:half[1], half[2]:half[3]], *(k // 2 for k in pad),
                                            cv2.BORDER_CONSTANT, value=black), size, interpolation=interpolation)
              for c, black in ((u, _BLACK[1]), (v, _BLACK[2]))]
    return yuv.to_rgb(luma, *chroma, matrix)
