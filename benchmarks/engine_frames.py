"""Before/after frames of the warp engines, side by side, for looking at (docs/edit.md).

    python -m benchmarks.engine_frames OUT_DIR [--clips wild/d12.mp4,...] [--emotions happy,sad,...]
                                       [--engines warp,meshwarp] [--frame 0.5] [--seconds 2]

For each clip, one PNG per emotion: the input frame, then the same frame edited by each engine,
cropped around the face. The clips are the shared ones (../shared/data; research-only footage:
the PNGs are written outside the repository and never committed). Edits cover the first
`--seconds` of each clip; `--frame` picks the frame as a fraction of them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from stccl import Editor
from stccl.face import make_backend
from stccl.face.stream import track_video
from stccl.video import VideoReader, probe

from .common import shared_clip
from .readback import cut

CLIPS = ("wild/d12.mp4", "wild/d20.mp4", "mead/W036_level_3_happy_007.mp4", "mead/M026_level_3_disgusted_018.mp4",
         "wild/s18.mp4")


def frame_at(path: Path, index: int) -> np.ndarray:
    with VideoReader(path, chunk=8) as reader:
        k = 0
        for chunk in reader:
            for frame in chunk:
                if k == index:
                    return frame
                k += 1
    raise SystemExit(f"{path}: no frame {index}")


def face_box(path: Path, index: int, backend) -> tuple[int, int, int, int]:
    """A square around the face of frame `index` (1.8x the landmarks' extent)."""
    lmk, _ = track_video(path, backend)
    p = lmk[min(index, len(lmk) - 1)]
    if not np.isfinite(p).all():
        p = lmk[np.isfinite(lmk).all((1, 2))][0]
    c, side = p.mean(0), 1.8 * (p.max(0) - p.min(0)).max()
    x0, y0 = (c - side / 2).astype(int)
    return x0, y0, int(side), int(side)


def crop(image: np.ndarray, box, size: int = 320) -> np.ndarray:
    x0, y0, s, _ = box
    h, w = image.shape[:2]
    pad = cv2.copyMakeBorder(image, s, s, s, s, cv2.BORDER_CONSTANT)
    return cv2.resize(pad[y0 + s:y0 + 2 * s, x0 + s:x0 + 2 * s], (size, size), interpolation=cv2.INTER_AREA)


def label(image: np.ndarray, text: str) -> np.ndarray:
    out = image.copy()
    cv2.putText(out, text, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2, cv2.LINE_AA)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--clips", default=",".join(CLIPS))
    ap.add_argument("--emotions", default="happy,sad,angry,surprised,neutral")
    ap.add_argument("--engines", default="warp,meshwarp")
    ap.add_argument("--frame", type=float, default=0.5)
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    editors = {name: Editor(engine=name) for name in args.engines.split(",")}
    backend = make_backend("dlib")  # where to crop: not the tracker that drives the edit
    with tempfile.TemporaryDirectory() as tmp:
        for rel in args.clips.split(","):
            src = cut(shared_clip(rel), args.seconds, Path(tmp) / Path(rel).name)
            index = int(args.frame * (probe(src).expected_frames - 1))
            box = face_box(src, index, backend)
            before = label(crop(frame_at(src, index), box), "input")
            for emotion in args.emotions.split(","):
                row = [before]
                for name, editor in editors.items():
                    out = Path(tmp) / f"{name}.{emotion}.mp4"
                    editor.edit(src, emotion=emotion, out=out, overwrite=True)
                    row.append(label(crop(frame_at(out, index), box), f"{name}: {emotion}"))
                png = args.out / f"{Path(rel).stem}.{emotion}.png"
                cv2.imwrite(str(png), cv2.cvtColor(np.concatenate(row, 1), cv2.COLOR_RGB2BGR))
                print(png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
