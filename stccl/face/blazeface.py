"""BlazeFace, MediaPipe's face detector, decoded as MediaPipe's graphs decode it.

`face_detection_short_range` (128² input, faces filling a good part of the frame) and
`face_detection_full_range_sparse` (192², small faces in wide frames). The image is letterboxed
to the input (aspect kept, padded), scaled to [-1, 1]; each anchor gives a box and six
keypoints (right eye, left eye, nose tip, mouth centre, right and left ear tragion), and the
boxes are merged by weighted non-maximum suppression, as in MediaPipe's
face_detection_*_common.pbtxt.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from . import pixels
from .tflite import TfliteModel, model_path


@dataclass(frozen=True)
class Spec:
    file: str
    size: int  # input side
    strides: tuple[int, ...]  # one per anchor layer (SsdAnchorsCalculator)
    per_cell: int  # anchors per cell and layer: 2 with interpolated scales, else 1
    min_score: float


SHORT = Spec("face_detection_short_range.tflite", 128, (8, 16, 16, 16), 2, 0.5)
FULL = Spec("face_detection_full_range_sparse.tflite", 192, (4,), 1, 0.6)
_NMS_IOU = 0.3


def anchors(spec: Spec) -> np.ndarray:
    """(A, 2) anchor centres in [0, 1], in the model's output order (fixed anchor size)."""
    out, i = [], 0
    strides = list(spec.strides)
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        n = -(-spec.size // strides[i])
        ys, xs = np.meshgrid((np.arange(n) + 0.5) / n, (np.arange(n) + 0.5) / n, indexing="ij")
        cells = np.stack([xs.ravel(), ys.ravel()], 1)
        out.append(np.repeat(cells, spec.per_cell * (j - i), axis=0))
        i = j
    return np.concatenate(out).astype(np.float32)


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, float, np.ndarray]:
    """`image` (RGB, grey, or planes: stccl.face.pixels) fitted into size² with its aspect kept,
    padded with black, as RGB; the scale and the pad (x, y) in input pixels."""
    h, w = image.shape[:2]
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    small = pixels.resized(image, (nw, nh), cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    pad = np.array([(size - nw) // 2, (size - nh) // 2])
    out = np.zeros((size, size, 3), np.uint8)
    out[pad[1]:pad[1] + nh, pad[0]:pad[0] + nw] = small
    return out, scale, pad


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray, iou: float = _NMS_IOU):
    """MediaPipe's weighted NMS: each kept detection is the score-weighted mean of those that
    overlap it by more than `iou`; its score is the top one's."""
    order = np.argsort(-scores)
    used = np.zeros(len(scores), bool)
    out_b, out_s, out_k = [], [], []
    for i in order:
        if used[i]:
            continue
        b = boxes[i]
        lo, hi = np.maximum(b[:2], boxes[:, :2]), np.minimum(b[2:4], boxes[:, 2:4])
        inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        overlap = inter / np.maximum(area + (b[2] - b[0]) * (b[3] - b[1]) - inter, 1e-9)
        group = (~used) & (overlap > iou)
        group[i] = True
        used |= group
        w = scores[group][:, None]
        out_b.append((boxes[group] * w).sum(0) / w.sum())
        out_k.append((keypoints[group] * w[:, :, None]).sum(0) / w.sum())
        out_s.append(scores[i])
    if not out_b:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 6, 2), np.float32)
    return np.asarray(out_b, np.float32), np.asarray(out_s, np.float32), np.asarray(out_k, np.float32)


class BlazeFace:
    """`detector(image) -> (boxes (K, 5) x0, y0, x1, y1, score; keypoints (K, 6, 2))` in image px,
    best first; scores are probabilities, and faces down to `floor` are kept (the caller decides
    how sure is sure)."""

    def __init__(self, spec: Spec = SHORT, floor: float = 0.3) -> None:
        self.spec, self.floor = spec, floor
        self.model = TfliteModel(model_path(spec.file))
        self._anchors = anchors(spec)

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        size = self.spec.size
        boxed, scale, pad = letterbox(image, size)
        x = boxed[None].astype(np.float32) / 127.5 - 1.0
        raw, logits = self.model(x)
        raw = raw.reshape(-1, 16) / size
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits.reshape(-1).astype(np.float64), -100, 100)))
        keep = scores >= self.floor
        a, raw, scores = self._anchors[keep], raw[keep], scores[keep]
        centre = raw[:, :2] + a
        half = raw[:, 2:4] / 2
        boxes = np.concatenate([centre - half, centre + half], 1)
        kps = raw[:, 4:].reshape(-1, 6, 2) + a[:, None, :]
        boxes, scores, kps = weighted_nms(boxes, scores, kps)
        to_image = lambda p: (p * size - pad) / scale  # noqa: E731
        out = np.zeros((len(boxes), 5), np.float32)
        out[:, :2], out[:, 2:4], out[:, 4] = to_image(boxes[:, :2]), to_image(boxes[:, 2:4]), scores
        return out, to_image(kps).astype(np.float32)
