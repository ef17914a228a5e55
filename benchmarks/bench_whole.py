"""The whole `stccl edit` process (start-up included), as installed and with RGB pipes, against
ffmpeg's own decode + encode of the same clip, in the same run.

    python -m benchmarks.bench_whole [--repeats 3] [--seconds 20]
    python -m benchmarks.bench_whole --engines warp,meshwarp    # engines against each other

W015's 1080p take and d12 (512²), each looped to `--seconds`; per clip, taking turns: ffmpeg
alone, `stccl edit -e happy` (as installed: the mesh tracker, `pipes = "auto"`), and the same
with `pipes = "rgb24"` (the default before issue 44); the median of `--repeats`. Prints one
markdown table (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from stccl.video import probe

from .bench_edit import CLIPS, looped, transcode_seconds, whole_process_seconds
from .common import shared_clip


def in_turns(src: Path, tmp: Path, repeats: int) -> dict[str, list[float]]:
    """Seconds of each of the three, `repeats` times, taking turns: ffmpeg alone, the edit as
    installed (pipes auto), the edit with rgb24 pipes."""
    times = {"ffmpeg": [], "auto": [], "rgb24": []}
    for _ in range(repeats):
        times["ffmpeg"].append(transcode_seconds(src, tmp / "t.mp4"))
        times["auto"].append(whole_process_seconds(src, tmp / "auto.mp4"))
        times["rgb24"].append(whole_process_seconds(src, tmp / "rgb.mp4", pipes="rgb24"))
    return times


def engines_in_turns(src: Path, tmp: Path, repeats: int, engines: list[str]) -> dict[str, list[float]]:
    """Seconds of ffmpeg alone and of the edit by each engine, `repeats` times, taking turns."""
    times: dict[str, list[float]] = {"ffmpeg": [], **{e: [] for e in engines}}
    for _ in range(repeats):
        times["ffmpeg"].append(transcode_seconds(src, tmp / "t.mp4"))
        for e in engines:
            times[e].append(whole_process_seconds(src, tmp / f"{e}.mp4", engine=e))
    return times


def engines_table(args, engines: list[str]) -> int:
    print("| clip | frames | ffmpeg alone | " + " | ".join(f"{e} | ratio" for e in engines) + " |")
    print("|---|---:|---:|" + "---:|---:|" * len(engines))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for label, rel in CLIPS.items():
            src = looped(shared_clip(rel), tmp / f"{Path(rel).stem}.looped.mp4", args.seconds)
            mid = {k: statistics.median(v) for k, v in engines_in_turns(src, tmp, args.repeats, engines).items()}
            cells = " | ".join(f"{mid[e]:.1f} s | **{mid[e] / mid['ffmpeg']:.2f}×**" for e in engines)
            print(f"| {label} | {probe(src).frames} | {mid['ffmpeg']:.1f} s | {cells} |", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--engines", help="compare these engines (comma-separated) instead of the pipes")
    args = ap.parse_args(argv)
    if args.engines:
        return engines_table(args, args.engines.split(","))
    print("| clip | frames | ffmpeg alone | stccl edit (as installed) | ratio | pipes rgb24 | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for label, rel in CLIPS.items():
            src = looped(shared_clip(rel), tmp / f"{Path(rel).stem}.looped.mp4", args.seconds)
            times = in_turns(src, tmp, args.repeats)
            mid = {k: statistics.median(v) for k, v in times.items()}
            every = "; ".join(f"{k} " + ", ".join(f"{t:.1f}" for t in v) for k, v in times.items())
            print(f"| {label} | {probe(src).frames} | {mid['ffmpeg']:.1f} s | {mid['auto']:.1f} s | "
                  f"**{mid['auto'] / mid['ffmpeg']:.2f}×** | {mid['rgb24']:.1f} s | "
                  f"**{mid['rgb24'] / mid['ffmpeg']:.2f}×** |", flush=True)
            print(f"<!-- {label}, every run (s): {every} -->", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
