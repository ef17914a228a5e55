"""`stccl prep`: raw talking-face videos -> a prepared dataset (see store.py for the format).

Data flows one way per clip: decode -> track -> smooth -> align -> crop -> store. Work is
resumable (finished clips are skipped), parallel (`workers`) and shardable (`shard="i/n"`).
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import __version__
from ..config import PrepConfig, save_toml, tracker_name
from ..errors import InputError, StcclError
from ..face import (
    FACE_DETECTED,
    FACE_INTERPOLATED,
    FaceStream,
    make_backend,
    transform_landmarks,
    warp_to_crop,
)
from ..face.align import warp_to_crop_yuv
from ..face.backend import yuv_view
from ..fs import ensure_writable_dir, remove_stale_temps
from ..video import VideoReader, probe, yuv
from . import store
from .audio import load_audio, mfcc_per_frame
from .layouts import ClipItem, scan
from .pair_paths import build_pairs

log = logging.getLogger(__name__)

Event = Callable[[str, dict], None]


@dataclass
class PrepSummary:
    ok: int = 0
    failed: int = 0
    failed_total: int = 0
    skipped: int = 0
    frames: int = 0
    face_frames: int = 0
    pairs: int = 0
    seconds: float = 0.0
    failures: list[dict] = field(default_factory=list)

    @property
    def face_ratio(self) -> float:
        return self.face_frames / self.frames if self.frames else 0.0


def parse_shard(shard: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in shard.split("/"))
    except ValueError:
        raise InputError(f"--shard must look like i/n (e.g. 2/8), got {shard!r}") from None
    if not 1 <= i <= n:
        raise InputError(f"--shard {shard}: need 1 <= i <= n")
    return i, n


def plan(items: list[ClipItem], root: Path, cfg: PrepConfig) -> tuple[list[ClipItem], int]:
    """This shard's clips that still need work, and how many were skipped as done."""
    i, n = parse_shard(cfg.shard)
    mine = items[i - 1::n]
    todo = []
    for item in mine:
        done = store.is_finished(root, item.id)
        if not done and not cfg.retry_failed and store.failed_path(root, item.id).is_file():
            done = True
        if not done:
            todo.append(item)
    return todo, len(mine) - len(todo)


def run_prep(input_path: str | Path, out: str | Path, cfg: PrepConfig,
             on_event: Event | None = None) -> PrepSummary:
    """Prepare every clip under `input_path` into `out`, then pair the takes."""
    emit = on_event or (lambda kind, data: None)
    t0 = time.perf_counter()
    items = scan(input_path, cfg.layout, tuple(cfg.views), tuple(cfg.levels))
    root = ensure_writable_dir(out)
    remove_leftovers(root)
    # the tracker by its name (auto resolved): every clip is tracked by it, and prep.toml says which
    cfg = replace(cfg, track=replace(cfg.track, tracker=tracker_name(cfg.track.tracker)))
    save_toml(cfg, root / "prep.toml")
    todo, skipped = plan(items, root, cfg)
    summary = PrepSummary(skipped=skipped)
    emit("plan", {"total": len(items), "todo": len(todo), "skipped": skipped})
    for record in _process(todo, root, cfg, emit):
        if record["status"] == "ok":
            summary.ok += 1
        else:
            summary.failed += 1
            summary.failures.append(record)
            store.write_failed(root, record)
        summary.frames += record.get("frames", 0)
        summary.face_frames += record.get("face_frames", 0)
        emit("clip_done", record)
    records = store.collect_records(root)
    store.write_jsonl_atomic(root / store.INDEX, records)
    summary.failed_total = sum(r["status"] != "ok" for r in records)
    emit("pairs_start", {})
    pairs = build_pairs(root, [r for r in records if r["status"] == "ok"], cfg)
    summary.pairs = len(pairs)
    summary.seconds = time.perf_counter() - t0
    return summary


def remove_leftovers(root: Path) -> list[Path]:
    """The temp files and clip folders of dead prep runs on this host (a kill -9, a crash);
    those of a live run (another `stccl prep` into the same folder) stay."""
    removed = remove_stale_temps(root, [store.INDEX, store.PAIRS, "prep.toml"])
    for sub in ("clips", "failed"):
        removed += remove_stale_temps(root / sub)
    return removed


def _process(todo: list[ClipItem], root: Path, cfg: PrepConfig, emit: Event):
    if cfg.workers <= 1 or len(todo) <= 1:
        backend = None
        for item in todo:
            if backend is None:
                backend = make_backend(cfg.track.tracker, cfg.track.device)
            yield safe_prepare(item, root, cfg, backend, emit)
        return
    # spawn, not fork: forking a process that holds threads (decoders, torch) can deadlock
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=cfg.workers, mp_context=ctx, initializer=_worker_init) as pool:
        futures = [pool.submit(_worker_prepare, item, root, cfg) for item in todo]
        for fut in as_completed(futures):
            yield fut.result()


_WORKER_BACKEND: dict[str, Any] = {}


def _worker_init() -> None:
    import cv2

    cv2.setNumThreads(1)


def _worker_prepare(item: ClipItem, root: Path, cfg: PrepConfig) -> dict:
    key = f"{cfg.track.tracker}:{cfg.track.device}"
    if key not in _WORKER_BACKEND:
        _WORKER_BACKEND[key] = make_backend(cfg.track.tracker, cfg.track.device)
    return safe_prepare(item, root, cfg, _WORKER_BACKEND[key], None)


def base_record(item: ClipItem) -> dict:
    rec = item.labels()
    rec.update(id=item.id, source=str(item.path), status="failed", error=None,
               frames=0, face_frames=0, fps=None)
    return rec


def safe_prepare(item: ClipItem, root: Path, cfg: PrepConfig, backend, emit: Event | None) -> dict:
    """prepare_clip, with any failure turned into a failed record (the batch goes on)."""
    try:
        return prepare_clip(item, root, cfg, backend, emit)
    except StcclError as e:
        err = " ".join(str(e).split())
    except Exception as e:  # keep the batch alive; the record says what happened
        log.debug("clip %s failed", item.id, exc_info=True)
        err = f"{type(e).__name__}: {' '.join(str(e).split())}"
    rec = base_record(item)
    rec["error"] = err
    return rec


def prepare_clip(item: ClipItem, root: Path, cfg: PrepConfig, backend,
                 emit: Event | None = None) -> dict:
    info = probe(item.path)
    if emit:
        emit("clip_start", {"id": item.id, "frames": info.frames})
    size = cfg.align.size
    writer = store.ClipWriter(root, item.id, cfg.jpeg_quality)
    try:
        acc = _TrackArrays()
        stream = FaceStream.from_backend(backend, info.fps, cfg.track, cfg.align)
        frames = _Frames(backend, info, size)
        with VideoReader(item.path, chunk=8, info=info, pix_fmt=frames.pix_fmt) as reader:
            for chunk in reader:
                for frame in chunk:
                    for f, face in stream.push(frame, frames.track(frame)):
                        acc.add(face)
                        writer.add_crop(frames.crop(f, face.M))
                if emit:
                    emit("frames", {"n": len(chunk)})
            for f, face in stream.finish():
                acc.add(face)
                writer.add_crop(frames.crop(f, face.M))
            n = reader.frames_read
        track = acc.arrays()
        face_frames = int(np.count_nonzero(track["flags"] & (FACE_DETECTED | FACE_INTERPOLATED)))
        if face_frames == 0:
            raise StcclError(f"no face found in any of the {n} frames")
        audio = _audio_features(item.path, info, n, cfg)
        rec = base_record(item)
        rec.update(
            status="ok", frames=n, face_frames=face_frames, fps=info.fps,
            width=info.width, height=info.height, rotation=info.rotation,
            has_audio=audio is not None, expected_frames=info.frames, crop_size=size,
            format_version=store.FORMAT_VERSION, stccl_version=__version__,
            tracker=backend.name,
        )
        writer.commit(track, audio, rec)
        return rec
    except BaseException:
        writer.abort()
        raise


_YUV_FROM = 1280 * 720  # frames this large read as yuv420p: below, the saving is under 5 %


class _Frames:
    """How prep reads frames: ffmpeg's own yuv420p where it pays and can (frames of 720p and
    more, a tracker that reads the luma plane (dlib) or makes its crops from the planes (the
    mesh), an even size, colours that stccl.video.yuv converts as ffmpeg would), converting
    only each crop to RGB; RGB frames otherwise. yuv420p spares the decoder's whole-frame
    conversion and half the pipe's bytes (1080p prep ≈ 1.3x faster); the crops are within
    about a grey level of the RGB path's. Smaller frames keep RGB: there the conversion costs
    well under a millisecond, and what the tracker reads would change by that grey level for
    nothing."""

    def __init__(self, backend, info, size: int):
        self.size, self.width, self.height = size, info.width, info.height
        self.matrix = yuv.rgb_matrix(info.colour)
        view = yuv_view(backend, self.matrix)
        use = view is not None and self.matrix is not None and yuv.fits(info.width, info.height) \
            and info.width * info.height >= _YUV_FROM
        self.pix_fmt = "yuv420p" if use else "rgb24"
        self._colour = self.matrix if view == "planes" else None  # what the tracker's luma carries
        self._blank = np.zeros((size, size, 3), np.uint8)

    def track(self, frame: np.ndarray) -> np.ndarray:
        if self.pix_fmt == "rgb24":
            return frame
        return yuv.luma(frame, self.width, self.height, self._colour)

    def crop(self, frame: np.ndarray, M: np.ndarray | None) -> np.ndarray:
        if M is None:
            return self._blank
        if self.pix_fmt == "rgb24":
            return warp_to_crop(frame, M, self.size)
        return warp_to_crop_yuv(frame, self.width, self.height, M, self.size, self.matrix)


def _audio_features(path: Path, info, n: int, cfg: PrepConfig) -> dict | None:
    if not info.has_audio:
        return None
    audio = load_audio(path, cfg.sample_rate)
    if audio is None or audio.size == 0:
        return None
    mfcc = mfcc_per_frame(audio, cfg.sample_rate, info.fps, n, cfg.n_mfcc)
    return {"mfcc": mfcc.astype(np.float32)}


class _TrackArrays:
    def __init__(self) -> None:
        self.lmk, self.lmk_aligned, self.M, self.Minv, self.flags = [], [], [], [], []
        self.mesh: list[np.ndarray | None] = []  # a dense tracker's raw points per frame

    def add(self, face) -> None:
        nan68 = np.full((68, 2), np.nan, np.float32)
        nan23 = np.full((2, 3), np.nan, np.float32)
        self.flags.append(face.flag)
        self.mesh.append(None if face.landmarks is None or face.M is None else face.dense)
        if face.landmarks is None or face.M is None:
            self.lmk.append(nan68)
            self.lmk_aligned.append(nan68)
            self.M.append(nan23)
            self.Minv.append(nan23)
            return
        self.lmk.append(face.landmarks.astype(np.float32))
        self.lmk_aligned.append(transform_landmarks(face.landmarks, face.M).astype(np.float32))
        self.M.append(face.M.astype(np.float32))
        self.Minv.append(face.Minv.astype(np.float32))

    def arrays(self) -> dict[str, np.ndarray]:
        out = {
            "landmarks": np.asarray(self.lmk, np.float32).reshape(-1, 68, 2),
            "landmarks_aligned": np.asarray(self.lmk_aligned, np.float32).reshape(-1, 68, 2),
            "M": np.asarray(self.M, np.float32).reshape(-1, 2, 3),
            "Minv": np.asarray(self.Minv, np.float32).reshape(-1, 2, 3),
            "flags": np.asarray(self.flags, np.uint8),
        }
        shape = next((m.shape for m in self.mesh if m is not None), None)
        if shape is not None:  # "mesh" (N, 468, 3): image pixels, z scaled like x; NaN without a face
            out["mesh"] = np.stack([np.full(shape, np.nan, np.float32) if m is None else m.astype(np.float32)
                                    for m in self.mesh])
        return out
