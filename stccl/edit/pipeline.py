"""The streaming edit: decode -> track -> align -> engine (batched) -> paste back -> encode.

Memory stays constant with video length: frames are held only in the face stream's gap
buffer, the ease look-ahead and one engine batch.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .. import __version__
from ..config import EditConfig
from ..errors import InputError, NoFaceError
from ..plan import is_plan, parse_plan
from ..face import FaceStream, transform_landmarks, warp_to_crop
from ..face.pose import head_pose
from ..video import VideoReader, VideoWriter, probe, yuv
from .ease import EaseBuffer, pose_factor, window_factor
from .expression import ShownReader
from .engine import Engine, to_numpy
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

    @property
    def shown_label(self) -> str:
        """The strongest expression read on the input, e.g. 'happy 0.8', or 'neutral'."""
        if not self.shown:
            return "-"
        emotion, weight = max(self.shown.items(), key=lambda kv: kv[1])
        return f"{emotion} {weight:.1f}" if weight >= 0.25 else "neutral"

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    @property
    def short(self) -> bool:
        """The video decodes to clearly less than its header's duration (a truncated file)."""
        if not self.frame_rate or not self.header_seconds:
            return False
        return self.header_seconds - self.frames / self.frame_rate > max(0.25, 2 / self.frame_rate)


@dataclass
class _Item:
    frame: np.ndarray
    face: object
    alpha: float = 0.0
    emotion: str = ""


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
                          frame_rate=info.fps)
    carry = carried_format(engine, backend, info.width, info.height) if cfg.pipes == "yuv420p" else "rgb24"
    writer = VideoWriter(out, info.fps, info.width, info.height, audio_from=src, inputs=[src],
                         overwrite=cfg.overwrite, crf=cfg.crf, preset=cfg.preset,
                         rotation=info.rotation, pix_fmt=carry, codec=cfg.codec, colour=info.colour,
                         tags=edit_tags(emotion, engine.name, cfg.regions))
    try:
        run = _Run(cfg, engine, windows, writer, summary, info.fps)
        run.planes = (info.width, info.height) if carry == "yuv420p" else None
        stream = FaceStream.from_backend(backend, info.fps, cfg.track, cfg.align)
        ease = EaseBuffer(round(cfg.ease * info.fps))
        with VideoReader(src, chunk=8, info=info, pad_end=True, pix_fmt=carry) as reader:
            for chunk in reader:
                for frame in chunk:
                    track = None if run.planes is None else \
                        yuv.planes(frame, *run.planes)[0].view(yuv.VideoLuma)
                    run.take(ease, stream.push(frame, track))
                if on_progress:
                    on_progress(summary.frames + len(run.batch), info.expected_frames)
            summary.repeated_frames = reader.frames_repeated
            summary.dropped_frames = reader.frames_dropped
            run.take(ease, stream.finish())
            run.collect(ease.finish())
            run.flush()
        if summary.face_frames == 0:
            raise NoFaceError(f"{src.name}: no face found in any of its {summary.frames} frames")
        writer.close()
    except BaseException:
        writer.abort()
        raise
    summary.seconds = time.perf_counter() - t0
    return summary


def edit_tags(emotion: str, engine: str, regions: str | None = None) -> dict[str, str]:
    """The metadata every output carries: it says that a face in it was changed, and how."""
    what = f"emotion {emotion}, engine {engine}" + (f", regions {regions}" if regions else "")
    return {"comment": f"face expression manipulated by stccl {__version__} ({what})",
            "stccl_version": __version__, "stccl_emotion": emotion, "stccl_engine": engine}


def carried_format(engine: Engine, backend, width: int, height: int) -> str:
    """How frames can travel from decoder to encoder when `pipes = "yuv420p"` is asked for:
    ffmpeg's own yuv420p where nothing needs RGB (an engine that reads only landmarks, the dlib
    tracker, which reads grey, an even frame size), which spares both pipes a colour
    conversion; rgb24 otherwise."""
    grey_tracker = getattr(backend, "name", None) == "dlib"
    if getattr(engine, "uses_pixels", True) or not grey_tracker or not yuv.fits(width, height):
        return "rgb24"
    return "yuv420p"


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


class _Run:
    def __init__(self, cfg: EditConfig, engine: Engine, windows: list[Window], writer: VideoWriter,
                 summary: EditSummary, fps: float = 25.0):
        self.cfg, self.engine, self.windows, self.writer = cfg, engine, windows, writer
        self.summary = summary
        self.size = engine.size or cfg.crop_size
        self.batch: list[_Item] = []
        self.ramp = 0
        self.planes: tuple[int, int] | None = None  # (width, height) of yuv420p frames; None: RGB
        model = getattr(engine, "expression", None)  # the engine reads the expression shown
        self.shown = None if model is None else ShownReader(model, fps)

    def take(self, ease: EaseBuffer, emitted) -> None:
        self.ramp = ease.ramp
        for frame, face in emitted:
            self.collect(ease.push(_Item(frame, face), face.has_face))

    def collect(self, eased) -> None:
        for item, factor in eased:
            index = item.face.index
            for w in self.windows:  # they do not overlap: at most one has the frame
                inside = window_factor(index, w.first, w.last, self.ramp)
                if inside > 0:
                    item.emotion, item.alpha = w.emotion, w.intensity * factor * inside
                    break
            self.batch.append(item)
            if len(self.batch) >= self.cfg.batch:
                self.flush()

    def flush(self) -> None:
        todo = [it for it in self.batch if it.alpha > 0 and it.face.M is not None]
        if todo:
            self._fade_turned(todo)
            todo = [it for it in todo if it.alpha > 0]
        if todo:
            self._edit(todo)
        for it in self.batch:
            self.summary.frames += 1
            self.summary.face_frames += int(it.face.has_face)
            self.summary.no_face_frames += int(not it.face.has_face)
            self.writer.write(it.frame)
        self.batch = []

    def _fade_turned(self, items: list[_Item]) -> None:
        """Scale each item's intensity by its head pose's `pose_factor` (one call per batch)."""
        poses = head_pose(np.stack([it.face.landmarks for it in items]))
        for it, (yaw, pitch, _) in zip(items, poses):
            view = pose_factor(yaw, pitch)
            self.summary.turned_frames += int(view < 1.0)
            it.alpha *= view

    def _edit(self, items: list[_Item]) -> None:
        size = self.size
        lmk = np.stack([transform_landmarks(it.face.landmarks, it.face.M) for it in items])
        if getattr(self.engine, "uses_pixels", True):
            crops = np.stack([warp_to_crop(it.frame, it.face.M, size) for it in items])
            x = crops.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255.0)
        else:  # the engine reads only the crops' shape
            x = np.empty((len(items), 3, size, size), np.float32)
        alpha = np.array([it.alpha for it in items], np.float32)
        lmk32 = lmk.astype(np.float32)
        shown = None
        if self.shown is not None:  # read in frame order, whatever the emotions (it smooths)
            shown = self.shown([it.face.index for it in items], lmk)
            self.summary.shown = self.shown.reading
        flow, delta = [None] * len(items), [None] * len(items)
        for emotion in sorted({it.emotion for it in items}):  # one engine call per emotion of a plan
            ks = [k for k, it in enumerate(items) if it.emotion == emotion]
            extra = {} if shown is None else {"shown": shown[ks]}
            out = self.engine(x[ks], lmk32[ks], emotion, alpha[ks], **extra)
            f = to_numpy(out.flow).astype(np.float32, copy=False).transpose(0, 2, 3, 1)
            d = None if out.delta is None else \
                to_numpy(out.delta).astype(np.float32, copy=False).transpose(0, 2, 3, 1)
            for j, k in enumerate(ks):
                flow[k] = f[j]
                delta[k] = None if d is None else np.ascontiguousarray(d[j])
        for k, it in enumerate(items):
            mask = face_mask(lmk[k], size, raster=MASK_SIZE)
            if self.planes is not None:  # only engines that give no colour change (carried_format)
                it.frame = paste_change_yuv(it.frame, *self.planes, it.face.M, flow[k], mask, size)
            else:
                it.frame = paste_change(it.frame, it.face.M, flow[k], delta[k], mask, size)
            self.summary.edited_frames += 1
