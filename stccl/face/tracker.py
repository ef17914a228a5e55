"""Per-frame raw face tracking: detect rarely, follow one face by its landmarks in between.

Between detections the box comes from the previous frame's landmarks. A detection check runs
every `detect_every` frames, when the landmark fit jumps, or when the face region stops looking
like it did one frame earlier (a cut, a black frame). The check is a cheap detection on a small
region around the face; only when that finds nothing does a full-frame detection run.
Detection follows the backend's policy (`find_faces`): where its detector finds nothing or
only doubtful faces (dlib's HOG on a turned or profile face), its turned-face detector (dlib's
CNN) looks, at low resolution: around the last known face, or on the whole frame at most every
`_TURNED_EVERY` frames while no face is followed. Each check also refits the landmarks from
the detection and takes that fit when the followed one has drifted from it. Between checks the
face is followed by the backend's own `follow` policy. No smoothing happens here.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..config import TrackConfig
from ..errors import NoFaceError
from . import pixels
from .backend import Backend, Follow, check_image
from .boxes import (  # noqa: F401  (box_from_landmarks, box_distance: re-exported)
    box_center, box_distance, box_from_landmarks, box_size, iou, landmark_extent, nearest_box,
)
from .smooth import inter_ocular

_ROI_FACE = 110  # face size (px) in the region-of-interest image
_ROI_CONTEXT = 2.0  # region side / box side
_MIN_HOG_FACE = 90  # below this (px at detection scale) the full-frame detector upsamples

_PATCH = 24  # appearance patch side
_MIN_SIMILARITY = 0.6  # normalised cross-correlation between consecutive face patches
_MIN_CONTRAST = 4.0  # grey-level std below which a patch cannot hold a face

_JUMP_IOU = 0.5
_JUMP_SIZE = (0.8, 1.25)
_KEEP_TRACK_IOU = 0.5  # a confirming detection at least this close keeps the tracked box
_MATCH_TRACKING = 0.5  # max normalised distance to the followed face while tracking
_MATCH_SHORT_LOSS = 1.0  # ... after a short loss; after a long one the nearest face wins
_TURNED_EVERY = 5  # while searching, the CNN detector runs on at most one frame in this many
_DRIFT = 0.06  # mean distance (inter-ocular units) of a refit that replaces the followed fit


def mean_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean point distance of two (68, 2) landmark sets, in inter-ocular distances of `b`."""
    return float(np.linalg.norm(a - b, axis=1).mean() / max(inter_ocular(b), 1e-6))


def jumped(prev: np.ndarray, new: np.ndarray) -> bool:
    a, b = landmark_extent(prev), landmark_extent(new)
    ratio = box_size(b) / box_size(a)
    return iou(a, b) < _JUMP_IOU or not (_JUMP_SIZE[0] <= ratio <= _JUMP_SIZE[1])


def appearance_patch(frame: np.ndarray, box) -> np.ndarray | None:
    """Small grey patch of the box region, or None when the region is (almost) off the frame."""
    h, w = frame.shape[:2]
    x0, y0 = max(int(box[0]), 0), max(int(box[1]), 0)
    x1, y1 = min(int(np.ceil(box[2])), w), min(int(np.ceil(box[3])), h)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    step = max(1, min(x1 - x0, y1 - y0) // (4 * _PATCH))  # subsample big faces before averaging
    roi = frame[y0:y1:step, x0:x1:step]
    small = cv2.resize(roi, (_PATCH, _PATCH), interpolation=cv2.INTER_AREA)
    if small.ndim == 3:
        small = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    return small.astype(np.float32)


def similarity(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """Normalised cross-correlation of two patches; 0 when either is flat or missing."""
    if a is None or b is None or a.std() < _MIN_CONTRAST or b.std() < _MIN_CONTRAST:
        return 0.0
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def roi_image(frame: np.ndarray, box) -> tuple[np.ndarray, float, np.ndarray]:
    """Region about `_ROI_CONTEXT` x the box, resized so the face is ~`_ROI_FACE` px.

    Returns the image, its scale and the frame position of its top-left corner.
    """
    h, w = frame.shape[:2]
    side = _ROI_CONTEXT * box_size(box)
    c = box_center(box)
    x0, y0 = round(c[0] - side / 2), round(c[1] - side / 2)
    x1, y1 = x0 + round(side), y0 + round(side)
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if cx1 <= cx0 or cy1 <= cy0:
        return np.zeros((8, 8, *frame.shape[2:]), np.uint8), 1.0, np.array([x0, y0], float)
    pad = (max(-y0, 0), max(y1 - h, 0), max(-x0, 0), max(x1 - w, 0))
    scale = _ROI_FACE / box_size(box)
    roi = pixels.region(frame, (cx0, cy0, cx1, cy1), pad, scale)  # RGB from planes for a tracker that reads them
    return roi, scale, np.array([x0, y0], float)


class FaceTracker:
    """Raw landmarks of one followed face per frame: `tracker(frame) -> (68, 2) | None`, and
    the dense points of that fit in `tracker.dense` where the backend has them (the mesh's 468).

    `cfg.face` picks the face at the first detection (0 = largest); afterwards the face nearest
    to the last known one is followed. `stats` counts frames, full-frame `detections`,
    `roi_detections` and `lost` (frames returned as None). `check_picked` says, once the video
    is done, when `cfg.face` asked for more faces than any frame showed.
    """

    def __init__(self, backend: Backend | str, cfg: TrackConfig | None = None) -> None:
        """`backend`: a built tracker, or a tracker's name (built by make_backend; an unknown
        name is an InputError)."""
        self.cfg = cfg or TrackConfig()
        if isinstance(backend, str):
            from .backends import make_backend

            backend = make_backend(backend, self.cfg.device)
        self.backend = backend
        self.stats = {"frames": 0, "detections": 0, "roi_detections": 0, "turned_detections": 0,
                      "refits": 0, "moved_fits": 0, "lost": 0}
        self.most_faces = 0  # most faces one frame showed while the face to follow was picked
        self.followed = False  # whether a face was ever followed
        self.dense = None  # the last frame's dense points ((P, 3) image px) when the backend has them
        self.reset()

    def reset(self) -> None:
        self._lmk: np.ndarray | None = None  # previous frame's landmarks while tracking
        self._patch: np.ndarray | None = None
        self._next_patch: np.ndarray | None = None
        self._last_box: np.ndarray | None = None  # last known box of the followed face
        self._since = 0  # frames since the last detection check
        self._missed = 0  # consecutive frames without the face
        self._turned_wait = 0  # frames until the next full-frame CNN search

    def __call__(self, frame: np.ndarray) -> np.ndarray | None:
        check_image(frame)
        self.stats["frames"] += 1
        fit = self._track(frame) if self._lmk is not None else self._acquire(frame)
        if fit is None or not np.all(np.isfinite(fit.landmarks)):
            self._lose()
            self.dense = None
            return None
        self._keep(frame, fit.landmarks)
        self.dense = fit.dense
        return fit.landmarks

    def _track(self, frame: np.ndarray) -> Follow | None:
        box = self._last_box  # the box of self._lmk (_keep)
        fit = self.backend.follow(frame, self._lmk)  # the backend's own follow policy
        lmk = fit.landmarks
        self.stats["moved_fits"] += int(fit.refitted)
        fitted = fit.box if fit.box is not None else self.backend.box_from_landmarks(lmk)
        self._since += 1
        moved_patch = appearance_patch(frame, fitted)
        suspect = jumped(self._lmk, lmk) or similarity(self._patch, moved_patch) < _MIN_SIMILARITY
        if fit.presence is not None:  # a backend that can say whether a face is there
            suspect = suspect or fit.presence < self.backend.caps.weak
        if not (suspect or self._since >= self.cfg.detect_every):
            self._next_patch = moved_patch
            return fit
        found = self._confirm(frame, box)
        if found is None:
            return None
        if suspect or iou(found, box) < _KEEP_TRACK_IOU:
            return self.backend.fit(frame, found)
        refit = self.backend.fit(frame, found)
        if mean_distance(refit.landmarks, lmk) > _DRIFT:
            self.stats["refits"] += 1
            return refit
        return fit

    def _confirm(self, frame: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        """The followed face's detection box near `box`: ROI first, then the full frame, then
        the CNN detector around `box`."""
        self._since = 0
        found = nearest_box(self._detect_roi(frame, box), box, _MATCH_TRACKING)
        if found is None:
            found = nearest_box(self._detect_full(frame), box, _MATCH_TRACKING)
        if found is None and self.cfg.turned:
            found = nearest_box(self._detect_roi(frame, box, turned=True), box, _MATCH_TRACKING)
        return found

    def _acquire(self, frame: np.ndarray) -> Follow | None:
        boxes = self._detect_full(frame, turned=lambda: self._search_turned(frame))
        if self._last_box is None:
            self.most_faces = max(self.most_faces, len(boxes))
            box = boxes[self.cfg.face, :4] if self.cfg.face < len(boxes) else None
        else:
            limit = _MATCH_SHORT_LOSS if self._missed <= self.cfg.max_gap else None
            box = nearest_box(boxes, self._last_box, limit)
        if box is None:
            return None
        self._since = 0
        fit = self.backend.fit(frame, box)
        return fit if self._sure(fit) else None

    def _sure(self, fit: Follow) -> bool:
        """Whether a fit from a detection shows a face: a backend that scores the face's
        presence (the mesh) rejects a doubtful detection whose fit it finds no face in."""
        return fit.presence is None or fit.presence >= self.backend.caps.weak

    def find(self, frame: np.ndarray) -> np.ndarray:
        """The confident face boxes in `frame` (N, 5), largest first: the full-frame detection,
        and the turned-face detector's at low resolution where that finds only doubtful
        faces. For finding faces to follow (`--face all`); what is followed does not change."""
        def turned() -> np.ndarray:
            self.stats["turned_detections"] += 1
            return self.backend.detect_turned(frame, max_side=self.cfg.turned_size)

        boxes = self._detect_full(frame, turned=turned)
        return boxes[boxes[:, 4] >= self.backend.caps.weak]

    def seed(self, frame: np.ndarray, box: np.ndarray) -> None:
        """Follow the face in `box` from this frame on (a face found by `find`)."""
        check_image(frame)
        self._since = 0
        self._keep(frame, self.backend.fit(frame, np.asarray(box[:4], np.float64)).landmarks)

    @property
    def last_box(self) -> np.ndarray | None:
        """The last known box of the followed face (kept through a loss), or None."""
        return self._last_box

    @property
    def missed(self) -> int:
        """Consecutive frames, up to now, without the followed face."""
        return self._missed

    def check_picked(self) -> None:
        """NoFaceError when no face was followed because `cfg.face` is past the faces found."""
        n, k = self.cfg.face, self.most_faces
        if not self.followed and 0 < k <= n:
            numbered = "it is face 0" if k == 1 else f"faces are numbered 0..{k - 1} from the largest"
            raise NoFaceError(f"--face {n}: only {k} face{'s' * (k != 1)} found ({numbered})")

    def _search_turned(self, frame: np.ndarray) -> np.ndarray:
        """CNN detection while no face is followed: near the last face after a short loss,
        else on the whole frame, at most every `_TURNED_EVERY` frames."""
        if self._last_box is not None and self._missed <= self.cfg.max_gap:
            return self._detect_roi(frame, self._last_box, turned=True)
        if self._turned_wait > 0:
            self._turned_wait -= 1
            return np.zeros((0, 5), np.float32)
        self._turned_wait = _TURNED_EVERY - 1
        self.stats["turned_detections"] += 1
        return self.backend.detect_turned(frame, max_side=self.cfg.turned_size)

    def _detect_roi(self, frame: np.ndarray, box: np.ndarray, turned: bool = False) -> np.ndarray:
        """Detections in the region around `box`, by HOG or (`turned`) the CNN detector."""
        roi, scale, origin = roi_image(frame, box)
        if turned:
            self.stats["turned_detections"] += 1
            boxes = self.backend.detect_turned(roi, max_side=max(roi.shape[:2]))
        else:
            self.stats["roi_detections"] += 1
            boxes = self.backend.detect(roi, max_side=max(roi.shape[:2]), upsample=0)
        boxes[:, :4] = boxes[:, :4] / scale + np.tile(origin, 2)
        return boxes

    def _detect_full(self, frame: np.ndarray, turned=None) -> np.ndarray:
        """The faces of the whole frame by the backend's detection policy, largest first;
        `turned` (when the config allows it) searches with the turned-face detector."""
        self.stats["detections"] += 1
        upsample = None
        if self._last_box is not None:
            scale = min(1.0, self.cfg.detect_size / max(frame.shape[:2]))
            upsample = int(box_size(self._last_box) * scale < _MIN_HOG_FACE)
        return self.backend.find_faces(frame, max_side=self.cfg.detect_size, upsample=upsample,
                                       turned=turned if self.cfg.turned else None)

    def _keep(self, frame: np.ndarray, lmk: np.ndarray) -> None:
        self._lmk = lmk
        self._last_box = self.backend.box_from_landmarks(lmk)
        self.followed = True
        patch, self._next_patch = self._next_patch, None
        self._patch = patch if patch is not None else appearance_patch(frame, self._last_box)
        self._missed = 0

    def _lose(self) -> None:
        self.stats["lost"] += 1
        self._lmk = None
        self._patch = None
        self._missed += 1
