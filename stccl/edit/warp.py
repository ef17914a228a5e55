"""The training-free engine: a landmark-driven thin-plate-spline warp by emotion prototypes.

Each emotion has a displacement prototype for the 68 landmarks (in inter-ocular distances,
canonical face frame; see weights/PROTOTYPES.md). Expressions are absolute by default: the
expression each frame already shows is read as a mix of the prototypes
(stccl.edit.expression) and the move is target - shown, so `neutral` removes an expression and
any target replaces the one shown; `absolute=False` adds the target on top instead. For every
frame the move is foreshortened for the head pose (stccl.face.pose), turned and scaled to the
face, multiplied by the intensity, and a thin-plate spline through the moved
landmarks and fixed anchors (jaw, forehead ring, crop border) gives a dense motion field.
Upper and lower lip points always move together, so the lip opening - the speech - is kept
exactly, and the jaw never moves. The speech's mouth shape and the face's features are kept
too (stccl.edit.limits): the mouth's sideways offset yields where speech narrows the mouth (an
"o" stays an "o"; the mouth's sideways part of the expression shown is read over
MOUTH_SECONDS, as speech moves the width faster than an expression changes), intensities above
1 grow softly, and the eyes never close past a floor.

All of it is numpy: the spline is small (about 130 control points, a 48 x 48 grid a frame),
and the default edit then never imports torch, which would cost more start-up time than the
whole edit of a short clip.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np

from ..emotions import EMOTIONS
from ..errors import DataError, InputError
from ..weights import find as find_weights
from ..face.measures import normalise
from ..face.pose import views as pose_views
from ..plan import region_points
from ..registry import ENGINES
from .engine import EngineOutput, to_numpy
from .expression import MOUTH_SECONDS, ExpressionModel
from .facs import PACKAGED
from .limits import floor_eyes, follow_mouth_width, soft_intensity
from .tps import tps_eval, tps_fit

LIP_PAIRS = ((61, 67), (62, 66), (63, 65), (50, 58), (51, 57), (52, 56))
JAW = range(0, 17)
# the inner-lip contour, upper and lower, corner to corner; points at the same position along
# both move together, so the opening is kept along the whole contour, not only at landmarks
INNER_UPPER = (60, 61, 62, 63, 64)
INNER_LOWER = (60, 67, 66, 65, 64)
CONTOUR_STEPS = (1 / 3, 2 / 3)  # extra control points per contour segment


def _norm(v: np.ndarray) -> np.ndarray:
    return np.linalg.norm(v, axis=-1, keepdims=True)


def face_axes(points: np.ndarray, mouth: slice = slice(48, 60)) -> tuple[np.ndarray, np.ndarray]:
    """(B,68,2) -> inter-ocular distance (B,1) and the unit vector from the centre of the
    `mouth` points (the outer lips by default) to the eyes (B,2)."""
    points = np.asarray(points)
    left, right = points[:, 36:42].mean(1), points[:, 42:48].mean(1)
    iod = _norm(right - left)
    up = (left + right) / 2 - points[:, mouth].mean(1)
    return iod, up / _norm(up)


def _along(points: np.ndarray, chain: tuple[int, ...], t: float) -> np.ndarray:
    """(B,2) point at position t (0 .. len(chain) - 1) along a chain of landmarks."""
    k = min(int(t), len(chain) - 2)
    return points[:, chain[k]] + (t - k) * (points[:, chain[k + 1]] - points[:, chain[k]])


def inner_lip_contour(points: np.ndarray) -> np.ndarray:
    """(B,68,2) -> (B,K,2) points between the inner-lip landmarks, upper then lower contour."""
    points = np.asarray(points)
    return np.stack([_along(points, chain, k + t) for chain in (INNER_UPPER, INNER_LOWER)
                     for k in range(len(chain) - 1) for t in CONTOUR_STEPS], 1)


OUTER_UPPER = (48, 49, 50, 51, 52, 53, 54)
OUTER_LOWER = (48, 59, 58, 57, 56, 55, 54)
BAND_COLUMNS = 9  # columns of control points across the mouth
BAND_MARGIN = 0.12  # how far the band reaches above and below the outer lips (IOD)


def lip_band(points: np.ndarray, moved: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Control points in columns across the mouth, (B,2K,2) before and after the move.

    Each column holds a point above the upper lip and one below the lower lip, both moved like
    the lips at that place along the mouth. With the lip landmarks between them, the motion
    is then the same from the top of the mouth to its bottom: pixels of the lips move together
    wherever the lips really are, even where a landmark is off by a few pixels, so the opening
    the speech made is kept."""
    iod, up = face_axes(points, slice(48, 68))
    tops, bottoms, moves = [], [], []
    for t in np.linspace(0, len(OUTER_UPPER) - 1, BAND_COLUMNS + 2)[1:-1].tolist():
        upper, lower = _along(points, OUTER_UPPER, t), _along(points, OUTER_LOWER, t)
        moves.append((_along(moved, OUTER_UPPER, t) - upper + _along(moved, OUTER_LOWER, t) - lower) / 2)
        tops.append(upper + BAND_MARGIN * iod * up)
        bottoms.append(lower - BAND_MARGIN * iod * up)
    before = np.stack(tops + bottoms, 1)
    after = before + np.stack(moves + moves, 1)
    return before, after


def build(cfg, weights: Path | None = None) -> "WarpEngine":
    """The registry's factory: the engine an EditConfig asks for (prototypes, regions, relative)."""
    return WarpEngine(find_prototypes(cfg.prototypes), absolute=not cfg.relative, regions=cfg.regions)


def find_prototypes(explicit: str | Path | None = None) -> Path:
    """explicit path -> ./weights/prototypes.json -> $STCCL_WEIGHTS/prototypes.json -> shipped
    (stccl.weights.FILES["prototypes"])."""
    found = find_weights("prototypes", explicit)
    if found is None:  # only an explicit path can be missing: the shipped file is always there
        raise InputError(f"prototypes file not found: {explicit}")
    return found


def load_prototypes(source: str | Path | dict | None = None) -> dict[str, np.ndarray]:
    """{emotion: (68,2) displacement in IOD units}, lip/jaw constraints applied."""
    data = source if isinstance(source, dict) else _read(find_prototypes(source))
    try:
        emotions = data["emotions"]
        out = {e: constrain(np.asarray(emotions[e]["displacement"], np.float64)) for e in EMOTIONS}
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(f"prototypes: malformed ({type(e).__name__}: {e})") from None
    if any(d.shape != (68, 2) for d in out.values()):
        raise DataError("prototypes: each displacement must be 68 x 2")
    return out


def load_expression_model(source: str | Path | dict | None = None,
                          mouth_seconds: float | None = None) -> ExpressionModel:
    """The expression reader for a prototypes file; a file without its own expression-free
    prior (`neutral_shape`, `speech_spread`: format version 1) uses the shipped one.
    `mouth_seconds`: see ExpressionModel."""
    data = source if isinstance(source, dict) else _read(find_prototypes(source))
    neutral, spread = _prior(data)
    return ExpressionModel(neutral, spread, load_prototypes(data), mouth_seconds)


def _prior(data: dict) -> tuple[np.ndarray, np.ndarray]:
    """A prototypes file's expression-free prior, (68,2) neutral shape and speech spread, or the
    shipped one where the file has none."""
    if "neutral_shape" not in data:
        data = {k: v for k, v in _read(PACKAGED).items() if k in ("neutral_shape", "speech_spread")}
    try:
        neutral = np.asarray(data["neutral_shape"], np.float64)
        spread = np.asarray(data["speech_spread"], np.float64)
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(f"prototypes: malformed expression prior ({type(e).__name__}: {e})") from None
    if neutral.shape != (68, 2) or spread.shape != (68, 2):
        raise DataError("prototypes: neutral_shape and speech_spread must be 68 x 2")
    return neutral, spread


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: cannot read prototypes ({e})") from None


def constrain(d: np.ndarray) -> np.ndarray:
    """Give each upper/lower lip pair the same motion and keep the jaw still."""
    d = d.copy()
    for a, b in LIP_PAIRS:
        d[a] = d[b] = (d[a] + d[b]) / 2
    d[list(JAW)] = 0.0
    return d


def target_landmarks(landmarks: np.ndarray, displacement: np.ndarray,
                     intensity: np.ndarray, view: np.ndarray | None = None) -> np.ndarray:
    """(B,68,2) crop px + (68,2) or (B,68,2) IOD-unit displacement x (B,) intensity -> moved
    (B,68,2), float64.

    `view` (B,2,2) foreshortens the prototype for a turned head (`stccl.face.pose.in_plane`:
    the face plane seen from the camera, eye axis to unit x); None = frontal (identity).
    The result is turned to the eye line and scaled by the inter-ocular distance.
    """
    landmarks = np.asarray(landmarks, np.float64)
    intensity = np.asarray(intensity, np.float64).reshape(-1)
    displacement = np.broadcast_to(np.asarray(displacement, np.float64), landmarks.shape)
    return landmarks + np.einsum("bij,bnj->bni", to_image(landmarks, view) * intensity[:, None, None], displacement)


def to_image(landmarks: np.ndarray, view: np.ndarray | None = None) -> np.ndarray:
    """(B,2,2) the map of a face-frame displacement (IOD units) to crop pixels for each frame:
    foreshortened by `view` (None = frontal), turned to the eye line, scaled by the IOD."""
    landmarks = np.asarray(landmarks, np.float64)
    left, right = landmarks[:, 36:42].mean(1), landmarks[:, 42:48].mean(1)
    eye = right - left
    iod = _norm(eye)
    c, s = (eye / iod)[:, 0], (eye / iod)[:, 1]
    rot = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)  # (B,2,2)
    if view is not None:
        rot = rot @ np.asarray(view, np.float64)
    return rot * iod[:, :, None]


def views(landmarks: np.ndarray) -> np.ndarray:
    """(B,68,2) -> (B,2,2) foreshortening of the face plane for each frame's head pose."""
    return pose_views(np.asarray(landmarks, np.float64))


def anchors(landmarks: np.ndarray, size: int, per_side: int = 8) -> np.ndarray:
    """Fixed points (B,K,2): the brows lifted 0.6 IOD (a forehead ring) and the crop border."""
    landmarks = np.asarray(landmarks)
    iod, up = face_axes(landmarks)
    ring = landmarks[:, 17:27] + (0.6 * iod * up)[:, None]
    t = np.linspace(0, size - 1, per_side + 1, dtype=landmarks.dtype)[:-1]
    lo, hi = np.zeros_like(t), np.full_like(t, size - 1)
    border = np.concatenate([np.stack(p, -1) for p in [(t, lo), (hi, t), (t[::-1], hi), (lo, t[::-1])]])
    return np.concatenate([ring, np.broadcast_to(border, (len(landmarks), *border.shape))], 1)


class WarpEngine:
    """Training-free engine (see the module docstring). Implements stccl.edit.engine.Engine.
    It runs on the CPU in numpy, whatever the device: its work is a few small solves a frame."""

    name = "warp"
    caps = ENGINES["warp"].caps
    size = None

    def __init__(self, prototypes: str | Path | dict | None = None, device: str = "cpu", grid: int = 48,
                 absolute: bool = True, regions: str | None = None):
        """`device` is accepted for the Engine interface and not used (numpy, on the CPU).
        `regions` (stccl.plan, e.g. "brows,eyes"): only those landmarks move; None = all."""
        data = prototypes if isinstance(prototypes, dict) else _read(find_prototypes(prototypes))
        self.prototypes = load_prototypes(data)  # {emotion: (68,2) float64}
        # what reads the expression shown, so that the move is target - shown (None: additive)
        self.expression = load_expression_model(data, MOUTH_SECONDS) if absolute else None
        neutral, _ = _prior(data)
        self._rest_width = float(neutral[54, 0] - neutral[48, 0])  # the expression-free mouth's, IOD
        points = region_points(regions)
        self.regions = regions
        self._keep = None if points is None else np.isin(np.arange(68), points)[:, None].astype(np.float64)
        self.grid = grid
        g = np.linspace(-1, 1, grid, dtype=np.float32)
        gx, gy = np.meshgrid(g, g, indexing="xy")
        self._nodes = np.stack([gx, gy], -1).reshape(1, -1, 2)

    def __call__(self, crops, landmarks, emotion: str, intensity, shown=None) -> EngineOutput:
        """crops: only their shape (B,3,S,S) is read. `shown` (B,68,2): the expression each
        frame shows (ExpressionModel.shown), which the move replaces; None adds the prototype
        on top. Arrays may be numpy or (CPU) torch. The flow is (B,2,grid,grid) float32 numpy."""
        # the solves are small: on one BLAS thread they neither wait on cores that ffmpeg keeps
        # busy nor spin on them (split over two busy cores, they took 5x as long)
        with _blas().limit(limits=1, user_api="blas"):
            return self._flow(crops, landmarks, emotion, intensity, shown)

    def _flow(self, crops, landmarks, emotion: str, intensity, shown) -> EngineOutput:
        lmk = to_numpy(landmarks).astype(np.float64)
        moves = self._moves(lmk, emotion, to_numpy(intensity), shown)
        moved = lmk + np.einsum("bij,bnj->bni", to_image(lmk, views(lmk)), moves)
        return self._spline(lmk, moved, crops.shape[-1])

    def _moves(self, lmk: np.ndarray, emotion: str, intensity: np.ndarray, shown) -> np.ndarray:
        """Face-frame moves (B,68,2), IOD, intensity applied (stccl.edit.limits)."""
        moves = np.broadcast_to(self.prototypes[emotion], lmk.shape).copy()
        if shown is not None:
            shown = to_numpy(shown).astype(np.float64)
            moves -= shown
        if self._keep is not None:  # lip pairs lie in one region: the opening stays kept
            moves *= self._keep
        n = normalise(lmk)
        follow_mouth_width(n, moves, self._rest_width, shown)
        moves *= soft_intensity(intensity).reshape(-1, 1, 1)
        return floor_eyes(n, moves)

    def seen_by(self, view_offset: np.ndarray | None) -> "WarpEngine":
        """This engine for landmarks from a tracker whose 68-point view sits `view_offset` off
        dlib's (Backend.view_offset): its reading of the expression shown and its
        expression-free mouth width moved by it. None: itself."""
        if view_offset is None:
            return self
        other = copy.copy(self)
        if self.expression is not None:
            other.expression = self.expression.seen_by(view_offset)
        other._rest_width = self._rest_width + float(view_offset[54, 0] - view_offset[48, 0])
        return other

    def _spline(self, lmk: np.ndarray, moved: np.ndarray, size: int,
                extra: tuple[np.ndarray, np.ndarray] | None = None) -> EngineOutput:
        """The motion field of the spline through the landmarks moved, the inner-lip contour and
        the lip band moved with them, the fixed anchors, and `extra` (before, after) points."""
        b = len(lmk)
        fixed = anchors(lmk, size)
        band_src, band_dst = lip_band(lmk, moved)
        more = () if extra is None else (extra,)
        src = np.concatenate([lmk, inner_lip_contour(lmk), band_src, *(e[0] for e in more), fixed], 1)
        dst = np.concatenate([moved, inner_lip_contour(moved), band_dst, *(e[1] for e in more), fixed], 1)
        scale = (size - 1) / 2
        centers = dst / scale - 1
        weights, affine = tps_fit(centers, (src - dst) / scale, reg=1e-4)
        nodes = np.broadcast_to(self._nodes, (b, *self._nodes.shape[1:]))
        off = tps_eval(nodes, centers.astype(np.float32), weights.astype(np.float32),
                       affine.astype(np.float32)) * np.float32(scale)
        flow = off.reshape(b, self.grid, self.grid, 2).transpose(0, 3, 1, 2)
        return EngineOutput(flow=np.ascontiguousarray(flow, np.float32))  # on the grid: smooth


_POOLS = None


def _blas():
    """The process's BLAS thread pools (threadpoolctl), found once."""
    global _POOLS
    if _POOLS is None:
        from threadpoolctl import ThreadpoolController

        _POOLS = ThreadpoolController()
    return _POOLS
