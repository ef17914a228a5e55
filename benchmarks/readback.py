"""Every shared clip edited to each emotion with the default (warp) engine, and read back afresh
on every frame (stccl.eval.readback): faces found, lips kept, expression moved, and the mouth
shape kept (stccl.face.measures: width_corr, rounding_corr, with the input's std; NaN where it
does not move).

    python -m benchmarks.readback [--emotions happy,sad,angry,surprised] [--seconds 0] [--json F]
                                  [--keep DIR] [--clips 0Fi83,d12] [--pipes auto|rgb24]

`--seconds N` edits only each clip's first N seconds (0 = whole clips); `--keep DIR` keeps the
inputs and outputs there (for a second reader: benchmarks/facemesh_readback.py); `--clips` keeps
the clips whose names contain one of the given parts; `--pipes` is the edit's (auto: yuv420p
wherever the edit allows, the default; rgb24: RGB frames, to compare the two). Prints one
markdown table, the one in docs/edit.md. Needs ../shared/data.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from stccl import Editor
from stccl.edit.warp import load_expression_model, load_prototypes
from stccl.eval.landmarks import expression_shift
from stccl.eval.readback import faces_found, intended_move, lip_figures, lips_kept
from stccl.face.measures import mouth_rounding, mouth_width, rounding_corr, width_corr
from stccl.face import make_backend
from stccl.face.fresh import read_landmarks
from stccl.video import ffmpeg_exe

from .common import SHARED, shared_clip

CLIPS = ["mead/M003_level_1_happy_024.mp4", "mead/M026_level_3_disgusted_018.mp4",
         "mead/M030_level_3_angry_016.mp4", "mead/W015_level_1_neutral_030.mp4",
         "mead/W036_level_3_happy_007.mp4", "wild/0Fi83BHQsMA_00002.mp4",
         "wild/OzA6jRYjVQs_00004.mp4", "wild/d12.mp4", "wild/d20.mp4", "wild/s18.mp4"]


def cut(src: Path, seconds: float | None, dst: Path) -> Path:
    """The first `seconds` of `src` re-encoded to `dst` (H.264 + AAC); `src` itself for 0/None."""
    if not seconds:
        return src
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-i", str(src), "-t", str(seconds),
                    "-c:v", "libx264", "-preset", "ultrafast", "-crf", "16", "-c:a", "aac", str(dst)],
                   check=True)
    return dst


def read_edit(lmk, out: Path, move, backend) -> dict:
    """stccl.eval.readback.read_back of `out` against the input's fresh landmarks `lmk`, plus the
    mouth shape's figures, from one read of `out`."""
    b = read_landmarks(out, backend)
    n = min(len(lmk), len(b))
    a, b = lmk[:n], b[:n]
    fig = {"faces_in": faces_found(a), "faces_out": faces_found(b), **lip_figures(a, b)}
    shift = expression_shift(a, b, move)
    fig["expr_shift_ratio"], fig["expr_cos"] = shift["expr_shift_ratio"], shift["expr_cos"]
    both = np.isfinite(a).all((1, 2)) & np.isfinite(b).all((1, 2))
    fig["width_std"] = float(mouth_width(a[both]).std()) if both.any() else float("nan")
    fig["rounding_std"] = float(mouth_rounding(a[both]).std()) if both.any() else float("nan")
    fig["width_corr"], fig["rounding_corr"] = width_corr(a, b), rounding_corr(a, b)
    return fig


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--emotions", default="happy,sad,angry,surprised")
    ap.add_argument("--seconds", type=float, default=0.0)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--keep", type=Path)
    ap.add_argument("--clips", default="", help="comma-separated parts of clip names (default: all)")
    ap.add_argument("--pipes", default="auto", choices=["auto", "rgb24"])
    args = ap.parse_args(argv)
    emotions = args.emotions.split(",")
    parts = [p for p in args.clips.split(",") if p]
    clips = [rel for rel in CLIPS if not parts or any(p in rel for p in parts)]
    backend, editor, protos = make_backend("dlib"), Editor(engine="warp", pipes=args.pipes), load_prototypes()
    model = load_expression_model()  # the edit is absolute: the move asked is target - shown
    rows = []
    print("| clip | emotion | faces in/out | mouth std | mouth corr | mouth dev | lips kept | expr shift ratio | expr cos "
          "| turned frames | unsure frames | width std | width corr | rounding std | rounding corr |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for rel in clips:
            src = cut(shared_clip(rel), args.seconds, folder / Path(rel).name)
            lmk = read_landmarks(src, backend)
            for emotion in ["same", *emotions]:
                # "same": an unchanged re-encode (intensity 0), the reader's own floor
                out = folder / f"{Path(rel).stem}.{emotion}.mp4"
                s = editor.edit(src, emotion="happy" if emotion == "same" else emotion, out=out,
                                overwrite=True, intensity=0.0 if emotion == "same" else None)
                move = intended_move(lmk, protos[emotion], model) if emotion != "same" else None
                fig = read_edit(lmk, out, move, backend)
                fig.update(clip=rel, emotion=emotion, kept=lips_kept(fig), turned=s.turned_frames,
                           unsure=s.unsure_frames, frames=s.frames, faces_in=faces_found(lmk))
                rows.append(fig)
                print(f"| {Path(rel).stem} | {emotion} | {fig['faces_in']:.2f}/{fig['faces_out']:.2f} | "
                      f"{fig['mouth_std']:.3f} | {fig['mouth_corr']:.3f} | {fig['mouth_dev']:.3f} | "
                      f"{'yes' if fig['kept'] else 'NO'} | {fig['expr_shift_ratio']:.2f} | "
                      f"{fig['expr_cos']:.2f} | {s.turned_frames}/{s.frames} | "
                      f"{s.unsure_frames}/{s.frames} | {fig['width_std']:.3f} | {fig['width_corr']:.3f} | "
                      f"{fig['rounding_std']:.3f} | {fig['rounding_corr']:.3f} |", flush=True)
    edits = [r for r in rows if r["emotion"] != "same"]
    kept = sum(r["kept"] for r in edits)
    print(f"\nlips kept on {kept}/{len(edits)} edits; clips from {SHARED}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
