"""The streaming edit: decode -> track -> align -> engine (batched) -> paste back -> encode.

Memory stays constant with video length: frames are held only in the face stream's gap
buffer, the ease look-ahead and one engine batch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .. import __version__
from ..config import EditConfig, to_dict
from ..errors import InputError, NoFaceError
from ..plan import is_plan, parse_plan
from ..face import transform_landmarks, warp_to_crop
from ..face.backend import yuv_view
from ..face.pose import head_pose
from ..video import VideoReader, VideoWriter, probe, yuv
from .ease import pose_factor, window_factor
from .engine import Engine, engine_changes
from .lanes import Face, Frame, Lane, Lanes
from .outputs import TRACKER_TAG
from .paste import MASK_SIZE, face_mask, paste_change, paste_change_yuv

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (frames done, frames total)


@dataclass
class EditSummary:
    input: str
    output: str
    engine: str
    emotion: str
    intensity: float
    frames: int = 0
    face_frames: int = 0
    edited_frames: int = 0
    no_face_frames: int = 0
    turned_frames: int = 0  # frames whose edit was faded because the head is turned or tilted
    unsure_frames: int = 0  # frames whose edit was eased because the landmarks are unsure of the mouth
    expected_frames: int = 0
    # frames the constant-rate read repeated (damaged or variable-rate input) or dropped
    repeated_frames: int = 0
    dropped_frames: int = 0
    header_seconds: float = 0.0  # the input's duration by its container header
    frame_rate: float = 0.0
    seconds: float = 0.0
    # the expression read on the input's edited frames, as a weight per emotion (0 = none,
    # 1 = as strong as the prototype); empty where the engine does not read it
    shown: dict = field(default_factory=dict)
    compare: str | None = None  # the before/after video written beside the output, if asked for
    faces: int = 0  # faces edited (--face all: every face the video shows; else 0 or 1)
    # the largest effective intensity (intensity x ease x window x pose) on any frame; None:
    # not measured (a summary not made by an edit)
    peak: float | None = None
    done_before: bool = False  # the output was an earlier run's of this same edit: kept, not redone

    @property
    def unchanged(self) -> bool:
        """The edit eased out entirely: an effective intensity of 0 on every frame (no face, a
        face the landmarks were never sure of, intensity 0), so the output shows the input."""
        return not self.done_before and self.peak is not None and self.peak <= 0.0

    @property
    def shown_label(self) -> str:
        """The expression read on the input: its (at most two) strongest parts of at least 0.25,
        e.g. 'happy 0.8' or 'sad 0.6 + happy 0.4' (the edit removes the whole mix), or 'neutral'."""
        if not self.shown:
            return "-"
        parts = sorted(((w, e) for e, w in self.shown.items() if w >= 0.25), reverse=True)[:2]
        return " + ".join(f"{e} {w:.1f}" for w, e in parts) or "neutral"

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    @property
    def short(self) -> bool:
        """The video decodes to clearly less than its header's duration (a truncated file)."""
        if not self.frame_rate or not self.header_seconds:
            return False
        return self.header_seconds - self.frames / self.frame_rate > max(0.25, 2 / self.frame_rate)


def edit_video(src: str | Path, out: str | Path, cfg: EditConfig, engine: Engine, backend,
               on_progress: Progress | None = None) -> EditSummary:
    """Re-express the face in `src` and write `out` (atomically). Returns what was done."""
    t0 = time.perf_counter()
    src, out = Path(src), Path(out)
    emotion = cfg.emotion  # checked where the call entered the library (Editor)
    info = probe(src)
    windows = schedule(cfg, info)
    summary = EditSummary(str(src), str(out), engine.name, emotion, cfg.intensity,
                          expected_frames=info.expected_frames, header_seconds=info.duration,
                          frame_rate=info.fps, peak=0.0)
    carry, matrix = carried_format(engine, backend, info) if cfg.pipes == "auto" else ("rgb24", None)
    writer = VideoWriter(out, info.fps, info.width, info.height, audio_from=src, inputs=[src],
                         overwrite=cfg.overwrite, crf=cfg.crf, preset=cfg.preset,
                         rotation=info.rotation, pix_fmt=carry, codec=cfg.codec, colour=info.colour,
                         tags=edit_tags(src, cfg, engine.name, backend.name))
    if engine.caps.reads_expression:
        # the expression is read on this tracker's landmarks, against its own expression-free face
        engine = engine.seen_by(backend.view_offset)
    try:
        run = _Run(cfg, engine, windows, writer, summary)
        run.planes = (info.width, info.height) if carry == "yuv420p" else None
        planes = run.planes
        lanes = Lanes(backend, cfg, info.fps, engine.expression)
        run.ramp = lanes.ramp
        with VideoReader(src, chunk=8, info=info, pad_end=True, pix_fmt=carry) as reader:
            for chunk in reader:
                for frame in chunk:
                    track = frame if planes is None else yuv.luma(frame, *planes, matrix)
                    run.take(lanes.push(frame, track))
                if on_progress:
                    on_progress(summary.frames + len(run.batch), info.expected_frames)
            summary.repeated_frames = reader.frames_repeated
            summary.dropped_frames = reader.frames_dropped
            run.take(lanes.finish())
            run.flush()
        summary.faces = sum(lane.edited > 0 for lane in lanes.lanes)
        summary.unsure_frames = sum(lane.ease.unsure for lane in lanes.lanes)
        summary.shown = _shown(lanes.lanes)
        if summary.face_frames == 0:
            raise NoFaceError(f"{src.name}: no face found in any of its {summary.frames} frames")
        writer.close()
    except BaseException:
        writer.abort()
        raise
    summary.seconds = time.perf_counter() - t0
    return summary


def edit_tags(src: str | Path, cfg: EditConfig, engine: str, tracker: str) -> dict[str, str]:
    """The metadata every output carries: it says that a face in it was changed, and how, and
    which tracker (its resolved name, never "auto") drove the edit. A rerun of the same command
    on the same input knows its own output by the stccl_ tags (stccl.edit.outputs.made_by): the
    input by its size, every setting by a digest."""
    what = f"emotion {cfg.emotion}, engine {engine}" + (f", regions {cfg.regions}" if cfg.regions else "")
    settings = {k: v for k, v in to_dict(cfg).items() if k != "overwrite"}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return {"comment": f"face expression manipulated by stccl {__version__} ({what})",
            "stccl_version": __version__, "stccl_input_bytes": str(Path(src).stat().st_size),
            "stccl_emotion": cfg.emotion, "stccl_engine": engine, "stccl_intensity": f"{cfg.intensity:g}",
            "stccl_regions": cfg.regions or "all", TRACKER_TAG: tracker, "stccl_settings": digest}


def carried_format(engine: Engine, backend, info) -> tuple[str, str | None]:
    """How frames travel from decoder to encoder under `pipes = "auto"`: ffmpeg's own yuv420p
    where nothing needs a whole RGB frame (an engine that reads only landmarks, a tracker that
    reads the luma plane or makes its crops from the planes, an even frame size), which spares
    both pipes a colour conversion; rgb24 otherwise. Both say so in their registry entries'
    capabilities. Beside it, the matrix by which the tracker's crops are converted from the
    planes (None: it reads only the luma, or frames are RGB)."""
    matrix = yuv.rgb_matrix(info.colour)
    view = yuv_view(backend, matrix)
    if engine.caps.uses_pixels or view is None or not yuv.fits(info.width, info.height):
        return "rgb24", None
    return "yuv420p", matrix if view == "planes" else None


@dataclass(frozen=True)
class Window:
    """Frames first..last (None = open end) edited toward `emotion` at `intensity`."""

    emotion: str
    intensity: float
    first: int | None
    last: int | None


def schedule(cfg: EditConfig, info) -> list[Window]:
    """The edit windows of `cfg` for this video: one for an emotion (--start/--end), one per
    segment of an emotion plan. InputError for times the video does not have."""
    if is_plan(cfg.emotion):
        if cfg.start is not None or cfg.end is not None:
            raise InputError("an emotion plan sets its own times: leave out --start/--end")
        windows = []
        for seg in parse_plan(cfg.emotion):
            if seg.start >= info.duration:
                raise InputError(f"plan segment {seg.text()!r} starts after the end of the video "
                                 f"({info.duration:.2f} s)")
            first, last = _frames(seg.start, seg.end, info.fps)
            amount = cfg.intensity if seg.intensity is None else seg.intensity
            windows.append(Window(seg.emotion, amount, first, last))
        return windows
    if cfg.start is not None and cfg.start < 0:
        raise InputError(f"--start must be >= 0, got {cfg.start}")
    if cfg.start is not None and cfg.start >= info.duration:
        raise InputError(f"--start {cfg.start:g} s is past the end of the video ({info.duration:.2f} s)")
    if cfg.end is not None and cfg.start is not None and cfg.end <= cfg.start:
        raise InputError(f"--end ({cfg.end:g} s) must be after --start ({cfg.start:g} s)")
    return [Window(cfg.emotion, cfg.intensity, *_frames(cfg.start, cfg.end, info.fps))]


def _frames(start: float | None, end: float | None, fps: float) -> tuple[int | None, int | None]:
    """The frames of [start, end) seconds: frame i shows time i / fps."""
    first = None if start is None else math.ceil(start * fps - 1e-6)
    last = None if end is None else math.ceil(end * fps - 1e-6) - 1
    return first, last


def _shown(lanes: list[Lane]) -> dict[str, float]:
    """The expression read on the edited frames of every face, as one mean weight per emotion."""
    readers = [lane.shown for lane in lanes if lane.shown is not None and lane.shown.frames]
    if not readers:
        return {}
    n = sum(r.frames for r in readers)
    return {e: sum(r.reading[e] * r.frames for r in readers) / n for e in readers[0].reading}


class _Run:
    """Frames in order -> each face's edit window and intensity -> batched engine calls, one
    face (lane) at a time -> paste-back onto the frame -> the writer."""

    def __init__(self, cfg: EditConfig, engine: Engine, windows: list[Window], writer: VideoWriter,
                 summary: EditSummary):
        self.cfg, self.engine, self.windows, self.writer = cfg, engine, windows, writer
        self.summary = summary
        self.size = engine.size or cfg.crop_size
        self.batch: list[Frame] = []
        self.ramp = 0
        self.planes: tuple[int, int] | None = None  # (width, height) of yuv420p frames; None: RGB

    def take(self, frames: list[Frame]) -> None:
        for frame in frames:
            for face in frame.faces:
                for w in self.windows:  # they do not overlap: at most one has the frame
                    inside = window_factor(frame.index, w.first, w.last, self.ramp)
                    if inside > 0:
                        face.emotion, face.alpha = w.emotion, w.intensity * face.ease * inside
                        break
            self.batch.append(frame)
            if len(self.batch) >= self.cfg.batch:
                self.flush()

    def flush(self) -> None:
        todo = [f for frame in self.batch for f in frame.faces if f.alpha > 0 and f.face.has_face]
        if todo:
            self._fade_turned(todo)
        edited = set()
        for lane in {f.lane.number: f.lane for f in todo}.values():
            mine = [f for f in todo if f.lane is lane and f.alpha > 0]
            if mine:
                self.summary.peak = max(self.summary.peak, max(f.alpha for f in mine))
                self._edit(lane, mine)
                lane.edited += len(mine)
                edited.update(f.frame.index for f in mine)
        for frame in self.batch:
            found = any(f.face.has_face for f in frame.faces)
            self.summary.frames += 1
            self.summary.face_frames += int(found)
            self.summary.no_face_frames += int(not found)
            self.summary.edited_frames += int(frame.index in edited)
            self.writer.write(frame.pixels)
            frame.release()
        self.batch = []

    def _fade_turned(self, faces: list[Face]) -> None:
        """Scale each face's intensity by its head pose's `pose_factor` (one call per batch)."""
        poses = head_pose(np.stack([f.face.landmarks for f in faces]))
        for f, (yaw, pitch, _) in zip(faces, poses):
            view = pose_factor(yaw, pitch)
            self.summary.turned_frames += int(view < 1.0)
            f.alpha *= view

    def _edit(self, lane: Lane, faces: list[Face]) -> None:
        """One lane's faces of this batch (in frame order): engine calls, then paste-back."""
        size = self.size
        lmk = np.stack([transform_landmarks(f.face.landmarks, f.face.M) for f in faces])
        if self.engine.caps.uses_pixels:
            crops = np.stack([warp_to_crop(f.frame.pixels, f.face.M, size) for f in faces])
            x = crops.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255.0)
        else:  # the engine reads only the crops' shape
            x = np.empty((len(faces), 3, size, size), np.float32)
        alpha = np.array([f.alpha for f in faces], np.float32)
        # read in frame order, whatever the emotions (it smooths)
        shown = None if lane.shown is None else lane.shown([f.frame.index for f in faces], lmk)
        changes = engine_changes(self.engine, x, lmk, [f.emotion for f in faces], alpha, shown)
        for k, (f, change) in enumerate(zip(faces, changes)):
            mask = face_mask(lmk[k], size, raster=MASK_SIZE)
            frame = f.frame
            if self.planes is not None:  # only engines that give no colour change (carried_format)
                frame.pixels = paste_change_yuv(frame.pixels, *self.planes, f.face.M, change.flow, mask, size)
            else:
                frame.pixels = paste_change(frame.pixels, f.face.M, change.flow, change.delta, mask, size)
