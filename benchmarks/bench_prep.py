"""Prep throughput vs decode-only throughput of the same clip, tracker ms/frame per backend,
and random-read throughput of prepared crops.

    python -m benchmarks.bench_prep [--quick]
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path


from stccl.config import PrepConfig
from stccl.data.layouts import scan
from stccl.data.prep import prepare_clip
from stccl.data.store import PreparedClip
from stccl.face import FaceTracker, make_backend
from stccl.video import VideoReader

from .common import Timer, print_rows, row, shared_clip

CLIP_1080 = "mead/W015_level_1_neutral_030.mp4"
CLIP_512 = "wild/d12.mp4"


def decode_fps(path: Path, limit: int | None = None) -> float:
    n = 0
    with Timer() as t, VideoReader(path, chunk=16) as reader:
        for chunk in reader:
            n += len(chunk)
            if limit and n >= limit:
                break
    return n / t.seconds


def prep_fps(path: Path, backend) -> tuple[float, int]:
    cfg = PrepConfig()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        (src / path.name).symlink_to(path)
        item = scan(src, "folder")[0]
        with Timer() as t:
            rec = prepare_clip(item, Path(tmp) / "out", cfg, backend)
        return rec["frames"] / t.seconds, rec["frames"]


def prep_fps_rgb(path: Path, backend) -> tuple[float, int]:
    """prep_fps with every frame read as RGB (what prep did before it read yuv420p at 720p+)."""
    from stccl.data import prep

    saved, prep._YUV_FROM = prep._YUV_FROM, float("inf")
    try:
        return prep_fps(path, backend)
    finally:
        prep._YUV_FROM = saved


def tracker_ms(backend, path: Path, frames: int) -> float:
    tracker = FaceTracker(backend, PrepConfig().track)
    n = 0
    with VideoReader(path, chunk=8) as reader:
        batch = []
        for chunk in reader:
            batch.extend(chunk)
            if len(batch) >= frames:
                break
    with Timer() as t:
        for frame in batch[:frames]:
            tracker(frame)
            n += 1
    return 1000 * t.seconds / n


def fan_random_backend(tmp: Path):
    import torch
    from face_alignment.models import FAN

    torch.save(FAN(4).state_dict(), tmp / "2DFAN4-11f355bf06.pth.tar")
    return make_backend("fan", "auto", weights_dir=tmp)


def read_throughput(clip_dir: Path, reads: int) -> float:
    clip = PreparedClip(clip_dir)
    idx = [random.randrange(len(clip)) for _ in range(reads)]
    with Timer() as t:
        for i in idx:
            clip.crop(i)
    return reads / t.seconds


def main(quick: bool = False) -> list[dict]:
    rows = []
    dlib, mesh = make_backend("dlib"), make_backend("mesh")
    repeats = 1 if quick else 3
    for rel in [CLIP_1080, CLIP_512]:
        path = shared_clip(rel)
        dec = max(decode_fps(path) for _ in range(repeats))
        prep, n = max(prep_fps(path, dlib) for _ in range(repeats))
        by_mesh, _ = max(prep_fps(path, mesh) for _ in range(repeats))
        rows.append(row(f"decode-only fps {path.name}", dec, "fps"))
        rows.append(row(f"prep fps {path.name} (dlib)", prep, "fps", f"{n} frames"))
        rows.append(row(f"prep / decode {path.name}", prep / dec, "x",
                        "goal >= 0.5" if "1080" in rel or rel == CLIP_1080 else ""))
        rows.append(row(f"prep / decode {path.name}, mesh (the default)", by_mesh / dec, "x",
                        "the same run; from 720p dlib reads the luma plane, the mesh its crops from the planes"))
        if rel == CLIP_1080:
            for name, backend in (("", dlib), (", mesh", mesh)):
                rgb, _ = max(prep_fps_rgb(path, backend) for _ in range(repeats))
                rows.append(row(f"prep / decode {path.name}{name}, frames read as RGB", rgb / dec, "x",
                                "the same run, before yuv420p reads"))
    frames = 20 if quick else 60
    path = shared_clip(CLIP_1080)
    rows.append(row("tracker dlib ms/frame (1080p)", tracker_ms(dlib, path, frames), "ms"))
    with tempfile.TemporaryDirectory() as tmp:
        fan = fan_random_backend(Path(tmp))
        rows.append(row("tracker fan ms/frame (1080p, CPU)", tracker_ms(fan, path, frames // 2), "ms",
                        "random-init FAN: speed only"))
        cfg = PrepConfig()
        src = Path(tmp) / "src"
        src.mkdir()
        (src / path.name).symlink_to(path)
        prepare_clip(scan(src, "folder")[0], Path(tmp) / "out", cfg, dlib)
        clip_dir = next((Path(tmp) / "out" / "clips").iterdir())
        rows.append(row("prepared crop random reads/s (256², JPEG)",
                        read_throughput(clip_dir, 200 if quick else 1000), "reads/s"))
    print_rows("prep", rows)
    return rows


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    main(ap.parse_args().quick)
