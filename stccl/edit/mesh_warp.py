"""The default engine: the landmark warp driven by prototypes on the 468-point face mesh.

The 68-point warp (stccl.edit.warp) moves only what the 68 points have: brows, lids, lip
contours. Here each emotion is a displacement of the whole mesh (stccl.edit.mesh_facs: action
units on the cheeks, the lower lids, the nasolabial fold, the glabella, the nose's wings, in
3D), and about forty of its vertices away from the 68 points join the thin-plate spline as
control points. They are placed on each frame from its 68 points (stccl.edit.mesh_shape.
Placement), so any tracker drives them, smoothly. What else differs from the 68-point warp:

- the speech's mouth shape is kept, not only its opening: the emotion's sideways offset of the
  mouth (corners, lips, the skin around them) is scaled by the mouth's width in each frame
  against the neutral width, so an "o" that narrows the mouth narrows the offset too, and the
  width and rounding of the output follow the input's;
- the eyes never close past EYE_FLOOR of their opening in the input, at any intensity;
- intensities above 1 grow softly (`soft_intensity`), towards at most twice the prototype;
- the nose's bridge and tip are control points that no unit moves: the nose keeps its length;
- the expression shown is read as the 68-point warp reads it (its FACS prototypes, distinct
  and large: the fitted ones are small, and read with them a person's own face passed for an
  expression) and removed from the 68 points exactly as that warp removes it; on the other
  vertices the edit removes the mesh prototypes those weights stand for, each scaled to the
  size of its reading prototype (`_removal_extra`: the fitted prototypes are smaller, and
  removed at their own size they left much of the expression shown: on W009 the edits landed
  8-9% nearer the real angry and surprised takes, against 17-21% removed at the reading's
  size). Only the
  mouth's sideways part (lips and the skin below the nose) is removed at the mesh prototypes'
  own size: the reading follows the speech's width (a mouth widened by "ee" reads as a little
  happy), and removed at full size it narrowed the mouth just where speech widened it (width
  correlation on W036 0.99 -> 0.91). Of the target itself, a face keeps what it shows beyond
  the target's prototype, so a broad smile edited to happy is not made smaller;
- the units' depth is not used: seen through each frame's head-pose estimate it added the
  pose's jitter to the corners.

Expressions are absolute (the expression shown, read on the 68-point view, is replaced) as in
the 68-point warp, whose anchors, lip band and inner-lip contour it shares.
"""

from __future__ import annotations

import numpy as np

from ..face.measures import normalise
from ..face.mesh_map import ibug68
from ..face.pose import views
from ..plan import region_points
from ..registry import ENGINES
from .engine import EngineOutput, to_numpy
from .expression import EXPRESSIVE
from .facs import PACKAGED
from .limits import MOUTH, floor_eyes, soft_intensity, width_share
from .mesh_facs import PACKAGED_MESH
from .mesh_shape import Placement
from .warp import WarpEngine, _read, constrain, find_prototypes, load_expression_model, to_image

EXTRA_POINTS = 40  # mesh vertices that join the spline
MIN_GAP = 0.08  # IOD: a vertex this near a 68-point landmark is left to the landmark
# IOD: no mesh vertex this near the lips joins the spline: the lip band (stccl.edit.warp.lip_band,
# 0.12 IOD above and below the lips) alone says how the mouth's skin moves, so the opening is kept
MOUTH_GAP = 0.2


def build(cfg, weights=None):
    """The registry's factory: the mesh warp for a file with mesh prototypes (without
    --prototypes, the shipped PACKAGED_MESH), the 68-point warp for a file in the 68-point format."""
    data = _read(find_prototypes(cfg.prototypes) if cfg.prototypes else PACKAGED_MESH)
    if "mesh" not in data:
        return WarpEngine(data, absolute=not cfg.relative, regions=cfg.regions)
    return MeshWarpEngine(data, absolute=not cfg.relative, regions=cfg.regions)


def control_vertices(canonical: np.ndarray, count: int = EXTRA_POINTS) -> np.ndarray:
    """Mesh vertices that join the spline: farther than MIN_GAP from every 68-point landmark of
    the canonical face, below the forehead ring's reach, spread evenly (farthest-point order,
    from the nose's tip)."""
    c = np.asarray(canonical, np.float64)[:, :2]
    v = ibug68(c).astype(np.float64)
    gap = np.linalg.norm(c[:, None] - v[None], axis=-1).min(1)
    mouth_gap = np.linalg.norm(c[:, None] - v[None, MOUTH], axis=-1).min(1)
    brows = v[17:27, 1].min()
    ok = np.flatnonzero((gap >= MIN_GAP) & (mouth_gap >= MOUTH_GAP) & (c[:, 1] > brows - 0.3))
    chosen = [int(ok[np.argmin(np.linalg.norm(c[ok] - v[30], axis=1))])]
    dist = np.linalg.norm(c[ok] - c[chosen[0]], axis=1)
    while len(chosen) < min(count, len(ok)):
        k = int(np.argmax(dist))
        chosen.append(int(ok[k]))
        dist = np.minimum(dist, np.linalg.norm(c[ok] - c[ok[k]], axis=1))
    return np.array(sorted(chosen))


class MeshWarpEngine(WarpEngine):
    """See the module docstring. Implements stccl.edit.engine.Engine (numpy, on the CPU)."""

    name = "meshwarp"
    caps = ENGINES["meshwarp"].caps
    size = None

    def __init__(self, prototypes=None, device: str = "cpu", grid: int = 48, absolute: bool = True,
                 regions: str | None = None):
        data = prototypes if isinstance(prototypes, dict) else _read(
            find_prototypes(prototypes) if prototypes else PACKAGED_MESH)
        # the parent's own reading is not wanted (below): built with absolute=False, it reads none
        super().__init__(data, device, grid, False, regions)
        mesh = data["mesh"]
        canonical = np.asarray(mesh["canonical"], np.float64)
        self.extra = control_vertices(canonical)
        self._place = Placement(ibug68(canonical[:, :2]), canonical[self.extra, :2])
        # in the image plane: the units' depth is not used (seen through each frame's pose
        # estimate, noisy on real clips, it moved the corners with the head's jitter)
        flat = {e: np.asarray(v["displacement"], np.float64)[:, :2] for e, v in mesh["emotions"].items()}
        self.moves68 = {e: constrain(ibug68(d).astype(np.float64)) for e, d in flat.items()}
        self.moves_extra = {e: d[self.extra] for e, d in flat.items()}
        v = ibug68(canonical[:, :2]).astype(np.float64)
        self._lower = (canonical[self.extra, 1] > v[33, 1])[:, None]  # below the nose: the mouth's skin
        # the mouth's width its prototypes were fitted at (the canonical mesh's), whatever tracker
        self._rest_width = float(v[54, 0] - v[48, 0])
        # which emotions the face shows, and how much of each (0..1), is read as the 68-point warp
        # reads it (its FACS prototypes, large and distinct, against the same prior): that
        # displacement is what the edit removes from the 68 points, and on the other vertices
        # the mesh prototypes its weights stand for, at the reading prototypes' size. The shown
        # 68-point displacement goes back to the weights exactly (shown = basis68 @ w).
        reader = load_expression_model(PACKAGED)
        self.expression = reader if absolute else None
        basis68 = np.stack([reader.prototypes[e].ravel() for e in EXPRESSIVE], 1)
        self._weights_of = np.linalg.pinv(basis68)
        reading = basis68.T.reshape(len(EXPRESSIVE), 68, 2)
        mesh68 = np.stack([self.moves68[e] for e in EXPRESSIVE], 0)  # (7, 68, 2)
        extra = np.stack([self.moves_extra[e] for e in EXPRESSIVE], 0)  # (7, K, 2)
        # each mesh prototype's size against its reading prototype's (projection on the 68 points)
        ratio = (reading * mesh68).sum((1, 2)) / np.maximum((mesh68 ** 2).sum((1, 2)), 1e-12)
        # the target's own prototype in reading weights: of the target, no more is removed
        self._size = np.where(ratio > 0, 1.0 / np.where(ratio > 0, ratio, 1.0), np.inf)
        # what one unit of each reading weight removes: on the 68 points the reading prototype,
        # except the mouth's sideways part, and on the other vertices the mesh prototype scaled to
        # the reading's size, except the mouth's skin sideways: those at the mesh prototypes' own
        # size (the module docstring says why)
        self._removal68 = reading.copy()
        self._removal68[:, MOUTH, 0] = mesh68[:, MOUTH, 0]
        self._removal_extra = extra * ratio[:, None, None]
        self._removal_extra[..., 0] = np.where(self._lower.T, extra[..., 0], self._removal_extra[..., 0])
        keep = region_points(regions)
        if keep is not None:
            near = np.linalg.norm(canonical[self.extra, None, :2] - v[None], axis=-1).argmin(1)
            self._keep_extra = np.isin(near, keep)[:, None].astype(np.float64)
        else:
            self._keep_extra = None

    def seen_by(self, view_offset: np.ndarray | None) -> "MeshWarpEngine":
        """The reading moved by `view_offset` (WarpEngine.seen_by); the mouth's width stays the
        canonical mesh's, the one its prototypes were fitted at."""
        other = super().seen_by(view_offset)
        other._rest_width = self._rest_width
        return other

    def _moves(self, lmk: np.ndarray, emotion: str, intensity: np.ndarray, shown) -> tuple[np.ndarray, np.ndarray]:
        """Face-frame moves (B,68,2) and (B,K,2), IOD, intensity applied."""
        b = len(lmk)
        m68 = np.broadcast_to(self.moves68[emotion], (b, 68, 2)).copy()
        mx = np.broadcast_to(self.moves_extra[emotion], (b, len(self.extra), 2)).copy()
        if shown is not None:
            w = to_numpy(shown).astype(np.float64).reshape(b, -1) @ self._weights_of.T
            if emotion in EXPRESSIVE:
                # of the target itself, the face keeps what it shows beyond the prototype: the
                # fitted prototypes are smaller than the reading's, and a face already showing
                # more of the target (or whose own features read as it) would lose some of it
                t = EXPRESSIVE.index(emotion)
                w[:, t] = np.minimum(w[:, t], self._size[t])
            m68 -= np.einsum("be,enc->bnc", w, self._removal68)
            mx -= np.einsum("be,ekc->bkc", w, self._removal_extra)
        if self._keep is not None:
            m68 *= self._keep
            mx *= self._keep_extra
        n = normalise(lmk)
        share = width_share(n, self._rest_width)
        m68[:, MOUTH, 0] *= share
        mx[..., 0] = np.where(self._lower.T, mx[..., 0] * share, mx[..., 0])
        k = soft_intensity(intensity)[:, None, None]
        m68, mx = m68 * k, mx * k
        floor_eyes(n, m68)
        return m68, mx

    def _flow(self, crops, landmarks, emotion: str, intensity, shown) -> EngineOutput:
        size = crops.shape[-1]
        lmk = to_numpy(landmarks).astype(np.float64)
        m68, mx = self._moves(lmk, emotion, to_numpy(intensity), shown)
        turn = to_image(lmk, views(lmk))
        moved = lmk + np.einsum("bij,bnj->bni", turn, m68)
        extra = self._place(lmk)
        extra_moved = extra + np.einsum("bij,bnj->bni", turn, mx)
        return self._spline(lmk, moved, size, (extra, extra_moved))

