"""`stccl inspect`: pictures of the correlation metric's patch correlations.

For one frame of INPUT (a video, an image or a prepared clip) the stage-L feature map F of the
metric's backbone gives, over the aligned face crop:

1. disparity: for every interior position p, the mean over its 8 neighbours q of ||F(p) - F(q)||;
2. adaptive weights: the metric's `adaptive_weights` rule, averaged over those 8 disparities;
3. match (with SECOND, the same content in another emotion): the mean over the 8 neighbours of
   the cosine between INPUT's and SECOND's projected (spatial_proj[L-1]), L2-normalised
   disparities - what the spatial PatchNCE loss pulls together;
4. temporal (video or prepared clip): ||F_t(x) - F_t+1(x)|| at every position x, on a strip of
   frames around the chosen one, with its mean over the map plotted along time.

SECOND's frame is the one at the same relative time: round(N * len2 / len1).
`-o x.mp4` writes a video instead: one output frame per input frame, crop | spatial disparity |
temporal disparity. See docs/inspect.md. No CLI code here: errors are stccl.errors classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .config import AlignConfig, TrackConfig
from .data.layouts import VIDEO_EXTENSIONS
from .errors import DataError, InputError, NoFaceError
from .fs import ensure_writable_dir, write_bytes_atomic
from .inspect_draw import (
    VIDEO_CLIP,
    ALERT,
    BG,
    GOOD,
    INK,
    MARGIN,
    MARK,
    MUTED,
    _colour_bar,
    _display,
    _fmt,
    _hstack,
    _overlay,
    _page,
    _put,
    _row,
    _text_block,
    _titled,
    _tw,
    _wrap,
    weight_range,
)
from .models.correlation import (
    CorrelationMetric,
    MetricConfig,
    adaptive_weights,
    neighbour_disparities,
    temporal_disparities,
)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
PICTURE_EXTENSIONS = (".png", ".jpg", ".jpeg")
STRIP = 10  # temporal tiles in a PNG (each needs the next frame too)
ALIGN_SIZE = 256  # aligned crop side for tracking and display; the model gets cfg.size
BATCH = 16

Progress = Callable[[int, int], None]


@dataclass
class InspectSummary:
    """What `inspect_correlations` drew and where."""

    out: Path
    kind: str  # "png" | "mp4"
    panels: list[str]  # input, disparity, weights | weights-off, match, second, temporal
    untrained: bool
    metric: str  # the metric line shown on the picture
    stage: int
    map_size: tuple[int, int]  # (h, w) of the stage-L feature map
    frames: int  # INPUT's frame count (1 for an image)
    frame: int | None = None  # INPUT's frame (PNG)
    second_frame: int | None = None
    strip: list[int] = field(default_factory=list)  # frames of the temporal strip (PNG)
    frames_written: int = 0  # mp4
    size: tuple[int, int] = (0, 0)  # (width, height) of the picture / video
    stats: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # (min, mean, max)

    def describe(self) -> str:
        """One line for people: where it went and what it shows."""
        status = "UNTRAINED metric" if self.untrained else "trained metric"
        if self.kind == "mp4":
            what = f"{self.frames_written} frames of crop | spatial | temporal disparity"
        else:
            second = f", vs second frame {self.second_frame}" if self.second_frame is not None else ""
            what = f"frame {self.frame}{second}: {', '.join(self.panels)}"
        return f"wrote {self.out} ({self.size[0]}x{self.size[1]}): {what}; stage {self.stage}, {status}"


# ---------------------------------------------------------------------------------------------
# The maps (pure tensor functions; vectorised through the metric's own disparity functions)


def interior_centers(h: int, w: int, device=None) -> torch.Tensor:
    """(N, 2) long (y, x) of every interior position, row-major: N = (h-2)*(w-2)."""
    if h < 3 or w < 3:
        raise InputError(f"a {h}x{w} feature map has no interior position; pick a lower --stage")
    ys, xs = torch.meshgrid(torch.arange(1, h - 1), torch.arange(1, w - 1), indexing="ij")
    return torch.stack([ys.reshape(-1), xs.reshape(-1)], 1).to(device)


def _neighbours(feat: torch.Tensor) -> torch.Tensor:
    """(B,C,h,w) -> (B, h-2, w-2, 8, C): F(p) - F(q) for every interior p and neighbour q."""
    b, c, h, w = feat.shape
    d = neighbour_disparities(feat, interior_centers(h, w, feat.device))
    return d.view(b, h - 2, w - 2, 8, c)


@torch.no_grad()
def disparity_map(feat: torch.Tensor) -> torch.Tensor:
    """(B,C,h,w) -> (B, h-2, w-2): mean over the 8 neighbours q of ||F(p) - F(q)||."""
    return _neighbours(feat).norm(dim=-1).mean(-1)


@torch.no_grad()
def weight_map(feat: torch.Tensor, threshold: float = 0.8) -> torch.Tensor:
    """(B,C,h,w) -> (B, h-2, w-2): the metric's adaptive weights, mean over the 8 neighbours."""
    d = _neighbours(feat)
    b, hh, ww, k, c = d.shape
    return adaptive_weights(d.reshape(b, -1, c), threshold).view(b, hh, ww, k).mean(-1)


@torch.no_grad()
def match_map(metric: CorrelationMetric, fa: torch.Tensor, fb: torch.Tensor,
              stage: int) -> torch.Tensor:
    """(B, h-2, w-2): how well a's local correlations match b's, mean over the 8 neighbours.

    VD: cosine of the projected (spatial_proj[stage-1]), L2-normalised disparities (1 = same).
    CM: 1 - |cos_a(p,q) - cos_b(p,q)| of the normalised features (1 = same cosines).
    """
    if metric.cfg.variant == "cm":
        def cos(f):
            return 1 - _neighbours(F.normalize(f, dim=1)).square().sum(-1) / 2
        return (1 - (cos(fa) - cos(fb)).abs()).mean(-1)
    proj = metric.spatial_proj[stage - 1]
    q = F.normalize(proj(_neighbours(fa)), dim=-1)
    k = F.normalize(proj(_neighbours(fb)), dim=-1)
    return (q * k).sum(-1).mean(-1)


@torch.no_grad()
def temporal_map(feats: torch.Tensor) -> torch.Tensor:
    """(T,C,h,w) frames of one stream -> (T-1, h, w): ||F_t(x) - F_t+1(x)|| at every x."""
    t, c, h, w = feats.shape
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    centers = torch.stack([ys.reshape(-1), xs.reshape(-1)], 1).to(feats.device)
    d = temporal_disparities(feats[None], centers)  # (1, (T-1)*h*w, C)
    return d.norm(dim=-1).view(t - 1, h, w)


# ---------------------------------------------------------------------------------------------
# Inputs: a video, an image or a prepared clip, giving aligned crops by frame index


class Source:
    """An INPUT or SECOND: `crops(start, stop)` yields (index, frame, crop | None) in order."""

    def __init__(self, path: str | Path):
        self.path = p = Path(path)
        self.name = p.name
        self.info = None
        self.clip = None
        self.image = None
        if not p.exists():
            raise InputError(f"input not found: {p}")
        if p.is_dir():
            self.kind = "clip"
            self.clip = _open_clip(p)
            self.frames = len(self.clip)
            self.fps = float(self.clip.meta.get("fps") or 25.0)
        elif p.suffix.lower() in IMAGE_EXTENSIONS:
            self.kind = "image"
            data = np.fromfile(p, np.uint8)
            image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
            if image is None:
                raise InputError(f"{p}: not a readable image")
            self.image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
            self.frames, self.fps = 1, 25.0
        elif p.suffix.lower() in VIDEO_EXTENSIONS:
            from .video import probe

            self.kind = "video"
            self.info = probe(p)  # VideoError (one line) for a file that is not a video
            self.frames, self.fps = self.info.frames, self.info.fps
        else:
            raise InputError(f"{p}: unsupported input; give a video ({', '.join(VIDEO_EXTENSIONS)}), "
                             "an image (.png/.jpg) or a prepared clip folder")

    @property
    def is_sequence(self) -> bool:
        return self.kind != "image" and self.frames > 1

    def crops(self, start: int, stop: int, backend=None, track: TrackConfig | None = None,
              tick: Callable[[], None] | None = None) -> Iterator[tuple[int, np.ndarray, np.ndarray | None]]:
        """(index, frame, aligned RGB crop or None where there is no face) for start <= index < stop.

        Videos are decoded from the start (exact frame indices) and tracked from `start` on.
        """
        tick = tick or (lambda: None)
        if self.kind == "clip":
            yield from self._clip_crops(start, stop, tick)
            return
        from .face import FaceStream, FaceTracker

        track = track or TrackConfig()
        align = AlignConfig(size=ALIGN_SIZE)
        stream = FaceStream(FaceTracker(backend, track), self.fps, track, align)

        def emit(pairs):
            for frame, face in pairs:
                yield start + face.index, frame, _crop(frame, face)

        if self.kind == "image":
            tick()
            yield from emit(stream.push(self.image))
        else:
            from .video import VideoReader

            with VideoReader(self.path, chunk=8, info=self.info) as reader:
                for i, frame in enumerate(reader.frames()):
                    if i >= stop:
                        break
                    tick()
                    if i >= start:
                        yield from emit(stream.push(frame))
        yield from emit(stream.finish())

    def _clip_crops(self, start, stop, tick):
        from .face import FACE_DETECTED, FACE_INTERPOLATED

        flags = self.clip.track.get("flags")
        for i in range(start, min(stop, self.frames)):
            tick()
            crop = self.clip.crop(i)
            face = flags is None or bool(flags[i] & (FACE_DETECTED | FACE_INTERPOLATED))
            yield i, crop, (crop if face else None)


def _open_clip(p: Path):
    from .data.store import PreparedClip

    if not (p / "meta.json").is_file():
        if (p / "index.jsonl").is_file():
            first = next(iter(sorted((p / "clips").glob("*/meta.json"))), None)
            hint = f", e.g. {first.parent}" if first else ""
            raise InputError(f"{p} is a prepared dataset; pass one of its clip folders{hint}")
        raise InputError(f"{p}: a folder but not a prepared clip (no meta.json)")
    clip = PreparedClip(p)
    try:
        n = len(clip)
    except DataError as e:
        raise InputError(str(e)) from None
    if n < 1:
        raise InputError(f"{p}: the prepared clip has no frames")
    return clip


def _crop(frame: np.ndarray, face) -> np.ndarray | None:
    from .face import warp_to_crop

    return None if face.M is None else warp_to_crop(frame, face.M, ALIGN_SIZE)


# ---------------------------------------------------------------------------------------------
# The metric


def load_inspect_metric(metric_path: str | Path | None, device: str = "cpu"):
    """(metric, cfg, label, untrained). Without a path: IResNet-18 at 128 px, random (seed 0)."""
    if metric_path is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            cfg = MetricConfig(depth=18, size=128)
            metric = CorrelationMetric(cfg)
        label = (f"UNTRAINED metric (random weights): IResNet-{cfg.depth}, size {cfg.size}, seed 0; "
                 "the patterns come from the architecture, not from training")
        return metric.to(device).eval(), cfg, label, True
    from .models.io import load_metric

    metric, cfg, meta = load_metric(metric_path, device)
    steps = int(meta.get("steps", 0))
    if steps == 0:
        label = (f"UNTRAINED metric (random weights): {metric_path} has seen 0 training steps "
                 f"(IResNet-{cfg.depth}, size {cfg.size}, variant {cfg.variant})")
        return metric, cfg, label, True
    label = (f"metric: {metric_path} ({steps} steps, IResNet-{cfg.depth}, size {cfg.size}, "
             f"variant {cfg.variant})")
    return metric, cfg, label, False


def _to_tensor(crops: list[np.ndarray], size: int, device) -> torch.Tensor:
    """RGB uint8 crops -> (B,3,size,size) float in [0,1], resized as training does (INTER_AREA)."""
    out = []
    for c in crops:
        if c.shape[0] != size:
            interp = cv2.INTER_AREA if c.shape[0] > size else cv2.INTER_LINEAR
            c = cv2.resize(c, (size, size), interpolation=interp)
        out.append(c)
    x = torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float().div_(255.0)
    return x.to(device)


@torch.no_grad()
def stage_features(metric: CorrelationMetric, crops: list[np.ndarray], stage: int,
                   device) -> torch.Tensor:
    """(B, C, h, w) stage-`stage` feature maps of RGB uint8 crops."""
    feats = []
    for i in range(0, len(crops), BATCH):
        x = _to_tensor(crops[i:i + BATCH], metric.cfg.size, device)
        feats.append(metric.features(x)[stage - 1].float())
    return torch.cat(feats)


# ---------------------------------------------------------------------------------------------
# Entry point


def inspect_correlations(input: str | Path, second: str | Path | None = None,
                         metric_path: str | Path | None = None, out: str | Path = "inspect.png",
                         frame: int | None = None, stage: int = 2, device: str = "auto",
                         tracker: str = "auto", progress: Progress | None = None) -> InspectSummary:
    """Draw the metric's patch correlations of INPUT (and SECOND) to `out` (.png or .mp4)."""
    out = Path(out)
    if not isinstance(stage, int) or not 1 <= stage <= 4:
        raise InputError(f"--stage must be 1, 2, 3 or 4 (the backbone's stages), got {stage}")
    suffix = out.suffix.lower()
    video_out = suffix in VIDEO_EXTENSIONS
    if not video_out and suffix not in PICTURE_EXTENSIONS:
        raise InputError(f"{out}: write a picture (.png/.jpg) or a video (.mp4)")
    if frame is not None and frame < 0:
        raise InputError(f"--frame must be >= 0, got {frame}")
    src = Source(input)
    snd = Source(second) if second is not None else None
    for s in (src, snd):
        if s is not None and _same_file(out, s.path):
            raise InputError(f"output would overwrite the input {s.name}")
    if video_out:
        if not src.is_sequence:
            raise InputError(f"{out.name}: a video output needs a video or a prepared clip as INPUT")
        if snd is not None:
            raise InputError("SECOND is drawn only in a picture; drop it or write a .png")
        if frame is not None:
            raise InputError("--frame picks the frame of a picture; a video output shows every frame")
    elif frame is not None and frame >= src.frames:
        raise InputError(f"--frame {frame} is past the end of {src.name} ({src.frames} frame"
                         f"{'s' if src.frames != 1 else ''}: 0..{src.frames - 1})")
    ensure_writable_dir(out.parent if str(out.parent) else Path("."))

    from .face.backends import make_backend, resolve_device

    dev = resolve_device(device)
    metric, cfg, label, untrained = load_inspect_metric(metric_path, dev)
    h, w = _map_size(cfg.size, stage)
    if h < 3 or w < 3:
        raise InputError(f"stage {stage} of a size-{cfg.size} metric is a {h}x{w} map with no "
                         "interior position; pick a lower --stage")
    backend = None if src.kind == "clip" and (snd is None or snd.kind == "clip") else \
        make_backend(tracker, device)
    track = TrackConfig(tracker=tracker, device=device)
    ctx = _Ctx(metric, cfg, label, untrained, stage, dev, backend, track, progress)
    if video_out:
        return _inspect_video(ctx, src, out)
    return _inspect_picture(ctx, src, snd, frame, out)


@dataclass
class _Ctx:
    metric: CorrelationMetric
    cfg: MetricConfig
    label: str
    untrained: bool
    stage: int
    device: str
    backend: object
    track: TrackConfig
    progress: Progress | None
    done: int = 0
    total: int = 1

    def tick(self, n: int = 1) -> None:
        self.done += n
        if self.progress is not None:
            self.progress(min(self.done, self.total), self.total)


def _map_size(size: int, stage: int) -> tuple[int, int]:
    s = size
    for _ in range(stage):
        s = (s - 1) // 2 + 1  # 3x3 stride-2 conv, padding 1
    return s, s


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and a.samefile(b))
    except OSError:
        return False


def second_frame_for(frame: int, frames: int, frames2: int) -> int:
    """SECOND's frame at the same relative time: round(frame * frames2 / frames), clipped."""
    if frames2 <= 1:
        return 0
    return min(int(round(frame * frames2 / max(frames, 1))), frames2 - 1)


def _strip_window(n: int, frames: int, k: int = STRIP) -> tuple[int, int]:
    """[start, stop) of the k tiles around n; each tile also needs its next frame (stop + 1)."""
    k = min(k, frames)
    start = min(max(n - k // 2, 0), frames - k)
    return start, start + k


def _tracked_window(n: int, s: Source) -> tuple[int, int, int]:
    """(start, stop, stop_read): the strip's tiles [start, stop) around frame n, and the frames
    tracked, [start, stop_read), which add the last tile's next frame. INPUT and SECOND are
    tracked the same way, so a frame's crop does not depend on which of the two it is."""
    if not s.is_sequence:
        return n, n + 1, n + 1
    start, stop = _strip_window(n, s.frames)
    return start, stop, min(stop + 1, s.frames)


def _reads(s: Source, start: int, stop: int) -> int:
    """Frames read to track [start, stop): videos are decoded from their first frame."""
    return stop if s.kind == "video" else stop - start


def _collect(ctx: _Ctx, s: Source, start: int, stop: int) -> dict[int, np.ndarray | None]:
    return {i: crop for i, _, crop in s.crops(start, stop, ctx.backend, ctx.track, ctx.tick)}


def _nan_stats(a: np.ndarray) -> tuple[float, float, float]:
    a = np.asarray(a, np.float64)
    if not np.isfinite(a).any():
        return (float("nan"),) * 3
    return float(np.nanmin(a)), float(np.nanmean(a)), float(np.nanmax(a))


def _inspect_picture(ctx: _Ctx, src: Source, snd: Source | None, frame: int | None,
                     out: Path) -> InspectSummary:
    n = src.frames // 2 if frame is None else frame
    start, stop, stop_read = _tracked_window(n, src)
    m = second_frame_for(n, src.frames, snd.frames) if snd is not None else None
    ctx.total = _reads(src, start, stop_read) + 2
    if snd is not None:
        start2, _, stop2 = _tracked_window(m, snd)
        ctx.total += _reads(snd, start2, stop2)
    crops = _collect(ctx, src, start, stop_read)
    if n not in crops:
        raise InputError(f"{src.name}: frame {n} could not be decoded (the file holds fewer frames "
                         f"than its header says: {max(crops, default=-1) + 1} read)")
    if crops[n] is None:
        raise NoFaceError(f"no face found at frame {n} of {src.name}")
    crop2 = None
    if snd is not None:
        got = _collect(ctx, snd, start2, stop2)  # the same window as INPUT's: same smoothing
        if got.get(m) is None:
            raise NoFaceError(f"no face found at frame {m} of {snd.name} (SECOND, same relative time)")
        crop2 = got[m]

    stage, metric = ctx.stage, ctx.metric
    order = [i for i in range(start, stop_read) if crops.get(i) is not None]
    feats = stage_features(metric, [crops[i] for i in order] + ([crop2] if crop2 is not None else []),
                           stage, ctx.device)
    f_at = {i: feats[j] for j, i in enumerate(order)}
    fa = f_at[n][None]
    maps: dict[str, np.ndarray] = {"disparity": disparity_map(fa)[0].cpu().numpy()}
    weights_on = metric.cfg.variant == "vd" and metric.cfg.adaptive
    if weights_on:
        maps["weights"] = weight_map(fa, metric.cfg.adaptive_threshold)[0].cpu().numpy()
    if crop2 is not None:
        maps["match"] = match_map(metric, fa, feats[-1][None], stage)[0].cpu().numpy()
    strip: list[int] = []
    temporal = None
    if src.is_sequence:
        strip = list(range(start, stop))
        temporal = _strip_temporal(f_at, start, stop)
        maps["temporal"] = temporal
    ctx.tick()

    h, w = fa.shape[-2:]
    panels = ["input", "disparity", "weights" if weights_on else "weights-off"]
    if crop2 is not None:
        panels += ["match", "second"]
    if temporal is not None:
        panels.append("temporal")
    why_off = ("adaptive weights off (cfg.adaptive = false)" if metric.cfg.variant == "vd"
               else "adaptive weights are not used by the CM variant")
    page = _render_picture(ctx, src, snd, n, m, crops, crop2, maps, strip, (h, w), why_off,
                           chosen=frame is not None)
    ok, buf = cv2.imencode(out.suffix.lower(), cv2.cvtColor(page, cv2.COLOR_RGB2BGR))
    if not ok:
        raise InputError(f"{out}: the picture could not be encoded")
    write_bytes_atomic(out, buf.tobytes())
    ctx.tick()
    return InspectSummary(
        out=out, kind="png", panels=panels, untrained=ctx.untrained, metric=ctx.label,
        stage=stage, map_size=(int(h), int(w)), frames=src.frames, frame=n, second_frame=m,
        strip=strip, size=(page.shape[1], page.shape[0]),
        stats={k: _nan_stats(v) for k, v in maps.items()})


def _strip_temporal(f_at: dict[int, torch.Tensor], start: int, stop: int) -> np.ndarray:
    """(stop-start, h, w): ||F_t - F_t+1|| for start <= t < stop; NaN where t or t+1 has no
    face or t+1 is past the end."""
    ref = next(iter(f_at.values()))
    seq = torch.stack([f_at.get(i, torch.zeros_like(ref)) for i in range(start, stop + 1)])
    tm = temporal_map(seq).cpu().numpy()
    for j, i in enumerate(range(start, stop)):
        if i not in f_at or i + 1 not in f_at:
            tm[j] = np.nan
    return tm


def _inspect_video(ctx: _Ctx, src: Source, out: Path) -> InspectSummary:
    """Pass 1: track, features, maps (crops kept as JPEG); pass 2: render with global ranges."""
    from .video import VideoWriter

    ctx.total = 2 * src.frames
    stage, metric = ctx.stage, ctx.metric
    records: list[dict] = []
    pending: list[tuple[int, np.ndarray, np.ndarray | None]] = []
    prev: dict = {"feat": None, "rec": None}

    def flush():
        present = [c for _, _, c in pending if c is not None]
        feats = iter(stage_features(metric, present, stage, ctx.device)) if present else iter(())
        for i, frame, crop in pending:
            rec = {"index": i, "crop": None, "frame": None, "disp": None, "temp": None}
            feat = next(feats) if crop is not None else None
            if crop is None:
                rec["frame"] = _jpeg(_fit(frame, ALIGN_SIZE))
            else:
                rec["crop"] = _jpeg(crop)
                rec["disp"] = disparity_map(feat[None])[0].cpu().numpy().astype(np.float16)
            if prev["feat"] is not None and feat is not None:
                tm = temporal_map(torch.stack([prev["feat"], feat]))[0]
                prev["rec"]["temp"] = tm.cpu().numpy().astype(np.float16)
            prev["feat"], prev["rec"] = feat, rec
            records.append(rec)
        pending.clear()

    for item in src.crops(0, src.frames, ctx.backend, ctx.track, ctx.tick):
        pending.append(item)
        if len(pending) >= BATCH:
            flush()
    flush()
    if not any(r["crop"] is not None for r in records):
        raise NoFaceError(f"no face found in any of the {len(records)} frames of {src.name}")
    ctx.total = ctx.done + len(records)
    h, w = _map_size(ctx.cfg.size, stage)
    disp_rng = _range([r["disp"] for r in records if r["disp"] is not None])
    temp_rng = _range([r["temp"] for r in records if r["temp"] is not None])
    def render(rec):
        return _render_video_frame(ctx, src, rec, len(records), (h, w), disp_rng, temp_rng)

    # every output frame has one size: the larger of a face frame's and a no-face frame's layout
    face_rec = next(r for r in records if r["crop"] is not None)
    blank = {"index": len(records) - 1, "crop": None, "disp": None, "temp": None,
             "frame": _jpeg(np.zeros((8, 8, 3), np.uint8))}
    height, width = (max(a, b) for a, b in zip(render(face_rec).shape[:2], render(blank).shape[:2]))
    height, width = height + height % 2, width + width % 2
    audio = src.path if src.kind == "video" else None
    with VideoWriter(out, src.fps, width, height, audio_from=audio, inputs=(src.path,),
                     overwrite=True, preset="fast") as writer:
        for rec in records:
            writer.write(_pad_to(render(rec), height, width))
            ctx.tick()
        written = writer.frames_written
    stats = {"disparity": _maps_stats([r["disp"] for r in records if r["disp"] is not None])}
    temps = [r["temp"] for r in records if r["temp"] is not None]
    if temps:
        stats["temporal"] = _maps_stats(temps)
    return InspectSummary(
        out=out, kind="mp4", panels=["input", "disparity", "temporal"], untrained=ctx.untrained,
        metric=ctx.label, stage=stage, map_size=(h, w), frames=len(records),
        frames_written=written, size=(width, height), stats=stats)


def _pad_to(img: np.ndarray, height: int, width: int) -> np.ndarray:
    out = np.full((height, width, 3), BG, np.uint8)
    h, w = min(height, img.shape[0]), min(width, img.shape[1])
    out[:h, :w] = img[:h, :w]
    return out




def _range(maps: list[np.ndarray], budget: int = 4_000_000) -> tuple[float, float] | None:
    """One colour scale for a whole video: its min to the VIDEO_CLIP percentile, so that a few
    jumps (a cut, a re-detection) do not leave every other frame dark. The percentile is taken
    on an even subsample of at most `budget` values (long videos, early stages)."""
    if not maps:
        return None
    step = max(1, -(-sum(m.size for m in maps) // budget))
    values = np.concatenate([m.ravel()[::step] for m in maps]).astype(np.float64)
    values = values[np.isfinite(values)]
    if not values.size:
        return None
    lo = min(float(np.nanmin(m)) for m in maps)
    return lo, float(np.percentile(values, VIDEO_CLIP))


def _maps_stats(maps: list[np.ndarray]) -> tuple[float, float, float]:
    """(min, mean, max) over many maps without joining them."""
    lo = min(float(np.nanmin(m)) for m in maps)
    hi = max(float(np.nanmax(m)) for m in maps)
    total = sum(float(np.nansum(m, dtype=np.float64)) for m in maps)
    count = sum(int(np.isfinite(m).sum()) for m in maps)
    return lo, total / max(count, 1), hi


def _jpeg(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
    return buf.tobytes()


def _unjpeg(data: bytes) -> np.ndarray:
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _fit(frame: np.ndarray, side: int) -> np.ndarray:
    """`frame` scaled to fit a side x side square, letterboxed in grey."""
    fh, fw = frame.shape[:2]
    s = side / max(fh, fw)
    small = cv2.resize(frame, (max(1, round(fw * s)), max(1, round(fh * s))), interpolation=cv2.INTER_AREA)
    box = np.full((side, side, 3), 60, np.uint8)
    y, x = (side - small.shape[0]) // 2, (side - small.shape[1]) // 2
    box[y:y + small.shape[0], x:x + small.shape[1]] = small
    return box


def _stage_text(stage: int, grid: tuple[int, int], cfg: MetricConfig) -> str:
    from .models.iresnet import CHANNELS

    return (f"stage {stage} of IResNet-{cfg.depth} at {cfg.size} px: a {grid[0]}x{grid[1]} feature map, "
            f"{CHANNELS[stage - 1]} channels (1 cell = {cfg.size // grid[0]} model px)")


def _render_picture(ctx: _Ctx, src: Source, snd: Source | None, n: int, m: int | None,
                    crops: dict, crop2, maps: dict, strip: list[int], grid, why_off: str,
                    chosen: bool = False) -> np.ndarray:
    stage = ctx.stage
    d = 320 if snd is not None else 400
    crop = _display(crops[n], d)
    kind = {"video": "video", "image": "image", "clip": "prepared clip"}

    tiles = [_titled(crop, "INPUT (aligned face)",
                     f"{src.name}, frame {n} of 0..{src.frames - 1}" if src.is_sequence else src.name,
                     _text_block([(f"{kind[src.kind]}; crop resized to {ctx.cfg.size} px for the model",
                                   0.55, MUTED, 1)], d))]
    rng = _rng(maps["disparity"])
    tiles.append(_titled(_overlay(crop, maps["disparity"], grid, 1, rng),
                         "(1) Spatial disparity", "mean over the 8 neighbours q of ||F(p) - F(q)||",
                         _colour_bar(d, rng, "feature distance (L2, feature units)")))
    if "weights" in maps:
        wmap = maps["weights"]
        boosted = float(np.mean(wmap > 1.0)) * 100
        wrange = weight_range(ctx.cfg.adaptive_threshold)
        tiles.append(_titled(_overlay(crop, wmap, grid, 1, wrange),
                             "(2) Adaptive weight",
                             f"loss weight per region: 2t^2 if t = mean sigmoid|d| > "
                             f"{ctx.cfg.adaptive_threshold:g}, else 1. Here {_fmt(np.nanmin(wmap))}"
                             f"..{_fmt(np.nanmax(wmap))}; {boosted:.0f}% of regions above 1",
                             _colour_bar(d, wrange, "weight; the scale is the rule's whole "
                                         "range: 1 = normal, 2 = hardest region")))
    else:
        body = _overlay(crop, None, grid, 1, None)
        for k, line in enumerate(_wrap(why_off, d - 40, 0.7, 2)):
            _put(body, line, 20, d // 2 + 30 * k, 0.7, ALERT, 2)
        tiles.append(_titled(body, "(2) Adaptive weight", why_off))
    if "match" in maps:
        rng = _rng(maps["match"])
        what = ("cosine of the projected, L2-normalised disparities" if ctx.cfg.variant == "vd"
                else "1 - |cos_INPUT(p,q) - cos_SECOND(p,q)| (CM variant)")
        tiles.append(_titled(_overlay(crop, maps["match"], grid, 1, rng),
                             "(3) Match INPUT vs SECOND", f"mean over the 8 neighbours: {what}; "
                             f"mean {np.nanmean(maps['match']):.3f}",
                             _colour_bar(d, rng, "cosine, -1..1 (1 = same local correlation)")))
        tiles.append(_titled(_display(crop2, d), "SECOND (aligned face)",
                             f"{snd.name}, frame {m} of 0..{snd.frames - 1}" if snd.is_sequence
                             else snd.name,
                             _text_block([("the frame at the same relative time as INPUT's",
                                           0.55, MUTED, 1)], d)))
    top = _row(tiles)
    width = max(top.shape[1] + 2 * MARGIN, 1400)
    inner = width - 2 * MARGIN

    label_color = ALERT if ctx.untrained else GOOD
    head = [("stccl inspect: the correlation metric's patch correlations", 0.95, INK, 2),
            (ctx.label, 0.8 if ctx.untrained else 0.7, label_color, 2),
            (_stage_text(stage, grid, ctx.cfg), 0.6, MUTED, 1)]
    src_line = f"INPUT: {src.path}" + (
        f", frame {n} of 0..{src.frames - 1} ({'--frame' if chosen else 'the middle frame'})"
        if src.is_sequence else "")
    head.append((src_line, 0.6, MUTED, 1))
    if snd is not None:
        rel = (f", frame {m} = round({n} x {snd.frames} / {src.frames}) (same relative time)"
               if snd.is_sequence else "")
        head.append((f"SECOND: {snd.path}{rel}", 0.6, MUTED, 1))
    rows = [_text_block(head, inner), top]
    if "temporal" in maps:
        rows.append(_temporal_section(ctx, crops, maps["temporal"], strip, n, grid, inner))
    rows.append(_legend(ctx, maps, grid, inner, snd is not None))
    return _page(rows, width)


def _rng(values: np.ndarray) -> tuple[float, float] | None:
    finite = values[np.isfinite(values)]
    return (float(finite.min()), float(finite.max())) if finite.size else None


def _temporal_section(ctx: _Ctx, crops: dict, tm: np.ndarray, strip: list[int], n: int,
                      grid, inner: int) -> np.ndarray:
    k = len(strip)
    tile = min(170, (inner - (k - 1) * 8) // k)
    rng = _rng(tm)
    tiles = []
    for j, i in enumerate(strip):
        c = crops.get(i)
        if c is None:
            body = np.full((tile, tile, 3), 220, np.uint8)
            _put(body, "no face", 10, tile // 2, 0.6, ALERT, 2)
        else:
            body = _overlay(_display(c, tile), tm[j], grid, 0, rng)
            if not np.isfinite(tm[j]).any():
                why = "no next frame" if i + 1 not in crops else "next: no face"
                _put(body, why, 8, tile - 12, 0.55, ALERT, 2)
        if i == n:
            cv2.rectangle(body, (1, 1), (tile - 2, tile - 2), MARK, 4)
        cap = np.full((30, tile, 3), BG, np.uint8)
        text = f"t={i}" + (" (N)" if i == n else "")
        _put(cap, text, (tile - _tw(text, 0.6, 2 if i == n else 1)) // 2, 22, 0.6,
             MARK if i == n else INK, 2 if i == n else 1)
        tiles.append(np.concatenate([cap, body]))
    strip_img = _hstack(tiles, 8)
    sw = strip_img.shape[1]
    title = _text_block([
        ("(4) Temporal disparity along time", 0.75, INK, 2),
        (f"||F_t(x) - F_t+1(x)|| at every position x of the stage-{ctx.stage} map: how much the "
         "features at each place change from frame t to the next frame t+1", 0.55, MUTED, 1)], sw)
    bar = _colour_bar(min(sw, 520), rng, "feature change to the next frame (L2, feature units); "
                      "one scale for the whole strip")
    means = [float(np.nanmean(tm[j])) if np.isfinite(tm[j]).any() else float("nan")
             for j in range(len(strip))]
    plot = _line_plot(means, strip, n, tile, 8, sw)
    bar_row = np.full((bar.shape[0], sw, 3), BG, np.uint8)
    bar_row[:, :bar.shape[1]] = bar
    return np.concatenate([title, strip_img, np.full((10, sw, 3), BG, np.uint8), bar_row, plot])


def _line_plot(values: list[float], frames: list[int], n: int, tile: int, gap: int,
               width: int) -> np.ndarray:
    """Mean temporal disparity per tile, one point under the centre of each tile."""
    height, top, bottom = 200, 40, 40
    img = np.full((height, width, 3), BG, np.uint8)
    _put(img, "mean over the map of ||F_t - F_t+1|| (one point per tile above)", 0, 24, 0.6, INK, 1)
    finite = [v for v in values if np.isfinite(v)]
    if not finite:
        _put(img, "no values", 0, 80, 0.6, MUTED)
        return img
    lo, hi = min(finite), max(finite)
    pad = (hi - lo) * 0.1 or abs(hi) * 0.1 or 1.0
    lo_ax, hi_ax = lo - pad, hi + pad
    y0, y1 = top, height - bottom

    def ypos(v):
        return int(round(y1 - (v - lo_ax) / (hi_ax - lo_ax) * (y1 - y0)))

    xs = [j * (tile + gap) + tile // 2 for j in range(len(values))]
    cv2.line(img, (0, y1), (width - 1, y1), MUTED, 1)
    for v in (lo, hi):
        y = ypos(v)
        cv2.line(img, (0, y), (width - 1, y), (225, 225, 225), 1)
        _put(img, _fmt(v), 4, y - 4, 0.5, MUTED)
    pts = [(x, ypos(v)) for x, v in zip(xs, values) if np.isfinite(v)]
    if len(pts) > 1:
        cv2.polylines(img, [np.array(pts, np.int32)], False, (40, 90, 200), 2, cv2.LINE_AA)
    for x, v, f in zip(xs, values, frames):
        if np.isfinite(v):
            cv2.circle(img, (x, ypos(v)), 5 if f != n else 7, MARK if f == n else (40, 90, 200),
                       -1, cv2.LINE_AA)
        text = f"{f}"
        _put(img, text, x - _tw(text, 0.5) // 2, height - 12, 0.5, MARK if f == n else MUTED)
    return img


def _legend(ctx: _Ctx, maps: dict, grid, inner: int, has_second: bool) -> np.ndarray:
    scale = ("viridis: dark purple = low, yellow = high; each colour bar gives its panel's min and "
             "max" + ("; the weight panel's scale is the rule's fixed range "
                      "{:g}..{:g}".format(*weight_range(ctx.cfg.adaptive_threshold))
                      if "weights" in maps else ""))
    lines = [(f"How to read ({scale}):", 0.62, INK, 2),
             ("(1) bright = this region's features differ strongly from its 8 neighbours (edges of "
              "eyes, brows, mouth, face outline); these neighbour disparities are what the metric "
              "compares between two faces.", 0.58, INK, 1)]
    if "weights" in maps:
        lines.append(("(2) bright = a 'hard' region whose NCE term weighs more in the loss "
                      "(weight > 1); dark = normal weight 1.", 0.58, INK, 1))
    else:
        lines.append(("(2) no adaptive weights: every region weighs the same in the loss.", 0.58, INK, 1))
    if has_second:
        lines.append(("(3) bright = INPUT's and SECOND's local correlations agree here (what the loss "
                      "pulls together); dark = they differ (the expression changed the structure here).",
                      0.58, INK, 1))
    if "temporal" in maps:
        lines.append(("(4) bright = the features at this place change a lot to the next frame "
                      "(speech, blinks, head motion); the orange frame marks the chosen frame N.",
                      0.58, INK, 1))
    lines.append((f"Pale grey: no value (the border ring of the {grid[0]}x{grid[1]} map has fewer "
                  "than 8 neighbours; frames without a face). F = the stage's feature map of the "
                  "metric's backbone.", 0.55, MUTED, 1))
    return _text_block(lines, inner)


def _render_video_frame(ctx: _Ctx, src: Source, rec: dict, count: int, grid,
                        disp_rng, temp_rng) -> np.ndarray:
    d = 320
    i = rec["index"]
    if rec["crop"] is None:
        frame = _unjpeg(rec["frame"])
        raw = _display(frame, d)
        _put(raw, "no face", 12, 36, 0.9, ALERT, 2)
        tiles = [_titled(raw, "INPUT", f"frame {i} of 0..{count - 1}")]
        for title in ("Spatial disparity", "Temporal disparity"):
            tiles.append(_titled(_overlay(raw, None, grid, 1, None), title, "no face in this frame",
                                 _colour_bar(d, disp_rng if title[0] == "S" else temp_rng, "", clipped=True)))
    else:
        crop = _display(_unjpeg(rec["crop"]), d)
        tiles = [_titled(crop, "INPUT (aligned face)", f"frame {i} of 0..{count - 1}")]
        tiles.append(_titled(_overlay(crop, rec["disp"], grid, 1, disp_rng), "Spatial disparity",
                             "mean over 8 neighbours of ||F(p) - F(q)||",
                             _colour_bar(d, disp_rng, "L2, feature units; bright = differs "
                                         "from its neighbours", clipped=True)))
        temp = rec["temp"]
        sub = ("||F_t(x) - F_t+1(x)||: change to the next frame" if temp is not None
               else "no next frame with a face")
        tiles.append(_titled(_overlay(crop, temp, grid, 0, temp_rng), "Temporal disparity", sub,
                             _colour_bar(d, temp_rng, "L2, feature units; bright = changes "
                                         "a lot to the next frame", clipped=True)))
    top = _row(tiles)
    width = top.shape[1] + 2 * MARGIN
    inner = width - 2 * MARGIN
    head = _text_block([(f"stccl inspect: {src.name}, {_stage_text(ctx.stage, grid, ctx.cfg)}",
                         0.55, INK, 1),
                        (ctx.label, 0.6, ALERT if ctx.untrained else GOOD, 2)], inner)
    foot = _text_block([(f"Colour bars: one scale for the whole video, from its min to the "
                         f"{VIDEO_CLIP:g}th percentile of its values (brighter ones show as the top "
                         "colour). Pale grey: no value (map border, no face).", 0.5, MUTED, 1)], inner)
    return _page([head, top, foot], width)
