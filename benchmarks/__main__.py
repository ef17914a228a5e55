"""All the benchmarks in one run, printed as one table of ratios.

    python -m benchmarks [--quick] [--json] [--sections prep,edit,tracker,train] [--device auto]

Every row is a figure and the baseline it is compared with, both measured in this run, in the
same unit; ratio = value / baseline value. The unit tells which way is better: for fps, reads/s
and img/s a higher ratio is better; for ms/frame, ms/img and MiB a lower one is.

The rows reuse the functions of bench_prep, bench_edit, bench_tracker and bench_train (see each
module for what is measured). `--quick` is a version that finishes in about 1.5 minutes on a
2-core CPU: clips cut to their first frames, one repeat, the tiny training presets, fewer steps,
the memory row's clip looped 8x rather than 20x, one FAN frame, 16 frames a clip for the
trackers. Its figures are noisier and are for checking that everything runs, not for the docs.

The shared clips in ../shared/data are needed (prep, edit and tracker sections).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import PRINT_PEAK_RSS, Timer, ratio_row, shared_clip
from .guard import guarded

SECTIONS = ("prep", "edit", "tracker", "train")
QUICK_FRAMES = 16  # frames per clip in --quick
QUICK_LOOPS = 8  # --quick's long loop for the memory row (20 otherwise)
COLUMNS = ("section", "name", "ratio", "value", "baseline", "baseline_value", "unit", "note")


# -- the machine ----------------------------------------------------------------------------------
def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _mem_gib() -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    return None


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine() -> dict:
    import torch

    cuda = torch.cuda.is_available()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gib": _mem_gib(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "device": "cuda" if cuda else "cpu",
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "load_avg_start": _load(),
    }


# -- helpers --------------------------------------------------------------------------------------
def trimmed(src: Path, tmp: Path, frames: int) -> Path:
    """The first `frames` frames of `src` (re-encoded with libx264, audio cut to match)."""
    from stccl.video import ffmpeg_exe, probe

    dst = tmp / f"{src.stem}_first{frames}.mp4"
    if not dst.exists():
        secs = frames / probe(src).fps
        subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-i", str(src), "-t", f"{secs:.4f}",
                        "-frames:v", str(frames), "-c:v", "libx264", "-preset", "veryfast", "-crf", "18",
                        "-pix_fmt", "yuv420p", "-c:a", "aac", str(dst)], check=True)
    return dst


def clip(rel: str, tmp: Path, quick: bool) -> Path:
    """A shared clip; with --quick, its first QUICK_FRAMES frames (cut once per run, under tmp/..)."""
    src = shared_clip(rel)
    return trimmed(src, tmp.parent, QUICK_FRAMES) if quick else src


LOAD_SCRIPT = """
from stccl import Editor
Editor(engine="warp")
""" + PRINT_PEAK_RSS


def load_rss_mb() -> float:
    """Peak RSS of a process that only imports stccl and builds the warp editor."""
    out = subprocess.run([sys.executable, "-c", LOAD_SCRIPT], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out.strip().splitlines()[-1]) / 1024


# -- sections -------------------------------------------------------------------------------------
def prep_rows(quick: bool, tmp: Path) -> list[dict]:
    from stccl.config import PrepConfig
    from stccl.data.layouts import scan
    from stccl.data.prep import prepare_clip
    from stccl.face import make_backend

    from . import bench_prep as bp

    rows, dlib = [], make_backend("dlib")
    repeats = 1 if quick else 3
    decode = {}
    for label, rel in (("1080p", bp.CLIP_1080), ("512²", bp.CLIP_512)):
        path = clip(rel, tmp, quick)
        dec = max(bp.decode_fps(path) for _ in range(repeats))
        prep, n = max(bp.prep_fps(path, dlib) for _ in range(repeats))
        decode[label] = dec
        rows.append(ratio_row("prep", f"prep (dlib), {label}", prep, "fps",
                              f"decode-only, {label}", dec,
                              f"{path.name}, {n} frames" + ("; goal ratio >= 0.5" if label == "1080p" else "")))
        if label == "1080p":
            rgb, _ = max(bp.prep_fps_rgb(path, dlib) for _ in range(repeats))
            rows.append(ratio_row("prep", "prep (dlib), 1080p, frames read as RGB", rgb, "fps",
                                  f"decode-only, {label}", dec, "before prep read yuv420p at 720p+"))
    path = clip(bp.CLIP_1080, tmp, quick)
    frames, fan_frames = (8, 1) if quick else (60, 30)  # bench_prep: 60 and 30
    dec_ms = 1000 / decode["1080p"]
    rows.append(ratio_row("prep", "tracker dlib, 1080p", bp.tracker_ms(dlib, path, frames), "ms/frame",
                          "decode-only, 1080p", dec_ms, f"{frames} frames"))
    fan = bp.fan_random_backend(tmp)
    rows.append(ratio_row("prep", "tracker FAN, 1080p", bp.tracker_ms(fan, path, fan_frames), "ms/frame",
                          "decode-only, 1080p", dec_ms,
                          f"{fan_frames} frames; random-init FAN: speed only"))
    src = tmp / "prep_src"
    src.mkdir()
    (src / path.name).symlink_to(path)
    prepare_clip(scan(src, "folder")[0], tmp / "prep_out", PrepConfig(), dlib)
    clip_dir = next((tmp / "prep_out" / "clips").iterdir())
    reads = 200 if quick else 1000
    rows.append(ratio_row("prep", "random reads of prepared 256² crops", bp.read_throughput(clip_dir, reads),
                          "frames/s", "decode-only, 1080p (the same clip's source video)",
                          decode["1080p"], f"{reads} reads, one process"))
    return rows


def edit_rows(quick: bool, tmp: Path) -> list[dict]:
    from stccl import Editor
    from stccl.video import probe

    from . import bench_edit as be

    rows = []
    weights = be.random_generator(tmp)
    engines = {"warp": Editor(engine="warp"),
               "neural (random init)": Editor(engine="neural", weights=str(weights))}
    for label, rel in be.CLIPS.items():
        src = clip(rel, tmp, quick)
        n = probe(src).frames
        base = min(be.transcode_seconds(src, tmp / "t.mp4") for _ in range(1 if quick else 2))
        base_ms, baseline = 1000 * base / n, f"ffmpeg decode+encode, {label}"
        rows.append(ratio_row("edit", f"reader->writer passthrough, {label}",
                              1000 * be.passthrough_seconds(src, tmp / "p.mp4") / n, "ms/frame",
                              baseline, base_ms, f"{src.name}, {n} frames"))
        for name, editor in engines.items():
            secs = be.edit_seconds(editor, src, tmp / "e.mp4")
            rows.append(ratio_row("edit", f"edit {name}, {label}", 1000 * secs / n, "ms/frame", baseline,
                                  base_ms, f"{n / secs:.1f} fps" + ("; goal ratio <= 1.5" if name == "warp" else "")))
    rows += whole_process_rows(quick, tmp)
    src = clip(be.CLIPS["512²"], tmp, quick)
    loops = QUICK_LOOPS if quick else 20
    one, two, many = be.peak_rss_sweep(src, tmp, loops)
    rows.append(ratio_row("edit", "peak RSS, warp edit", one, "MiB",
                          "peak RSS, imports + warp editor built, no edit", load_rss_mb(), src.name))
    rows.append(ratio_row("edit", f"peak RSS, warp edit of the clip looped {loops}x", many, "MiB",
                          "peak RSS, warp edit of the clip looped 2x", two,
                          "goal ratio <= 1.2 (both have loop seams: see bench_edit.peak_rss_sweep)"))
    batch = 2 if quick else 8
    bare, eng = neural_vs_bare(weights, reps=1 if quick else 5, batch=batch)
    rows.append(ratio_row("edit", f"neural engine, 256², batch {batch}", eng, "ms/frame",
                          "bare generator forward, same weights and batch", bare, "random-init weights"))
    return rows


WHOLE_SECONDS = 20.0  # the clip length of the whole-process rows (issue 17's measure)


def whole_process_rows(quick: bool, tmp: Path) -> list[dict]:
    """`stccl edit` as a new process, start-up included, against the ffmpeg command alone, on a
    shared clip looped to 20 s (--quick: the quick cut as it is). Median of 3 (1 in --quick),
    taking turns: ffmpeg, the edit as installed (pipes auto), the edit with rgb24 pipes (the
    default before issue 44)."""
    import statistics

    from stccl.video import probe

    from . import bench_edit as be
    from .bench_whole import in_turns

    rows = []
    for label, rel in be.CLIPS.items():
        src = clip(rel, tmp, quick)
        if not quick:
            src = be.looped(src, tmp / f"whole_{src.stem}.mp4", WHOLE_SECONDS)
        times = in_turns(src, tmp, 1 if quick else 3)
        info = probe(src)
        goal = "1.3" if label == "1080p" else "1.5"
        for name, secs in (("", times["auto"]), (", pipes rgb24", times["rgb24"])):
            rows.append(ratio_row("edit", f"stccl edit, whole process{name}, {label}", statistics.median(secs),
                                  "s", f"ffmpeg decode+encode, whole process, {label}", statistics.median(times["ffmpeg"]),
                                  f"{info.duration:.1f} s, {info.frames} frames, default engine, median of "
                                  f"{len(secs)}; goal ratio <= {goal}"))
    return rows


def neural_vs_bare(weights: Path, reps: int, batch: int = 8) -> tuple[float, float]:
    """ms/frame of the bare generator forward (baseline) and of the neural engine around it."""
    import torch

    from stccl.edit.neural import NeuralEngine

    from . import bench_edit as be

    eng = NeuralEngine(weights, device="auto")
    x = torch.rand(batch, 3, eng.size, eng.size, device=eng.device)
    e = torch.zeros(batch, dtype=torch.long, device=eng.device)
    a = torch.ones(batch, device=eng.device)
    cuda = eng.device.type == "cuda"
    with torch.inference_mode(), torch.autocast(eng.device.type, dtype=torch.bfloat16, enabled=cuda):
        eng.model(x, e, a)  # warm-up
        if cuda:
            torch.cuda.synchronize()
        with Timer() as t:
            for _ in range(reps):
                eng.model(x, e, a)
            if cuda:
                torch.cuda.synchronize()
    bare = 1000 * t.seconds / (reps * batch)
    return bare, be.neural_ms_per_frame(weights, batch=batch, reps=reps)


def train_rows(quick: bool, device: str, skipped: list[dict]) -> list[dict]:
    """bench_train, one process per preset and stage (python -m benchmarks.bench_train --json)."""
    rows = []
    steps = 2 if quick else 3
    for preset in ["tiny"] if quick else ["tiny", "paper"]:
        for stage in ("metric", "generator"):
            cmd = [sys.executable, "-m", "benchmarks.bench_train", "--presets", preset, "--stages", stage,
                   "--steps", str(steps), "--device", device, "--json"]
            rc, out, err, why = guarded(cmd)
            if rc != 0:
                why = why or (f"killed by signal {-rc}" if rc < 0 else f"exit status {rc}")
                print(f"[benchmarks] {stage} {preset}: not measured ({why})\n{err[-2000:]}",
                      file=sys.stderr, flush=True)
                skipped.append({"section": "train", "name": f"{stage} {preset}: train step",
                                "reason": why})
                continue
            fwd, train, _ = json.loads(out)
            label = fwd["name"].rsplit(": ", 1)[0]
            if stage == "metric":
                label = f"metric {label}"
            rows.append(ratio_row("train", f"{label}: train step", 1000 / train["value"], "ms/img",
                                  "forward-only, same network and images", 1000 / fwd["value"],
                                  f"{train['value']:.3g} img/s vs {fwd['value']:.3g} img/s; "
                                  f"{train['note']}; {steps} timed steps"))
    return rows


# -- output ---------------------------------------------------------------------------------------
def fmt(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:,.0f}"


def table(rows: list[dict]) -> str:
    lines = ["| section | measure | ratio | value | baseline | baseline value | unit | note |",
             "|---|---|---:|---:|---|---:|---|---|"]
    for r in rows:
        lines.append(f"| {r['section']} | {r['name']} | **{r['ratio']:.2f}** | {fmt(r['value'])} | "
                     f"{r['baseline']} | {fmt(r['baseline_value'])} | {r['unit']} | {r['note']} |")
    return "\n".join(lines)


def describe(m: dict) -> str:
    gpu = m["gpu"] or "none"
    return (f"{m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable), {m['memory_gib']} GiB RAM; "
            f"{m['os']}; Python {m['python']}, torch {m['torch']} ({m['torch_threads']} threads); "
            f"device {m['device']}, GPU {gpu}; load average {m['load_avg_start']} at start, "
            f"{m['load_avg_end']} at end")


@contextlib.contextmanager
def stdout_to_stderr():
    """Send everything written to stdout (this process and its children) to stderr."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def run(sections: list[str], quick: bool, device: str) -> dict:
    t0 = time.perf_counter()
    m = machine()
    m["date"] = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    rows, skipped, seconds = [], [], {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for s in sections:
            t = time.perf_counter()
            print(f"[benchmarks] {s} ...", file=sys.stderr, flush=True)
            if s == "prep":
                (tmp / "prep").mkdir()
                rows += prep_rows(quick, tmp / "prep")
            elif s == "edit":
                (tmp / "edit").mkdir()
                rows += edit_rows(quick, tmp / "edit")
            elif s == "tracker":
                from .bench_tracker import tracker_rows

                rows += tracker_rows(quick, skipped, QUICK_FRAMES)
            else:
                rows += train_rows(quick, device, skipped)
            seconds[s] = round(time.perf_counter() - t, 1)
            print(f"[benchmarks] {s}: {seconds[s]:.0f} s", file=sys.stderr, flush=True)
    m["load_avg_end"] = _load()
    bad = [r["name"] for r in rows if not (math.isfinite(r["ratio"]) and r["ratio"] > 0)]
    if bad:
        print(f"[benchmarks] warning: ratios not finite and positive: {bad}", file=sys.stderr)
    return {"command": "python -m benchmarks " + " ".join(sys.argv[1:]), "quick": quick,
            "sections": sections, "machine": m, "seconds": round(time.perf_counter() - t0, 1),
            "section_seconds": seconds, "rows": rows, "not_measured": skipped}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="about one minute on a 2-core CPU")
    ap.add_argument("--json", action="store_true", help="print the result as JSON only")
    ap.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated: " + ",".join(SECTIONS))
    ap.add_argument("--device", default="auto", help="training benchmarks: auto, cpu, cuda")
    args = ap.parse_args(argv)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown or not sections:
        ap.error(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    if args.json:
        with stdout_to_stderr():
            result = run(sections, args.quick, args.device)
        json.dump(result, sys.stdout, indent=1, ensure_ascii=False)
        print()
    else:
        result = run(sections, args.quick, args.device)
        print(f"\n# Benchmarks{' (--quick)' if args.quick else ''}: ratio = value / baseline value\n")
        print(f"Machine: {describe(result['machine'])}")
        print(f"Date: {result['machine']['date']}; total {result['seconds']:.0f} s\n")
        print(table(result["rows"]))
        for r in result["not_measured"]:
            print(f"\nNot measured: {r['section']}: {r['name']}: {r['reason']}")
    return result


if __name__ == "__main__":
    main()
