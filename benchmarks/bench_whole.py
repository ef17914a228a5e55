"""The whole `stccl edit` process (start-up included), as installed and with RGB pipes, against
ffmpeg's own decode + encode of the same clip, in the same run.

    python -m benchmarks.bench_whole [--repeats 3] [--seconds 20]
    python -m benchmarks.bench_whole --engines warp,meshwarp    # engines against each other
    python -m benchmarks.bench_whole --before DIR    # against the code of an older checkout

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


def arms_in_turns(src: Path, tmp: Path, repeats: int, arms: dict[str, dict]) -> dict[str, list[float]]:
    """Seconds of ffmpeg alone and of each arm (keyword arguments of whole_process_seconds),
    `repeats` times, taking turns."""
    times: dict[str, list[float]] = {"ffmpeg": [], **{a: [] for a in arms}}
    for _ in range(repeats):
        times["ffmpeg"].append(transcode_seconds(src, tmp / "t.mp4"))
        for a, options in arms.items():
            times[a].append(whole_process_seconds(src, tmp / f"{a}.mp4", **options))
    return times


def arms_table(args, arms: dict[str, dict]) -> int:
    print("| clip | frames | ffmpeg alone | " + " | ".join(f"{a} | ratio" for a in arms) + " |")
    print("|---|---:|---:|" + "---:|---:|" * len(arms))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for label, rel in CLIPS.items():
            src = looped(shared_clip(rel), tmp / f"{Path(rel).stem}.looped.mp4", args.seconds)
            times = arms_in_turns(src, tmp, args.repeats, arms)
            mid = {k: statistics.median(v) for k, v in times.items()}
            cells = " | ".join(f"{mid[a]:.1f} s | **{mid[a] / mid['ffmpeg']:.2f}×**" for a in arms)
            every = "; ".join(f"{k} " + ", ".join(f"{t:.1f}" for t in v) for k, v in times.items())
            print(f"| {label} | {probe(src).frames} | {mid['ffmpeg']:.1f} s | {cells} |", flush=True)
            print(f"<!-- {label}, every run (s): {every} -->", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--engines", help="compare these engines (comma-separated) instead of the pipes")
    ap.add_argument("--before", type=Path,
                    help="compare the edit as installed with the same edit by the code in this folder "
                         "(a checkout of an older commit: `git worktree add DIR COMMIT`), instead of the pipes")
    args = ap.parse_args(argv)
    if args.engines:
        return arms_table(args, {e: {"engine": e} for e in args.engines.split(",")})
    if args.before:
        return arms_table(args, {"now": {}, "before": {"code": args.before.resolve()}})
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
