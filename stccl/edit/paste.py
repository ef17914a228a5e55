"""Paste an engine's change back into the full-resolution frame.

The motion field is carried from crop to image coordinates and applied to the original frame
with one remap, so the face keeps the frame's own resolution (it is not resampled through the
crop); the colour change is added on top. A feathered mask from the face hull limits both,
so pixels away from the face are exactly unchanged.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..face.align import invert, transform_landmarks

_BROWS = list(range(17, 27))
_EYES = (slice(36, 42), slice(42, 48))


def face_mask(landmarks: np.ndarray, size: int, grow: float = 0.6, feather: float = 0.3) -> np.ndarray:
    """(size, size) float32 in [0,1]: the landmark hull, with the brows lifted `grow` IOD to
    take in the forehead, dilated and feathered over `feather` IOD. landmarks: (68,2) crop px."""
    pts = np.asarray(landmarks, np.float64).copy()
    iod = float(np.linalg.norm(pts[_EYES[1]].mean(0) - pts[_EYES[0]].mean(0))) or size * 0.25
    up = pts[_EYES[0]].mean(0) - pts[48:60].mean(0)
    up /= np.linalg.norm(up) or 1.0
    lifted = pts[_BROWS] + up * grow * iod
    hull = cv2.convexHull(np.concatenate([pts, lifted]).astype(np.float32))
    mask = np.zeros((size, size), np.float32)
    cv2.fillConvexPoly(mask, np.round(hull[:, 0] * 16).astype(np.int32), 1.0, cv2.LINE_AA, 4)
    sigma = max(feather * iod / 2.0, 1.0)
    return cv2.GaussianBlur(mask, (0, 0), sigma)


def paste_change(frame: np.ndarray, M: np.ndarray, flow: np.ndarray, delta: np.ndarray | None,
                 mask: np.ndarray) -> np.ndarray:
    """`frame` (H,W,3) uint8 with the change applied, in place; returns `frame`.

    M: (2,3) image->crop. flow: (S,S,2) backward offsets in crop px. delta: (S,S,3) colour
    change in [0,1] units or None. mask: (S,S) float in [0,1], in crop coordinates. The mask
    scales the motion itself, so where it is 0 the sampling map is the identity and pixels are
    copied exactly.
    """
    box = _mask_footprint(mask, M, frame.shape[1], frame.shape[0])
    if box is None:
        return frame
    x0, y0, x1, y1 = box
    to_crop = np.asarray(M, np.float64).copy()
    to_crop[:, 2] += to_crop[:, :2] @ np.array([x0, y0], np.float64)  # ROI pixel -> crop
    dsize = (x1 - x0, y1 - y0)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    alpha = cv2.warpAffine(mask, to_crop, dsize, flags=flags, borderMode=cv2.BORDER_CONSTANT)
    flow_img = cv2.warpAffine(flow, to_crop, dsize, flags=flags, borderMode=cv2.BORDER_CONSTANT)
    # crop-pixel vectors -> image-pixel vectors, scaled by the mask
    flow_img = cv2.transform(flow_img, invert(M)[:, :2].astype(np.float32)) * alpha[..., None]
    map_x = flow_img[..., 0] + np.arange(x0, x1, dtype=np.float32)[None, :]
    map_y = flow_img[..., 1] + np.arange(y0, y1, dtype=np.float32)[:, None]
    moved = cv2.remap(frame, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if delta is not None:
        change = cv2.warpAffine(delta, to_crop, dsize, flags=flags, borderMode=cv2.BORDER_CONSTANT)
        change *= (255.0 * alpha)[..., None]
        moved = np.clip(moved + change + 0.5, 0, 255).astype(np.uint8)
    frame[y0:y1, x0:x1] = moved
    return frame


def _mask_footprint(mask: np.ndarray, M: np.ndarray, w: int, h: int):
    ys, xs = np.nonzero(mask > 1e-3)
    if len(xs) == 0:
        return None
    corners = np.array([[xs.min(), ys.min()], [xs.max() + 1, ys.min()],
                        [xs.min(), ys.max() + 1], [xs.max() + 1, ys.max() + 1]], np.float64)
    foot = transform_landmarks(corners, invert(M))
    x0, y0 = np.floor(foot.min(0)).astype(int) - 2
    x1, y1 = np.ceil(foot.max(0)).astype(int) + 2
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1
