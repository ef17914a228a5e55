"""Mesh shapes in the canonical face frame, and the mesh's vertices placed on any face from
its 68 points.

`normalise_mesh` puts a (468, 3) mesh in the frame the mesh prototypes are given in: the eye
centres of its 68-point view at (-0.5, 0) and (0.5, 0), depth in the same units, centred on
the mesh's mean depth. `Placement` carries vertices of the canonical face onto a frame through a
thin-plate spline fitted from the canonical face's 68-point view to the frame's 68 points: one
fixed linear map (vertices = L @ landmarks), so any tracker's landmarks place them, smoothly.
"""

from __future__ import annotations

import numpy as np

from ..face.mesh_map import ibug68
from .tps import _kernel


def normalise_mesh(mesh: np.ndarray) -> np.ndarray:
    """(N, 468, 3) image-pixel meshes -> (N, 468, 3) normalised (see the module docstring)."""
    d = np.asarray(mesh, np.float64)
    v = ibug68(d[..., :2]).astype(np.float64).reshape(-1, 68, 2)
    left, right = v[:, 36:42].mean(1), v[:, 42:48].mean(1)
    centre, eye = (left + right) / 2, right - left
    iod = np.linalg.norm(eye, axis=-1)
    c, s = eye[:, 0] / iod, eye[:, 1] / iod
    x, y = d[..., 0] - centre[:, None, 0], d[..., 1] - centre[:, None, 1]
    z = d[..., 2] / iod[:, None]
    return np.stack([(c[:, None] * x + s[:, None] * y) / iod[:, None],
                     (-s[:, None] * x + c[:, None] * y) / iod[:, None],
                     z - z.mean(1, keepdims=True)], -1)


class Placement:
    """Canonical vertices (K, 2) placed on frames from their 68 points: `__call__((B,68,2))`
    -> (B, K, 2), exact for the canonical face itself (any similarity of it included)."""

    def __init__(self, canonical68: np.ndarray, vertices: np.ndarray, reg: float = 1e-3):
        src = np.asarray(canonical68, np.float64)
        n = len(src)
        k = _kernel(src[None], src[None])[0] + reg * np.eye(n)
        p = np.concatenate([np.ones((n, 1)), src], 1)
        system = np.block([[k, p], [p.T, np.zeros((3, 3))]])
        # the spline's coefficients for values y at the 68 points: inv(system)[:, :n] @ y
        coef = np.linalg.inv(system)[:, :n]
        q = np.asarray(vertices, np.float64)
        basis = np.concatenate([_kernel(q[None], src[None])[0], np.ones((len(q), 1)), q], 1)
        self.matrix = basis @ coef  # (K, 68)

    def __call__(self, landmarks: np.ndarray) -> np.ndarray:
        return np.einsum("kn,bnc->bkc", self.matrix, np.asarray(landmarks, np.float64))


# vertices no expression moves much: the nose's bridge and tip, the eyes' corners, the temples
# and the face's sides at eye level
RIGID = (168, 6, 197, 195, 5, 4, 1, 33, 133, 362, 263, 127, 356, 234, 454, 162, 389)


def align_mesh(mesh: np.ndarray, reference: np.ndarray, points=RIGID) -> np.ndarray:
    """(N, 468, 3) meshes (any frame) turned, scaled and moved onto `reference` (468, 3) in 3D
    by their `points` (least squares, Umeyama): head pose and distance taken out, expression kept."""
    d = np.asarray(mesh, np.float64)
    ref = np.asarray(reference, np.float64)[list(points)]
    src = d[:, list(points)]
    mu_s, mu_r = src.mean(1, keepdims=True), ref.mean(0)
    a, b = src - mu_s, ref - mu_r
    cov = np.einsum("nki,kj->nij", a, b)  # (N, 3, 3)
    u, s, vt = np.linalg.svd(cov)
    sign = np.sign(np.linalg.det(u @ vt))
    fix = np.ones((len(d), 3))
    fix[:, 2] = sign
    rot = np.einsum("nij,nj,njk->nik", u, fix, vt)  # maps a row vector: x @ rot
    scale = (s * fix).sum(1) / (a ** 2).sum((1, 2))
    return np.einsum("nki,nij->nkj", d - mu_s, rot) * scale[:, None, None] + mu_r
