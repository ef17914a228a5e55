"""Head pose (yaw, pitch, roll) from 68 landmarks, by fitting a 3D mean face to them.

The mean face is in inter-ocular distances (IOD), x to the image right, y down, z away from
the camera, from the inner eye corners' midpoint. It is the face mesh's own 3D points (the 68-
point view of stccl.face.mesh_map, depth included) on frontal frames (|yaw| < 6 degrees) of the
fitting actors W009, W036 and M026, median per point, made left-right symmetric. Angles are
approximate (a few degrees), enough to foreshorten an edit and to tell when a view is too far
from frontal for it.

Angles are in degrees: yaw > 0 when the face turns towards the image's right, pitch > 0 when
it tilts up, roll > 0 when it turns clockwise in the image.
"""

from __future__ import annotations

import numpy as np

MEAN_FACE = np.array([
    [-1.09, 0.10, 0.85], [-1.08, 0.33, 0.90], [-1.03, 0.77, 0.52], [-0.97, 0.98, 0.47], [-0.85, 1.30, 0.56], [-0.74, 1.45, 0.39],
    [-0.48, 1.68, 0.14], [-0.20, 1.83, -0.04], [0.00, 1.85, -0.07], [0.20, 1.83, -0.04], [0.48, 1.68, 0.14], [0.74, 1.45, 0.39],
    [0.85, 1.30, 0.56], [0.97, 0.98, 0.47], [1.03, 0.77, 0.52], [1.08, 0.33, 0.90], [1.09, 0.10, 0.85], [-0.93, -0.09, 0.22],
    [-0.78, -0.33, -0.01], [-0.63, -0.39, -0.11], [-0.43, -0.35, -0.20], [-0.21, -0.31, -0.24], [0.21, -0.31, -0.24], [0.43, -0.35, -0.20],
    [0.63, -0.39, -0.11], [0.78, -0.33, -0.01], [0.93, -0.09, 0.22], [0.00, -0.10, -0.26], [0.00, 0.13, -0.43], [0.00, 0.34, -0.63],
    [0.00, 0.48, -0.67], [-0.20, 0.66, -0.34], [-0.13, 0.69, -0.38], [0.00, 0.71, -0.40], [0.13, 0.69, -0.38], [0.20, 0.66, -0.34],
    [-0.70, -0.01, 0.08], [-0.59, -0.08, -0.02], [-0.43, -0.09, -0.05], [-0.27, 0.00, 0.00], [-0.42, 0.04, -0.04], [-0.58, 0.03, -0.01],
    [0.27, 0.00, 0.00], [0.43, -0.09, -0.05], [0.59, -0.08, -0.02], [0.70, -0.01, 0.08], [0.58, 0.03, -0.01], [0.42, 0.04, -0.04],
    [-0.39, 1.11, -0.10], [-0.24, 0.97, -0.34], [-0.12, 0.93, -0.40], [0.00, 0.95, -0.41], [0.12, 0.93, -0.40], [0.24, 0.97, -0.34],
    [0.39, 1.11, -0.10], [0.32, 1.23, -0.22], [0.13, 1.36, -0.30], [0.00, 1.38, -0.31], [-0.13, 1.36, -0.30], [-0.32, 1.23, -0.22],
    [-0.33, 1.10, -0.13], [-0.09, 1.06, -0.32], [0.00, 1.06, -0.33], [0.09, 1.06, -0.32], [0.33, 1.10, -0.13], [0.10, 1.20, -0.28],
    [0.00, 1.21, -0.30], [-0.10, 1.20, -0.28],
])  # (68, 3)

# points that do not move with speech or expression much: upper jaw, nose, eye corners
POSE_POINTS = np.r_[0:4, 13:17, 27:36, 36, 39, 42, 45]


def head_pose(landmarks: np.ndarray) -> np.ndarray:
    """(..., 68, 2) image landmarks -> (..., 3) yaw, pitch, roll in degrees (NaN where the
    landmarks are not finite)."""
    lmk = np.asarray(landmarks, np.float64)
    flat = lmk.reshape(-1, 68, 2)
    out = np.full((len(flat), 3), np.nan)
    ok = np.isfinite(flat).all((1, 2))
    if ok.any():
        out[ok] = np.stack([angles(R) for R in rotations(flat[ok])])
    return out.reshape(lmk.shape[:-2] + (3,))


_MODEL = MEAN_FACE[POSE_POINTS] - MEAN_FACE[POSE_POINTS].mean(0)
_SOLVE = np.linalg.pinv(_MODEL)  # (3, K): least squares of image = model @ A


def rotations(pts: np.ndarray) -> np.ndarray:
    """(B, 68, 2) -> (B, 3, 3) rotations of the mean face (model -> camera).

    A scaled orthographic camera, fitted in closed form: the face's depth is small next to its
    distance, and a video's focal length is unknown. The least-squares affine map from the
    model's points to the image's gives two rows of a scaled rotation; they are normalised,
    made orthogonal (symmetrically), and the third row is their cross product."""
    img = pts[:, POSE_POINTS] - pts[:, POSE_POINTS].mean(1, keepdims=True)
    A = np.einsum("mk,bkc->bcm", _SOLVE, img)  # (B, 2, 3): image = A @ model
    r1 = A[:, 0] / np.linalg.norm(A[:, 0], axis=-1, keepdims=True)
    r2 = A[:, 1] / np.linalg.norm(A[:, 1], axis=-1, keepdims=True)
    mid = r1 + r2
    mid /= np.linalg.norm(mid, axis=-1, keepdims=True)
    across = np.cross(np.cross(r1, r2), mid)  # in the rows' plane, perpendicular to mid
    across /= np.linalg.norm(across, axis=-1, keepdims=True)
    r1, r2 = (mid - across) / np.sqrt(2), (mid + across) / np.sqrt(2)
    return np.stack([r1, r2, np.cross(r1, r2)], 1)


def angles(R: np.ndarray) -> np.ndarray:
    """yaw, pitch, roll (degrees) of a model -> camera rotation R = Rz(roll) Rx(pitch) Ry(yaw)."""
    roll = np.arctan2(-R[0, 1], R[1, 1])  # the face's up axis, seen in the image
    c, s = np.cos(roll), np.sin(roll)
    unrolled = np.array([[c, s, 0], [-s, c, 0], [0, 0, 1]]) @ R
    toward = -unrolled[:, 2]  # where the face points (x right, y down, z away)
    yaw = np.arcsin(np.clip(toward[0], -1, 1))
    pitch = np.arctan2(-toward[1], -toward[2])
    return np.degrees([yaw, pitch, roll])


def in_plane(R: np.ndarray) -> np.ndarray:
    """(2, 2) map of a displacement in the face's plane (x right, y down, IOD units) to the
    image, for a face of rotation R: the 2D part of R, rotated and scaled so that the eye
    axis maps to a unit vector. Frontal, it is the identity turned by the roll."""
    A = R[:2, :2]
    eye = A[:, 0]
    n = max(float(np.linalg.norm(eye)), 1e-6)
    c, s = eye / n
    unroll = np.array([[c, s], [-s, c]])
    return unroll @ A / n


def views(landmarks: np.ndarray) -> np.ndarray:
    """(B,68,2) image landmarks -> (B,2,2) `in_plane` maps of each frame's head pose."""
    return np.stack([in_plane(R) for R in rotations(np.asarray(landmarks, np.float64))])
