"""The whole `stccl edit` process (start-up included) with each tracker, against ffmpeg's own
decode + encode of the same clip, in the same run.

    python -m benchmarks.bench_whole [--repeats 2] [--seconds 20]

W015's 1080p take and d12 (512²), each looped to `--seconds`; per clip, in turn: ffmpeg alone,
`stccl edit -e happy --tracker dlib` (the default before the mesh), and `stccl edit -e happy`
(the mesh); best of `--repeats`. Prints one markdown table (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from stccl.video import probe

from .bench_edit import CLIPS, looped, transcode_seconds, whole_process_seconds
from .common import shared_clip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args(argv)
    print("| clip | frames | ffmpeg alone | stccl edit, dlib | ratio | stccl edit, mesh (default) | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for label, rel in CLIPS.items():
            src = looped(shared_clip(rel), tmp / f"{Path(rel).stem}.looped.mp4", args.seconds)
            times = {"ffmpeg": [], "dlib": [], "mesh": []}
            for _ in range(args.repeats):
                times["ffmpeg"].append(transcode_seconds(src, tmp / "t.mp4"))
                times["dlib"].append(whole_process_seconds(src, tmp / "dlib.mp4", tracker="dlib"))
                times["mesh"].append(whole_process_seconds(src, tmp / "mesh.mp4"))
            best = {k: min(v) for k, v in times.items()}
            frames = probe(src).frames
            print(f"| {label} | {frames} | {best['ffmpeg']:.1f} s | {best['dlib']:.1f} s | "
                  f"**{best['dlib'] / best['ffmpeg']:.2f}×** | {best['mesh']:.1f} s | "
                  f"**{best['mesh'] / best['ffmpeg']:.2f}×** |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
