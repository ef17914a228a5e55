"""STCCL ablation (issue 5): the same generator trained twice on the same data, with the same
preset, steps and seed, once with the STCCL loss (weight 1) and once without (weight 0); each
edits the same clips into the same emotions, and the project's dlib tracker measures on input
and output how far the mouth moved away from the input's:

  mouth corr   Pearson correlation of the inner-lip opening, input vs output (1 = same speech)
  M-LMD        mean distance of the centred mouth landmarks, in inter-ocular distances (0 = same)
  face change  mean |output - input| inside the input's face outline, in 8-bit levels (0 = untouched)
  crop change  the generator's own change |G(x, e, 1) - x| on the aligned crops of the same clips,
               inside the face mask the editor pastes through and outside it (8-bit levels):
               tells a change the paste-back keeps from one it throws away

Reference rows: the training-free warp engine, and the warp engine at intensity 0 (the pipeline
and the re-encode alone: the floor of all three measures on these clips).

    python -m benchmarks.ablation_stccl --data PREP --metric METRIC.safetensors [--preset tiny]
        [--steps N] [--clips A.mp4 B.mp4] [--emotions happy,sad,angry] [--seconds S] [--out DIR]

Resumable: a trained arm under --out is reused (or resumed), and so are edits and tracks newer
than their weights. Writes OUT/ablation.json and OUT/ablation.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from .common import print_rows, row

ARMS = {"stccl": 1.0, "no_stccl": 0.0}  # run folder -> STCCL loss weight
MEASURES = ("mouth_corr", "mlmd", "face_change", "face_frames", "crop_face", "crop_outside")


def busy() -> bool:
    """True when the 1-minute load average is at least half the CPU count (e.g. a CI run)."""
    try:
        return os.getloadavg()[0] >= 0.5 * (os.cpu_count() or 1)
    except OSError:
        return False


# -- training -------------------------------------------------------------------------------------
def train_arm(data: Path, run: Path, weight: float, args) -> dict:
    """Train (or resume, or reuse) one arm; returns its steps, wall time and last logged values."""
    from stccl.train.presets import generator_preset
    from stccl.train.generator import train_generator

    cfg = generator_preset(args.preset)
    cfg.loss.stccl = weight
    cfg.metric = str(Path(args.metric).resolve())
    if args.steps:
        cfg.train.steps = args.steps
    cfg.train.seed = args.seed
    cfg.train.device = args.device
    timing_file = run / "ablation_timing.json"
    timing = json.loads(timing_file.read_text()) if timing_file.is_file() else {"steps": 0, "seconds": 0.0}

    def on_step(step: int, total: int, logs: dict) -> None:
        if step % max(1, total // 10) == 0 or step == total:
            loss = f" loss {logs['loss']:.3f}" if "loss" in logs else ""
            print(f"  {run.name}: step {step}/{total}{loss} ({time.perf_counter() - t0:.0f} s)",
                  file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    result = train_generator(data, run, cfg, on_step)
    if not result.skipped:
        timing = {"steps": timing["steps"] + result.step - result.start,
                  "seconds": timing["seconds"] + time.perf_counter() - t0}
        run.mkdir(parents=True, exist_ok=True)
        timing_file.write_text(json.dumps(timing))
    recs = [json.loads(line) for line in (run / "generator" / "metrics.jsonl").read_text().splitlines()]
    val = [r for r in recs if "val/change" in r]
    return {"weights": str(result.export), "steps": result.step, "stccl_weight": weight,
            "train_s_per_step": timing["seconds"] / timing["steps"] if timing["steps"] else math.nan,
            "val": {k: v for k, v in val[-1].items() if k.startswith("val/")} if val else {}}


def held_out_clips(data: Path, weights: str) -> dict[str, Path]:
    """Clip id -> source video, for the actors the generator did not train on (symlinks resolved)."""
    from stccl.data.frames import require_labelled
    from stccl.models.io import read_metadata

    held = json.loads(read_metadata(weights).get("held_out", "[]"))
    _, records = require_labelled(data)
    clips = {r["id"]: Path(r["source"]).resolve() for r in sorted(records, key=lambda r: r["id"])
             if r.get("actor") in held}
    if not clips:
        raise SystemExit(f"{data}: no held-out clips ({held or 'no held-out actor'}); pass --clips")
    return clips


# -- measuring ------------------------------------------------------------------------------------
def fresh(path: Path, *deps: Path) -> bool:
    return path.is_file() and all(path.stat().st_mtime >= d.stat().st_mtime for d in deps)


def track(video: Path, backend, cache: Path) -> np.ndarray:
    """(N, 68, 2) dlib landmarks of `video`, NaN where no face was detected (gap fills dropped);
    cached in `cache` (.npy) while it is newer than the video."""
    from stccl.config import TrackConfig
    from stccl.face import FACE_DETECTED, track_video

    if fresh(cache, video):
        return np.load(cache)
    lmk, flags = track_video(video, backend, TrackConfig(tracker="dlib"))
    lmk = np.where(((flags & FACE_DETECTED) > 0)[:, None, None], lmk, np.nan).astype(np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, lmk)
    return lmk


def face_change(src: Path, out: Path, lmk: np.ndarray, n: int) -> float:
    """Mean |out - src| in 8-bit levels over the pixels inside the convex hull of the input's
    landmarks (jaw, brows and all), averaged over the first n frames that have a face."""
    import cv2

    from stccl.video import VideoReader

    diffs = []
    frames_a, frames_b = VideoReader(src, chunk=8).frames(), VideoReader(out, chunk=8).frames()
    try:
        for i, (a, b) in enumerate(zip(frames_a, frames_b)):
            if i >= n:
                break
            if not np.isfinite(lmk[i]).all():
                continue
            mask = np.zeros(a.shape[:2], np.uint8)
            cv2.fillConvexPoly(mask, cv2.convexHull(np.round(lmk[i]).astype(np.int32)), 1)
            inside = mask.astype(bool)
            diffs.append(np.abs(a[inside].astype(np.int16) - b[inside].astype(np.int16)).mean())
    finally:
        frames_a.close()
        frames_b.close()
    return float(np.mean(diffs)) if diffs else math.nan


def measure_edit(src: Path, out: Path, backend, seconds: float | None, src_cache: Path) -> dict:
    from stccl.face.measures import mouth_corr, mouth_lmd
    from stccl.video import probe

    a = track(src, backend, src_cache)
    b = track(out, backend, out.with_suffix(".landmarks.npy"))
    n = min(len(a), len(b))
    if seconds is not None:
        n = min(n, math.ceil(seconds * probe(src).fps - 1e-6))
    a, b = a[:n], b[:n]
    both = np.isfinite(a).all((1, 2)) & np.isfinite(b).all((1, 2))
    return {"frames": n, "face_frames": float(both.sum() / max(1, np.isfinite(a).all((1, 2)).sum())),
            "mouth_corr": mouth_corr(a, b), "mlmd": mouth_lmd(a, b), "face_change": face_change(src, out, a, n)}


def named(paths: list[Path]) -> dict[str, Path]:
    """File stem -> path; parent folders are added to the names while two would clash."""
    for depth in range(1, 8):
        names = {"_".join([*p.parent.parts[len(p.parent.parts) - depth + 1:], p.stem]): p.resolve() for p in paths}
        if len(names) == len(paths):
            return names
    raise SystemExit("two --clips have the same path")


def crop_change(weights: Path, clip: Path, lmk: np.ndarray, emotion: str, n: int, frames: int = 32) -> dict:
    """Mean |G(x, emotion, 1) - x| in 8-bit levels on up to `frames` aligned crops of the first n
    frames, inside the editor's face mask (weighted by it) and outside it."""
    import torch

    from stccl.emotions import EMOTIONS
    from stccl.edit.paste import face_mask
    from stccl.face import similarity_from_landmarks, transform_landmarks, warp_to_crop
    from stccl.models.io import load_generator
    from stccl.video import VideoReader

    G, cfg, _ = load_generator(weights)
    size = cfg.size
    ok = np.flatnonzero(np.isfinite(lmk[:n]).all((1, 2)))
    picks = set(ok[np.linspace(0, len(ok) - 1, min(frames, len(ok))).round().astype(int)].tolist()) if len(ok) else set()
    crops, masks = [], []
    for i, frame in enumerate(VideoReader(clip, chunk=8).frames()):
        if i in picks:
            M = similarity_from_landmarks(lmk[i], size)
            crops.append(warp_to_crop(frame, M, size))
            masks.append(face_mask(transform_landmarks(lmk[i], M), size))
    if not crops:
        return {"crop_face": math.nan, "crop_outside": math.nan}
    x = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 255
    m = torch.from_numpy(np.stack(masks))
    with torch.no_grad():
        y = G(x, torch.full((len(x),), EMOTIONS.index(emotion)), torch.ones(len(x)))["image"]
    d = (y - x).abs().mean(1) * 255
    return {"crop_face": float((d * m).sum() / m.sum()), "crop_outside": float((d * (1 - m)).sum() / (1 - m).sum())}


def run_edits(name: str, editor, clips: dict[str, Path], emotions: list[str], out_dir: Path, backend,
              args, intensity: float | None = None, deps: tuple[Path, ...] = ()) -> list[dict]:
    results = []
    for label, clip in clips.items():
        for emotion in emotions:
            out = out_dir / name / f"{label}.{emotion}.mp4"
            out.parent.mkdir(parents=True, exist_ok=True)
            edit_s = None  # None: an earlier run's output was reused
            if not fresh(out, clip, *deps):
                t0 = time.perf_counter()
                editor.edit(clip, emotion=emotion, out=out, end=args.seconds, intensity=intensity,
                            overwrite=True)
                edit_s = round(time.perf_counter() - t0, 2)
            src_cache = out_dir / "inputs" / f"{label}.landmarks.npy"
            m = measure_edit(clip, out, backend, args.seconds, src_cache)
            if getattr(editor.engine, "name", "") == "neural":
                m.update(crop_change(Path(editor.config.weights), clip, np.load(src_cache), emotion, m["frames"]))
            m.update(clip=label, path=str(clip), emotion=emotion, output=str(out), edit_s=edit_s)
            print(f"  {name}: {label} -> {emotion}: corr {m['mouth_corr']:.3f}, M-LMD {m['mlmd']:.4f}, "
                  f"change {m['face_change']:.2f}" + (f", crop change {m['crop_face']:.2f} face / "
                                                      f"{m['crop_outside']:.2f} outside" if "crop_face" in m else ""),
                  file=sys.stderr, flush=True)
            results.append(m)
    return results


def summary(edits: list[dict]) -> dict:
    def mean(key: str) -> float:
        vals = np.array([e.get(key, math.nan) for e in edits], float)
        return float(np.nanmean(vals)) if np.isfinite(vals).any() else math.nan

    return {k: mean(k) for k in MEASURES}


# -- report ---------------------------------------------------------------------------------------
ARM_LABELS = {"stccl": "neural, STCCL weight 1", "no_stccl": "neural, STCCL weight 0",
              "warp": "warp engine (reference)", "identity": "warp, intensity 0 (pipeline floor)"}


def markdown(report: dict) -> str:
    def num(v: float, fmt: str) -> str:
        return "–" if not math.isfinite(v) else format(v, fmt)

    lines = ["| arm | steps | s/step | mouth corr ↑ | M-LMD (IOD) ↓ | face change (levels) | face frames "
             "| crop change, face / outside (levels) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, arm in report["arms"].items():
        s = arm["summary"]
        steps = str(arm.get("steps", "–"))
        per = num(arm.get("train_s_per_step", math.nan), ".2f")
        crop = "–" if not math.isfinite(s["crop_face"]) else f"{s['crop_face']:.2f} / {s['crop_outside']:.2f}"
        lines.append(f"| {ARM_LABELS[name]} | {steps} | {per} | {num(s['mouth_corr'], '.3f')} | {num(s['mlmd'], '.4f')} "
                     f"| {num(s['face_change'], '.2f')} | {num(s['face_frames'], '.0%')} | {crop} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="a prepared dataset (stccl prep)")
    ap.add_argument("--metric", type=Path, required=True, help="the frozen STCCL metric (safetensors)")
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--steps", type=int, default=0, help="training steps per arm (0: the preset's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--clips", type=Path, nargs="+", help="videos to edit (default: the held-out actor's clips)")
    ap.add_argument("--emotions", default="happy,sad,angry")
    ap.add_argument("--seconds", type=float, default=None, help="edit and measure only the first S seconds")
    ap.add_argument("--out", type=Path, default=Path("ablation_stccl"))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: 1 when the machine is busy)")
    args = ap.parse_args(argv)
    if not args.metric.is_file():
        raise SystemExit(f"metric not found: {args.metric}")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    import torch

    from stccl import Editor
    from stccl.face import make_backend

    load = os.getloadavg()[0]
    threads = args.threads or (1 if busy() else torch.get_num_threads())
    torch.set_num_threads(threads)
    args.out.mkdir(parents=True, exist_ok=True)
    emotions = [e.strip() for e in args.emotions.split(",") if e.strip()]

    arms: dict[str, dict] = {}
    for name, weight in ARMS.items():
        print(f"training {name} (STCCL weight {weight})", file=sys.stderr, flush=True)
        arms[name] = train_arm(args.data, args.out / name, weight, args)
    clips = named(args.clips) if args.clips else held_out_clips(args.data, arms["stccl"]["weights"])
    missing = [c for c in clips.values() if not c.is_file()]
    if missing:
        raise SystemExit(f"clip(s) not found: {', '.join(map(str, missing))}")

    backend = make_backend("dlib")
    edits_dir = args.out / (f"edits_{args.seconds:g}s" if args.seconds else "edits")
    for name, arm in arms.items():
        weights = Path(arm["weights"])
        editor = Editor(engine="neural", weights=str(weights), tracker="dlib", device=args.device)
        arm["edits"] = run_edits(name, editor, clips, emotions, edits_dir, backend, args, deps=(weights,))
    warp = Editor(engine="warp", tracker="dlib")
    arms["warp"] = {"edits": run_edits("warp", warp, clips, emotions, edits_dir, backend, args)}
    arms["identity"] = {"edits": run_edits("identity", warp, clips, emotions[:1], edits_dir, backend, args,
                                           intensity=0.0)}
    for arm in arms.values():
        arm["summary"] = summary(arm["edits"])

    report = {"preset": args.preset, "seed": args.seed, "data": str(args.data.resolve()),
              "metric": str(args.metric.resolve()), "clips": {k: str(c) for k, c in clips.items()}, "emotions": emotions,
              "seconds": args.seconds, "command": " ".join(["python -m benchmarks.ablation_stccl", *sys.argv[1:]]),
              "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch_threads": threads,
                          "load_1min_at_start": round(load, 2), "device": args.device,
                          "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None},
              "arms": arms}
    (args.out / "ablation.json").write_text(json.dumps(report, indent=1))
    table = markdown(report)
    (args.out / "ablation.md").write_text(table)

    rows = []
    for name, arm in arms.items():
        s = arm["summary"]
        note = f"{len(arm['edits'])} edits"
        if "steps" in arm:
            note += f", {arm['steps']} steps, {arm['train_s_per_step']:.2f} s/step"
        rows += [row(f"{name}: mouth corr (mean)", s["mouth_corr"], "r", note),
                 row(f"{name}: M-LMD (mean)", s["mlmd"], "IOD", note),
                 row(f"{name}: face change (mean)", s["face_change"], "lvl", "8-bit levels, inside the face"),
                 row(f"{name}: frames with a face in the output", s["face_frames"], "frac", "of input face frames")]
        if math.isfinite(s["crop_face"]):
            rows += [row(f"{name}: G crop change inside the face mask", s["crop_face"], "lvl", "aligned crops at G's size, intensity 1"),
                     row(f"{name}: G crop change outside the face mask", s["crop_outside"], "lvl", "not pasted back")]
    print_rows(f"STCCL ablation ({args.preset}, seed {args.seed}, {len(clips)} clips × {len(emotions)} emotions)", rows)
    print("\n" + table)
    print(f"wrote {args.out / 'ablation.json'} and {args.out / 'ablation.md'}")
    return report


if __name__ == "__main__":
    main()
