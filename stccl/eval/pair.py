"""`evaluate_pair`: what one edit did, from INPUT and EDITED (the same video before and after).

Both videos are decoded in lockstep and tracked with the same tracker and settings (by default
not the tracker that drove the edit: stccl.eval.reader); frame i of one is compared with frame
i of the other. Memory stays bounded whatever the length: frames are held only in the face
streams' gap buffers, one feature batch and SyncNet's 5-frame window.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from pathlib import Path
from typing import Callable

import numpy as np

from .. import __version__
from ..config import AlignConfig, TrackConfig, validate
from ..edit.outputs import TRACKER_TAG, is_edit_output
from ..errors import InputError, NoFaceError
from ..face import FaceStream, make_backend, transform_landmarks, warp_to_crop
from ..video import VideoReader, probe, read_audio
from ..edit.warp import load_expression_model
from .landmarks import landmark_metrics
from .readback import intended_move
from .reader import pick_reader
from .metrics import METRICS
from .pixels import PixelStats, image_region
from .config import EvalConfig
from .scorers import FeatureBank, Scorers, feature_metrics

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]
CROP = 256
FRAME_SLACK = 1  # frame counts may differ by this much (the extra frames are not compared)


def target_emotion(emotion: str | None, edited: Path) -> str | None:
    """The checked `emotion`, else the one in EDITED's name (<stem>.<emotion>.mp4), else None."""
    if emotion:
        return emotion
    if is_edit_output(edited):
        return edited.name.split(".")[-2]
    return None


def prototype_for(emotion: str | None, prototypes) -> tuple[np.ndarray | None, str]:
    """The warp engine's displacement prototype of `emotion` (zeros for neutral, None for no
    emotion) and its file."""
    from ..edit.warp import find_prototypes, load_prototypes

    path = find_prototypes(prototypes)
    if emotion is None:
        return None, str(path)
    return load_prototypes(path)[emotion], str(path)


class _Side:
    """One video's landmarks, face count and feature bank."""

    def __init__(self, bank: FeatureBank):
        self.lmk: list[np.ndarray] = []
        self.bank = bank
        self.faces = 0


def _crop(frame: np.ndarray, face) -> tuple[np.ndarray | None, np.ndarray | None]:
    if not face.has_face:
        return None, None
    return warp_to_crop(frame, face.M, CROP), transform_landmarks(face.landmarks, face.M)


def evaluate_pair(input: str | Path, edited: str | Path, opts: EvalConfig | None = None,
                  progress: Progress | None = None) -> dict:
    """Metrics of the edit INPUT -> EDITED as a JSON-ready dict (see docs/eval.md)."""
    t0 = time.perf_counter()
    opts = validate(opts or EvalConfig())  # every value checked here, where the call enters
    input, edited = Path(input), Path(edited)
    ia, ib = probe(input), probe(edited)
    n = _aligned_frames(ia, ib, opts.max_frames)
    emotion = target_emotion(opts.emotion, edited)
    proto, proto_path = prototype_for(emotion, opts.prototypes)
    scorers = Scorers.load(opts.scoring, opts.device)
    driver = ib.tags.get(TRACKER_TAG)  # the tracker that drove the edit, from EDITED's header
    reader, warning = pick_reader(opts.tracker, driver)
    backend = make_backend(reader, "auto")
    track = TrackConfig(tracker=reader)
    align = AlignConfig(size=CROP)
    ref_frames = 0
    ref_info = probe(opts.reference) if opts.reference is not None else None
    if ref_info is not None:
        ref_frames = min(ref_info.frames, opts.max_frames or ref_info.frames)
    total = n + ref_frames

    a, b = _Side(scorers.bank(opts.batch)), _Side(scorers.bank(opts.batch))
    pix = PixelStats()
    qa: deque = deque()
    qb: deque = deque()

    def drain() -> None:
        while qa and qb:
            (fa, face_a), (fb, face_b) = qa.popleft(), qb.popleft()
            for side, face in ((a, face_a), (b, face_b)):
                side.lmk.append(face.landmarks if face.has_face else np.full((68, 2), np.nan))
                side.faces += face.has_face
            region = image_region(face_a.landmarks, face_a.M, *fa.shape[:2]) if face_a.has_face else None
            pix.add(fa, fb, region)
            if a.bank.active:
                a.bank.add(*_crop(fa, face_a))
                b.bank.add(*_crop(fb, face_b))

    sa = FaceStream.from_backend(backend, ia.fps, track, align)
    sb = FaceStream.from_backend(backend, ib.fps, track, align)
    with VideoReader(input, chunk=8, info=ia) as ra, VideoReader(edited, chunk=8, info=ib) as rb:
        for k, (fa, fb) in enumerate(zip(ra.frames(), rb.frames())):
            if k >= n:
                break
            qa.extend(sa.push(fa))
            qb.extend(sb.push(fb))
            drain()
            if progress and (k + 1) % 8 == 0:
                progress(k + 1, total)
        qa.extend(sa.finish())
        qb.extend(sb.finish())
        drain()
    compared = len(a.lmk)
    if a.faces == 0:
        raise NoFaceError(f"{input.name}: no face found in the {compared} frames compared")
    if b.faces == 0:
        raise NoFaceError(f"{edited.name}: no face found in the {compared} frames compared")

    A, B = np.stack(a.lmk), np.stack(b.lmk)
    both = int((np.isfinite(A).all((1, 2)) & np.isfinite(B).all((1, 2))).sum())
    # labels are absolute: the move asked is the target less what the input shows
    move = None if proto is None else intended_move(A, proto, load_expression_model(opts.prototypes).seen_by(backend.view_offset))
    metrics = landmark_metrics(A, B, move)
    skipped: dict[str, str] = {}
    if emotion is None:
        for k in ("expr_shift", "expr_shift_ratio", "expr_cos"):
            skipped[k] = "no target emotion (--emotion)"
    metrics.update(pix.result())

    fa_feats, fb_feats = a.bank.finish(), b.bank.finish()
    real, real_set = _real_set(opts, scorers, fa_feats, ref_info, n, backend, track, align, progress, total)
    m, s = feature_metrics(fa_feats, fb_feats, real, emotion)
    metrics.update(m)
    skipped.update(s)
    _sync(scorers, fa_feats, fb_feats, input, edited, ia.fps, metrics, skipped)
    if progress:
        progress(total, total)
    metrics = {k: (None if k in skipped else metrics.get(k)) for k in METRICS}  # a stable schema
    return {
        "kind": "pair", "stccl_version": __version__,
        "input": str(input), "edited": str(edited), "emotion": emotion,
        "tracker": backend.name, "tracked_by": driver, "warning": warning,
        "frames": {"input": ia.frames, "edited": ib.frames, "compared": compared,
                   "input_face": a.faces, "edited_face": b.faces, "both_face": both},
        "real_set": real_set,
        "metrics": {k: _clean(v) for k, v in metrics.items()},
        "skipped": skipped,
        "weights": {**scorers.weights, "prototypes": proto_path},
        "seconds": round(time.perf_counter() - t0, 2),
    }


def _aligned_frames(ia, ib, max_frames: int) -> int:
    if (ia.width, ia.height) != (ib.width, ib.height):
        raise InputError(f"cannot compare frame by frame: {ia.path.name} is {ia.width}x{ia.height}, "
                         f"{ib.path.name} is {ib.width}x{ib.height}")
    if abs(ia.fps - ib.fps) > 0.01:
        raise InputError(f"cannot align frames: {ia.path.name} runs at {ia.fps:g} fps, "
                         f"{ib.path.name} at {ib.fps:g} fps")
    if abs(ia.frames - ib.frames) > FRAME_SLACK:
        raise InputError(f"cannot align frames: {ia.path.name} has {ia.frames} frames, "
                         f"{ib.path.name} has {ib.frames}")
    n = min(ia.frames, ib.frames)
    return min(n, max_frames) if max_frames else n


def _real_set(opts, scorers, input_feats, ref_info, n, backend, track, align, progress, total):
    """Features of the real frames FAD / expression similarity compare against, and what they are."""
    wanted = {"arcface18", "expression"} & set(scorers.frame_models)
    if ref_info is None:
        return input_feats, "input (no --reference given): FAD and expression similarity measure change, not realism"
    if not wanted:
        return None, f"{ref_info.path} (unused: no --arcface18 or --expression weights)"
    limit = min(ref_info.frames, opts.max_frames or ref_info.frames)
    only = Scorers()
    only.device = scorers.device
    only.frame_models = {k: scorers.frame_models[k] for k in wanted}
    bank = only.bank(opts.batch)
    stream = FaceStream.from_backend(backend, ref_info.fps, track, align)
    with VideoReader(ref_info.path, chunk=8, info=ref_info) as reader:
        for k, frame in enumerate(reader.frames()):
            if k >= limit:
                break
            for f, face in stream.push(frame):
                bank.add(*_crop(f, face))
            if progress and (k + 1) % 8 == 0:
                progress(n + k + 1, total)
        for f, face in stream.finish():
            bank.add(*_crop(f, face))
    return bank.finish(), str(ref_info.path)


def _sync(scorers, fa, fb, input: Path, edited: Path, fps: float, metrics: dict, skipped: dict) -> None:
    if scorers.syncnet is None:
        for k in ("lse_d", "lse_c", "lse_offset", "lse_d_input", "lse_c_input"):
            skipped[k] = "no --syncnet weights"
        return
    from .syncnet import sync_metrics

    for suffix, feats, path in (("", fb, edited), ("_input", fa, input)):
        audio = read_audio(path)
        m, why = sync_metrics(scorers.syncnet, scorers.device, feats["syncnet_lip"], audio, fps)
        if why:
            for k in ("lse_d", "lse_c") + (("lse_offset",) if not suffix else ()):
                skipped[k + suffix] = f"{path.name}: {why}"
        else:
            metrics[f"lse_d{suffix}"], metrics[f"lse_c{suffix}"] = m["lse_d"], m["lse_c"]
            if not suffix:
                metrics["lse_offset"] = m["offset"]


def _clean(v):
    """JSON-ready: numpy scalars to float, nan to None."""
    if v is None:
        return None
    v = float(v)
    return None if v != v else v
