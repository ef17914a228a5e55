"""Paste an engine's change back into the full-resolution frame.

The motion field is carried from crop to image coordinates and applied to the original frame
with one remap, so the face keeps the frame's own resolution (it is not resampled through the
crop); the colour change is added on top. A feathered mask from the face hull limits both,
so pixels away from the face are exactly unchanged.

The motion field and the mask are smooth, so the sampling map is built on a coarse grid over
the face's box in the frame (one node every few pixels) and enlarged to the box by bilinear
interpolation: the per-pixel work is one resize and one remap, whatever the crop size.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import cv2
import numpy as np

from ..face.align import invert

_BROWS = list(range(17, 27))
_EYES = (slice(36, 42), slice(42, 48))
MASK_SIZE = 96  # side of the mask raster the pipeline pastes with (it is feathered: smooth)
NODE_CROP_PX = 2.0  # crop pixels between nodes of the coarse sampling map, at most
NODE_PX = 8  # frame pixels between nodes, at most


def face_mask(landmarks: np.ndarray, size: int, grow: float = 0.6, feather: float = 0.3,
              raster: int | None = None) -> np.ndarray:
    """(raster, raster) float32 in [0,1] (raster defaults to size): the landmark hull, with the
    brows lifted `grow` IOD to take in the forehead, dilated and feathered over `feather` IOD.
    landmarks: (68,2) in pixels of a size x size crop. Pixel k of the raster lies at crop
    position k * (size - 1) / (raster - 1)."""
    raster = raster or size
    pts = np.asarray(landmarks, np.float64) * ((raster - 1) / (size - 1))
    iod = float(np.linalg.norm(pts[_EYES[1]].mean(0) - pts[_EYES[0]].mean(0))) or raster * 0.25
    up = pts[_EYES[0]].mean(0) - pts[48:60].mean(0)
    up /= np.linalg.norm(up) or 1.0
    lifted = pts[_BROWS] + up * grow * iod
    hull = cv2.convexHull(np.concatenate([pts, lifted]).astype(np.float32))
    mask = np.zeros((raster, raster), np.float32)
    cv2.fillConvexPoly(mask, np.round(hull[:, 0] * 16).astype(np.int32), 1.0, cv2.LINE_AA, 4)
    sigma = max(feather * iod / 2.0, 1.0 if raster == size else 0.5)
    return cv2.GaussianBlur(mask, (0, 0), sigma)


def paste_change(frame: np.ndarray, M: np.ndarray, flow: np.ndarray, delta: np.ndarray | None,
                 mask: np.ndarray, size: int | None = None) -> np.ndarray:
    """`frame` (H,W,3) uint8 with the change applied, in place; returns `frame`.

    M: (2,3) image->crop, for a crop of side `size` (default: the flow's side). flow: (G,G,2)
    backward offsets in crop px, on a grid whose node k lies at crop position
    k * (size - 1) / (G - 1) (G = size: one node a pixel). delta: (size,size,3) colour change
    in [0,1] units, or None. mask: (R,R) float in [0,1], on the same kind of grid over the crop.
    The mask scales the motion itself, so where it is 0 the sampling map is the identity and
    pixels are copied exactly.
    """
    size = size or flow.shape[0]
    h, w = frame.shape[:2]
    motion = _motion(M, flow, mask, size, w, h)
    if motion is None:
        return frame
    x0, y0, x1, y1 = motion.box
    moved = _remap(frame, motion.source, motion.map)
    if delta is not None:
        to_crop = np.asarray(M, np.float64).copy()
        to_crop[:, 2] += to_crop[:, :2] @ np.array([x0, y0], np.float64)  # ROI pixel -> crop
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        change = cv2.warpAffine(delta, to_crop, (x1 - x0, y1 - y0), flags=flags,
                                borderMode=cv2.BORDER_CONSTANT)
        a = cv2.resize(motion.alpha.astype(np.float32), motion.grid, interpolation=cv2.INTER_LINEAR)
        change *= (255.0 * a[: y1 - y0, : x1 - x0])[..., None]
        moved = np.clip(moved + change + 0.5, 0, 255).astype(np.uint8)
    frame[y0:y1, x0:x1] = moved
    return frame


def paste_change_yuv(frame: np.ndarray, width: int, height: int, M: np.ndarray, flow: np.ndarray,
                     mask: np.ndarray, size: int | None = None) -> np.ndarray:
    """paste_change for a flat yuv420p frame (stccl.video.yuv), in place; motion only (no
    colour change). The luma plane moves as an RGB frame would; each chroma sample moves by
    the mean motion of the 2 x 2 luma pixels it covers, halved."""
    from ..video.yuv import planes

    size = size or flow.shape[0]
    motion = _motion(M, flow, mask, size, width, height, even=True)
    if motion is None:
        return frame
    x0, y0, x1, y1 = motion.box
    y, u, v = planes(frame, width, height)
    y[y0:y1, x0:x1] = _remap(y, motion.source, motion.map)
    # all of the box, the source region and the map's shift to it are even: halved, they are
    # the chroma planes' own. Each chroma sample's motion is the mean of its 2 x 2 luma pixels':
    # the coarse map enlarged to half the box (where the box is whole cells) samples it there
    half_size = ((x1 - x0) // 2, (y1 - y0) // 2)
    whole = motion.grid == (x1 - x0, y1 - y0)
    half = cv2.resize(motion.coarse if whole else motion.map, half_size, interpolation=cv2.INTER_LINEAR)
    half *= 0.5
    source = tuple(k // 2 for k in motion.source)
    for plane in (u, v):
        plane[y0 // 2:y1 // 2, x0 // 2:x1 // 2] = _remap(plane, source, half)
    return frame


class _Motion(NamedTuple):
    box: tuple[int, int, int, int]  # the frame region that changes (x0, y0, x1, y1)
    source: tuple[int, int, int, int]  # the frame region its pixels come from (the box and a margin)
    map: np.ndarray  # (y1 - y0, x1 - x0, 2) float32: each box pixel's source, relative to its
    # own place in the box, in the source region's pixels (cv2.WARP_RELATIVE_MAP)
    alpha: np.ndarray  # the mask on the coarse grid
    grid: tuple[int, int]  # the coarse grid's enlarged size
    coarse: np.ndarray  # `map` on the coarse grid (one node a step x step cell)


def _motion(M: np.ndarray, flow: np.ndarray, mask: np.ndarray, size: int, w: int, h: int,
            even: bool = False) -> _Motion | None:
    """The backward motion over the mask's box in the frame, or None when the mask lies off the
    frame. `even`: the box and the source region start and end on even pixels (for yuv420p's
    chroma)."""
    box = _mask_footprint(mask, M, size, w, h)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    if even:
        x0, y0, x1, y1 = x0 - x0 % 2, y0 - y0 % 2, min(x1 + x1 % 2, w), min(y1 + y1 % 2, h)
    to_image = invert(M)
    step = _node_step(to_image, (size - 1) / max(flow.shape[0] - 1, 1))
    # the box grown to whole cells (of even size for `even`) where the frame has room: the
    # enlarged map is then the box's own, with no copy cut from it
    cell = step * 2 // math.gcd(step, 2) if even else step
    x1, y1 = _whole(x0, x1, cell, w), _whole(y0, y1, cell, h)
    # nodes at the centres of step x step cells over the box (cv2.resize's convention), so that
    # enlarging by `step` puts every node back under its own pixel
    cols, rows = -(-(x1 - x0) // step), -(-(y1 - y0) // step)
    node = np.array([[step, 0.0, x0 + 0.5 * step - 0.5], [0.0, step, y0 + 0.5 * step - 0.5], [0, 0, 1]])
    to_crop = np.asarray(M, np.float64) @ node  # node -> crop px
    alpha = _sample(mask, to_crop, size, (cols, rows))
    f = _sample(flow, to_crop, size, (cols, rows))
    f *= alpha[..., None]
    off = cv2.transform(f, to_image[:, :2])  # crop-pixel vectors -> image-pixel vectors
    # the pixels the box reads lie within the largest offset of it (the enlarged map stays
    # within the nodes' range): that region, and the offsets shifted to it on the coarse grid
    reach = int(np.ceil(np.abs(off).max(initial=0.0))) + 2
    reach += reach % 2
    sx0, sy0 = max(x0 - reach, 0), max(y0 - reach, 0)
    source = (sx0, sy0, min(x1 + reach, w), min(y1 + reach, h))
    off += np.array([x0 - sx0, y0 - sy0], np.float32)
    grid = (cols * step, rows * step)
    full = cv2.resize(off, grid, interpolation=cv2.INTER_LINEAR)[: y1 - y0, : x1 - x0]
    return _Motion((x0, y0, x1, y1), source, np.ascontiguousarray(full), alpha, grid, off)


def _whole(lo: int, hi: int, cell: int, limit: int) -> int:
    """`hi` moved up so that hi - lo is whole cells, unless that passes `limit`."""
    grown = lo + -(-(hi - lo) // cell) * cell
    return grown if grown <= limit else hi


def _remap(image: np.ndarray, source: tuple[int, int, int, int], rel: np.ndarray) -> np.ndarray:
    """An image the size of `rel` (h, w, 2): pixel (i, j) is `image`'s source region
    (sx0, sy0, sx1, sy1) sampled at (j, i) + rel[i, j]."""
    sx0, sy0, sx1, sy1 = source
    return cv2.remap(image[sy0:sy1, sx0:sx1], rel, None, cv2.INTER_LINEAR | cv2.WARP_RELATIVE_MAP,
                     borderMode=cv2.BORDER_REPLICATE)


def _node_step(to_image: np.ndarray, flow_spacing: float) -> int:
    """Frame pixels between map nodes: no more than NODE_CROP_PX crop pixels, nor than the
    flow's own node spacing (a per-pixel flow keeps one node per crop pixel), nor NODE_PX."""
    scale = float(np.sqrt(abs(np.linalg.det(to_image[:, :2]))))  # frame px per crop px
    return int(max(1, min(NODE_PX, np.floor(scale * min(NODE_CROP_PX, flow_spacing)))))


def _sample(grid: np.ndarray, to_crop: np.ndarray, size: int, dsize: tuple[int, int]) -> np.ndarray:
    """Bilinear samples of a (G,G[,C]) grid over a size x size crop, at the crop positions
    `to_crop` (2, 3) gives the pixels of a `dsize` (cols, rows) output; 0 outside the grid."""
    k = (grid.shape[0] - 1) / (size - 1)
    return cv2.warpAffine(np.ascontiguousarray(grid, np.float32), to_crop * k, dsize,
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _mask_footprint(mask: np.ndarray, M: np.ndarray, size: int, w: int, h: int):
    """The frame box (x0, y0, x1, y1) that holds every mask pixel above 1e-3, or None."""
    ys, xs = np.nonzero(mask > 1e-3)
    if len(xs) == 0:
        return None
    k = (size - 1) / (mask.shape[0] - 1)  # raster px -> crop px
    lo_x, hi_x, lo_y, hi_y = (xs.min() - 1) * k, (xs.max() + 1) * k, (ys.min() - 1) * k, (ys.max() + 1) * k
    corners = np.array([[lo_x, lo_y], [hi_x, lo_y], [lo_x, hi_y], [hi_x, hi_y]], np.float64)
    to_image = invert(M)
    foot = corners @ to_image[:, :2].T + to_image[:, 2]
    x0, y0 = np.floor(foot.min(0)).astype(int) - 2
    x1, y1 = np.ceil(foot.max(0)).astype(int) + 2
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1
