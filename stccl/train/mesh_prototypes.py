"""The mesh prototypes fitted on real takes: how strongly each action unit of
stccl.edit.mesh_facs acts in each emotion, from the same sentence spoken neutral and with the
emotion. Numpy only.

For a take, each coordinate of the normalised mesh is regressed over its frames on the lip
opening, and the shape at one common opening is kept, so the speech drops out; emotion less
neutral is what the emotion does. Along a prepared pair's DTW path (`pair_displacement`), the
same regression runs on the frame-by-frame difference. An emotion's unit weights are then the
non-negative least squares fit of its units' fields (x, y) to the mean displacement, each
coordinate weighted by how little it moves in neutral speech; the lids' units, which the mesh
tracker barely sees move (UNSEEN), keep their FACS weight and the others fit the rest.
"""

from __future__ import annotations

import numpy as np

from ..edit.expression import nnls
from ..edit.mesh_facs import EMOTION_AUS, symmetric, unit_fields
from ..edit.mesh_shape import align_mesh, normalise_mesh
from ..face.measures import mouth_opening
from ..face.mesh_map import ibug68

SPREAD_FLOOR = 0.01  # IOD: landmark noise, below which a coordinate's stillness is not trusted
MIN_COS = 0.3  # below it a fit explains too little of the takes: the FACS weights are kept
FACS_WEIGHT = 1.4  # each unit's weight where the FACS description is kept (the 68-point GAIN)
# units the mesh tracker cannot measure, which keep FACS_WEIGHT: the lids. Its eye opening moves
# a fifth to a third as far as dlib's and the attention mesh's on the same takes (W009's
# surprised, against her neutral: +0.008 IOD, against +0.036 and +0.042; angry -0.011, against
# -0.034 and -0.033), so a fit would set the lid raiser and tightener far too low
UNSEEN = ("AU5", "AU7")


def _finite(mesh: np.ndarray) -> np.ndarray:
    mesh = np.asarray(mesh, np.float64)
    return mesh[np.isfinite(mesh).all((1, 2))]


def openings(mesh: np.ndarray) -> np.ndarray:
    """(N, 468, 3) image-pixel meshes -> (N,) lip opening of their 68-point view (IOD)."""
    return mouth_opening(ibug68(np.asarray(mesh)[..., :2]))


def _aligned(mesh: np.ndarray, reference: np.ndarray | None) -> np.ndarray:
    """Normalised meshes, turned onto `reference` in 3D where one is given (head pose out)."""
    n = normalise_mesh(mesh)
    return n if reference is None else align_mesh(n, reference)


def shape_at(mesh: np.ndarray, opening: float, reference: np.ndarray | None = None) -> np.ndarray | None:
    """A take's normalised shape (468, 3) at lip opening `opening`: each coordinate regressed
    on the opening over the take's frames. None with fewer than 3 frames with a face."""
    mesh = _finite(mesh)
    if len(mesh) < 3:
        return None
    n, o = _aligned(mesh, reference), openings(mesh)
    x = np.stack([np.ones_like(o), o - opening], 1)
    coef, *_ = np.linalg.lstsq(x, n.reshape(len(n), -1), rcond=None)
    return coef[0].reshape(468, 3)


def take_displacement(neutral: np.ndarray, other: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray | None:
    """(468, 3) what `other` (a take's meshes) does beyond `neutral` (the same sentence, same
    person), at the neutral take's mean lip opening."""
    neutral = _finite(neutral)
    if len(neutral) < 3:
        return None
    at = float(openings(neutral).mean())
    a, b = shape_at(neutral, at, reference), shape_at(other, at, reference)
    return None if a is None or b is None else b - a


def pair_displacement(neutral: np.ndarray, other: np.ndarray, path: np.ndarray,
                      reference: np.ndarray | None = None) -> np.ndarray | None:
    """(468, 3) along a DTW path (K, 2) of frame indices (neutral, other): the difference of
    the normalised meshes regressed on the opening difference, its intercept."""
    path = np.asarray(path, int)
    a, b = np.asarray(neutral, np.float64)[path[:, 0]], np.asarray(other, np.float64)[path[:, 1]]
    ok = np.isfinite(a).all((1, 2)) & np.isfinite(b).all((1, 2))
    if ok.sum() < 3:
        return None
    a, b = a[ok], b[ok]
    d = (_aligned(b, reference) - _aligned(a, reference)).reshape(len(a), -1)
    x = np.stack([np.ones(len(a)), openings(b) - openings(a)], 1)
    coef, *_ = np.linalg.lstsq(x, d, rcond=None)
    return coef[0].reshape(468, 3)


def canonical_face(neutral_takes: list[np.ndarray]) -> np.ndarray:
    """The canonical face (468, 3): the mean of the takes' median normalised meshes, turned
    frontal and made symmetric."""
    medians = [np.median(normalise_mesh(_finite(m)), 0) for m in neutral_takes if len(_finite(m)) >= 3]
    if not medians:
        raise ValueError("no neutral take with a face")
    return symmetric(np.mean(medians, 0))


def speech_spread(neutral_takes: list[np.ndarray], reference: np.ndarray | None = None) -> np.ndarray:
    """(468, 3) each coordinate's spread over time in neutral speech (IOD), mean over takes."""
    return np.mean([_aligned(_finite(m), reference).std(0) for m in neutral_takes if len(_finite(m)) >= 3], 0)


def fit_weights(observed: dict[str, list[np.ndarray]], canonical: np.ndarray,
                spread: np.ndarray) -> tuple[dict[str, dict[str, float]], dict[str, dict]]:
    """{emotion: [(468, 3) displacements]} -> ({emotion: {unit: weight}}, {emotion: fit quality}).
    Units of UNSEEN keep FACS_WEIGHT; the others are fitted to what those leave. Quality: `cos`
    between the fitted and the observed mean displacement (x, y, weighted), and `takes`."""
    fields = unit_fields(canonical)
    w = (1.0 / np.sqrt(np.asarray(spread, np.float64)[:, :2] ** 2 + SPREAD_FLOOR ** 2)).ravel()
    weights, quality = {}, {}
    for emotion, units in EMOTION_AUS.items():
        found = observed.get(emotion) or []
        if not units or not found:
            continue
        target = np.mean(found, 0)[:, :2].ravel() * w
        basis = np.stack([fields[u][:, :2].ravel() * w for u in units], 1)
        fixed = np.array([u in UNSEEN for u in units])
        fitted = np.where(fixed, FACS_WEIGHT, 0.0)
        if not fixed.all():
            rest = target - basis[:, fixed] @ fitted[fixed]
            fitted[~fixed] = nnls(basis[:, ~fixed], rest[None])[0]
        weights[emotion] = {u: float(v) for u, v in zip(units, fitted)}
        model = basis @ fitted
        cos = float(model @ target / max(np.linalg.norm(model) * np.linalg.norm(target), 1e-12))
        quality[emotion] = {"cos": round(cos, 3), "takes": len(found)}
    return weights, quality


def mesh_part(neutral_takes: list[np.ndarray], observed: dict[str, list[np.ndarray]], source: str) -> dict:
    """The "mesh" part of a prototypes file (stccl.edit.mesh_facs.prototypes_file) fitted on
    takes: the canonical face from `neutral_takes` (image-pixel meshes), each emotion's unit
    weights from `observed` displacements (`take_displacement` or `pair_displacement` with the
    canonical face as reference). An emotion without takes, or whose fit explains little of
    them (cos < MIN_COS), keeps the FACS weights."""
    from ..edit.mesh_facs import prototypes_file

    canonical = canonical_face(neutral_takes)
    spread = speech_spread(neutral_takes, canonical)
    fitted, quality = fit_weights(observed, canonical, spread)
    weights = {}
    for emotion, units in EMOTION_AUS.items():
        q = quality.get(emotion)
        if units and (q is None or q["cos"] < MIN_COS):
            weights[emotion] = {u: FACS_WEIGHT for u in units}
            quality.setdefault(emotion, {"takes": 0})["kept"] = "facs"
        elif units:
            weights[emotion] = fitted[emotion]
    return prototypes_file(canonical, weights, source=source, fit=quality)
