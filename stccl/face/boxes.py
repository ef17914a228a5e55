"""Face boxes (x0, y0, x1, y1[, confidence]) in image pixels: from landmarks, and how two compare."""

from __future__ import annotations

import numpy as np

# detector-like box from landmark extents, calibrated against dlib's HOG boxes on real clips
_BOX_SCALE = 1.04
_BOX_Y_SHIFT = -0.076  # of the box side; HOG boxes stop above the chin


def landmark_extent(lmk: np.ndarray) -> np.ndarray:
    lo, hi = lmk.min(0), lmk.max(0)
    return np.array([lo[0], lo[1], hi[0], hi[1]], np.float64)


def box_from_landmarks(lmk: np.ndarray, scale: float = _BOX_SCALE, y_shift: float = _BOX_Y_SHIFT) -> np.ndarray:
    """Square detector-like box (x0, y0, x1, y1) around a (68, 2) landmark set: HOG's by
    default; `scale` (of the extent's mean side) and `y_shift` (of the box side) give another's."""
    x0, y0, x1, y1 = landmark_extent(lmk)
    side = scale * ((x1 - x0) + (y1 - y0)) / 2
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + y_shift * side
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])


def box_size(box) -> float:
    return float(np.sqrt(max(box[2] - box[0], 1e-6) * max(box[3] - box[1], 1e-6)))


def box_center(box) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


def iou(a, b) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0) * max(h, 0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def box_distance(a, b) -> float:
    """Centre distance in units of `b`'s size, plus the log size ratio."""
    sa, sb = box_size(a), box_size(b)
    return float(np.linalg.norm(box_center(a) - box_center(b)) / sb + abs(np.log(sa / sb)))


def nearest_box(boxes: np.ndarray, ref, limit: float | None) -> np.ndarray | None:
    if len(boxes) == 0:
        return None
    d = [box_distance(b, ref) for b in boxes]
    i = int(np.argmin(d))
    return boxes[i, :4] if limit is None or d[i] <= limit else None


def moved(a, b) -> float:
    """How far box `b` lies from box `a`: the larger of the centre shift and the size change,
    in sides of `a`."""
    side = box_size(a)
    return max(float(np.linalg.norm(box_center(b) - box_center(a))), abs(box_size(b) - side)) / side


def largest_first(boxes: np.ndarray) -> np.ndarray:
    """`boxes` (K, 5) ordered by area, largest first."""
    return boxes[np.argsort(-(boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))]
