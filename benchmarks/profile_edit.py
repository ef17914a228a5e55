"""Where an edit's time goes, stage by stage.

    python -m benchmarks.profile_edit [--seconds 20] [--pipes auto] [--tracker auto] [CLIP ...]

Runs `Editor().edit(CLIP, emotion="happy")` in this process (the default engine, no weights)
with a timer around each stage the main thread runs, and prints per stage its wall time and
the main thread's CPU time, in ms a frame:
- track: the tracker's fit of each frame (FaceTracker.__call__);
- spread: the mouth-fit check (stccl.face.spread.fit_spread);
- smooth + align: smoothing and the crop's alignment (FaceStream._emit);
- expression + spline: the engine (the expression read and the thin-plate spline);
- paste: the mask and the paste into the frame;
- encode (pipe): handing frames to the encoder (VideoWriter.write and close: wall is time
  blocked on the pipe);
- decode (wait): the main thread waiting for decoded frames.
Beside them: the edit's whole wall time, the CPU time of the whole process (all threads) and of
its ffmpeg children, and, measured in the same run, ffmpeg's own decode + encode of the clip
(the floor: `bench_edit.transcode_seconds`) and decode alone (`-f null`), wall and CPU.

Default clips: the whole-process benchmark's (bench_edit.CLIPS), looped to `--seconds`. The
wrappers name functions of the library; a rename shows up as an error here (and in
tests/test_benchmarks.py), not as a silent zero.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGES = ("track", "spread", "smooth + align", "expression + spline", "paste", "encode (pipe)",
          "decode (wait)")


class Clock:
    """Wall and main-thread CPU seconds per stage, from wrappers around library functions."""

    def __init__(self) -> None:
        self.wall = dict.fromkeys(STAGES, 0.0)
        self.cpu = dict.fromkeys(STAGES, 0.0)
        self._depth = 0

    def wrap(self, owner, name: str, stage: str) -> None:
        inner = getattr(owner, name)  # AttributeError when the library renamed it

        @functools.wraps(inner)
        def timed(*args, **kwargs):
            if self._depth:  # a stage inside another counts for the outer one
                return inner(*args, **kwargs)
            self._depth += 1
            w, c = time.perf_counter(), time.thread_time()
            try:
                return inner(*args, **kwargs)
            finally:
                self.wall[stage] += time.perf_counter() - w
                self.cpu[stage] += time.thread_time() - c
                self._depth -= 1

        setattr(owner, name, timed)

    def wrap_iter(self, owner, name: str, stage: str) -> None:
        """The time a generator method's consumer waits for each item."""
        inner = getattr(owner, name)

        @functools.wraps(inner)
        def timed(*args, **kwargs):
            it = inner(*args, **kwargs)
            while True:
                w, c = time.perf_counter(), time.thread_time()
                try:
                    item = next(it)
                except StopIteration:
                    return
                finally:
                    self.wall[stage] += time.perf_counter() - w
                    self.cpu[stage] += time.thread_time() - c
                yield item

        setattr(owner, name, timed)


def instrumented() -> Clock:
    """A Clock wired into the edit's stages (for this process's edits from now on)."""
    from stccl.edit import pipeline
    from stccl.face import stream, tracker
    from stccl.video import reader, writer

    clock = Clock()
    clock.wrap(tracker.FaceTracker, "__call__", "track")
    clock.wrap(stream, "fit_spread", "spread")
    clock.wrap(stream.FaceStream, "_emit", "smooth + align")
    clock.wrap(pipeline, "engine_changes", "expression + spline")
    for name in ("face_mask", "paste_change", "paste_change_yuv"):
        clock.wrap(pipeline, name, "paste")
    clock.wrap(writer.VideoWriter, "write", "encode (pipe)")
    clock.wrap(writer.VideoWriter, "close", "encode (pipe)")
    clock.wrap_iter(reader.VideoReader, "__iter__", "decode (wait)")
    return clock


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _cpu_of(run) -> tuple[float, float]:
    """Wall and CPU seconds of `run()`, which runs commands (its CPU: the children's it added)."""
    c, w = _children_cpu(), time.perf_counter()
    run()
    return time.perf_counter() - w, _children_cpu() - c


def profile(src: Path, tmp: Path, pipes: str = "auto", tracker: str = "auto") -> dict:
    """One clip: the floor (ffmpeg decode + encode), decode alone, and the edit's stages."""
    from stccl.edit.editor import Editor
    from stccl.video import probe
    from stccl.video.probe import ffmpeg_exe

    from .bench_edit import transcode_seconds

    floor = _cpu_of(lambda: transcode_seconds(src, tmp / "floor.mp4"))
    decode = _cpu_of(lambda: subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(src),
                                             "-map", "0:v:0", "-f", "null", "-"], check=True))
    editor = Editor(engine="warp", tracker=tracker, pipes=pipes)
    clock = instrumented()
    c_self, c_kids, w = _self_cpu(), _children_cpu(), time.perf_counter()
    summary = editor.edit(src, emotion="happy", out=tmp / "edit.mp4", overwrite=True)
    wall = time.perf_counter() - w
    info = probe(src)
    return {"clip": src.name, "frames": summary.frames, "size": (info.width, info.height), "pipes": pipes,
            "tracker": editor.tracker, "wall": wall, "self_cpu": _self_cpu() - c_self,
            "ffmpeg_cpu": _children_cpu() - c_kids, "floor": floor, "decode": decode,
            "stages_wall": clock.wall, "stages_cpu": clock.cpu}


def table(result: dict) -> str:
    n = result["frames"]
    ms = lambda s: f"{1000 * s / n:.2f}"  # noqa: E731
    w, h = result["size"]
    lines = [f"{result['clip']} ({w}x{h}, {n} frames, pipes {result['pipes']}, tracker {result['tracker']})",
             "", "| stage | wall ms/frame | main-thread CPU ms/frame |", "|---|---:|---:|"]
    for stage in STAGES:
        lines.append(f"| {stage} | {ms(result['stages_wall'][stage])} | {ms(result['stages_cpu'][stage])} |")
    staged = sum(result["stages_wall"].values())
    lines += [f"| other (main thread) | {ms(result['wall'] - staged)} | |",
              f"| **the edit** (in process, no start-up) | {ms(result['wall'])} | "
              f"{ms(result['self_cpu'])} (all threads) + {ms(result['ffmpeg_cpu'])} (ffmpeg) |",
              f"| ffmpeg decode + encode (the floor) | {ms(result['floor'][0])} | {ms(result['floor'][1])} |",
              f"| ffmpeg decode alone | {ms(result['decode'][0])} | {ms(result['decode'][1])} |",
              "", f"edit / floor, wall: {result['wall'] / result['floor'][0]:.2f}x; CPU: "
              f"{(result['self_cpu'] + result['ffmpeg_cpu']) / result['floor'][1]:.2f}x"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from .bench_edit import CLIPS, looped
    from .common import shared_clip

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="*", type=Path)
    ap.add_argument("--seconds", type=float, default=20.0, help="loop each clip to this length (0: as it is)")
    ap.add_argument("--pipes", default="auto")
    ap.add_argument("--tracker", default="auto")
    args = ap.parse_args(argv)
    clips = args.clips or [shared_clip(rel) for rel in CLIPS.values()]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for src in clips:
            if args.seconds:
                src = looped(src, tmp / f"{src.stem}.looped.mp4", args.seconds)
            print(table(profile(src, tmp, args.pipes, args.tracker)) + "\n", flush=True)
    return 0


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
