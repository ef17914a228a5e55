"""The 68 iBUG points (dlib's, 300-W's) as a view of MediaPipe's 468-point face mesh.

Each iBUG point is one mesh vertex, or the mean of two (the inner halves of the brows, where
the mesh's upper edge alone sits above dlib's brow). Each was chosen as the vertex nearest dlib's
point, in median over frontal frames of the fitting actors (W009, W036, M026), among the
vertices of the same feature, and mirrored so that the map is left-right symmetric; where
dlib's point sits off the feature the mesh traces, the feature wins: the inner lips are the
mesh's inner edge (dlib's lies inside a wide-open mouth), and the eye corners are the corners. Left and right are the subject's: iBUG point 0 and mesh vertex 33 (the right eye's outer
corner) lie on the image's left in a frontal view. tests/test_mesh_map.py checks the map
against dlib's fit on frontal frames of the MEAD test actors and its left-right symmetry.
"""

from __future__ import annotations

import numpy as np

# iBUG index -> mesh vertices averaged
IBUG_FROM_MESH: tuple[tuple[int, ...], ...] = (
    # jaw 0-16, from the right ear's level down to the chin and up to the left
    (127,), (234,), (177,), (215,), (172,), (136,), (149,), (148,), (152,),
    (377,), (378,), (365,), (397,), (435,), (401,), (454,), (356,),
    # right brow 17-21 (outer to inner), left brow 22-26 (inner to outer)
    (156,), (63,), (105,), (66, 65), (107, 55),
    (336, 285), (296, 295), (334,), (293,), (383,),
    # nose bridge 27-30, nostrils 31-35
    (168,), (197,), (5,), (4,),
    (75,), (99,), (2,), (328,), (305,),
    # right eye 36-41, left eye 42-47 (outer corner, upper lid, inner corner, lower lid)
    (33,), (160,), (158,), (133,), (153,), (144,),
    (362,), (385,), (387,), (263,), (373,), (380,),
    # outer lip 48-59 (right corner, upper, left corner, lower)
    (61,), (39,), (37,), (0,), (267,), (269,), (291,), (321,), (314,), (17,), (84,), (91,),
    # inner lip 60-67 (the mesh's inner edge, which follows the teeth of an open mouth)
    (78,), (82,), (13,), (312,), (308,), (317,), (14,), (87,),
)
assert len(IBUG_FROM_MESH) == 68

_INDEX = np.zeros((68, 2), np.int64)
for _i, _v in enumerate(IBUG_FROM_MESH):
    _INDEX[_i] = (_v[0], _v[-1])


def ibug68(mesh: np.ndarray) -> np.ndarray:
    """(..., 68, D) iBUG points of (..., 468, D) meshes (D = 2 or 3), float32."""
    mesh = np.asarray(mesh, np.float32)
    return (mesh[..., _INDEX[:, 0], :] + mesh[..., _INDEX[:, 1], :]) / 2
