"""A video (.mp4) of every frame: crop | spatial disparity | temporal disparity, on one colour
scale per map for the whole video."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from ..draw import (
    ALERT,
    GOOD,
    INK,
    MARGIN,
    MUTED,
    TitledPanel,
    colour_bar,
    letterbox,
    overlay,
    pad_to,
    page,
    panel_row,
    put_text,
    resize_square,
    text_block,
)
from ..errors import NoFaceError
from .context import Context, InspectSummary
from .maps import disparity_map, temporal_map
from .metric import BATCH, map_size, stage_features, stage_text
from .sources import ALIGN_SIZE, Source

VIDEO_CLIP = 99.5  # a video's colour scale tops out at this percentile of all its values


def inspect_video(ctx: Context, src: Source, out: Path) -> InspectSummary:
    """Pass 1: track, features, maps (crops kept as JPEG); pass 2: render with global ranges."""
    from ..video import VideoWriter

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
                rec["frame"] = _jpeg(letterbox(frame, ALIGN_SIZE))
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
    h, w = map_size(ctx.cfg.size, stage)
    disp_rng = _clip_range([r["disp"] for r in records if r["disp"] is not None])
    temp_rng = _clip_range([r["temp"] for r in records if r["temp"] is not None])

    def render(rec):
        return _render_frame(ctx, src, rec, len(records), (h, w), disp_rng, temp_rng)

    # every output frame has one size: the larger of a face frame's and a no-face frame's layout
    face_rec = next(r for r in records if r["crop"] is not None)
    blank = {"index": len(records) - 1, "crop": None, "disp": None, "temp": None,
             "frame": _jpeg(np.zeros((8, 8, 3), np.uint8))}
    height, width = (max(a, b) for a, b in zip(render(face_rec).shape[:2], render(blank).shape[:2]))
    height, width = height + height % 2, width + width % 2
    audio = src.path if src.kind == "video" else None
    with VideoWriter(out, src.fps, width, height, audio_from=audio, inputs=(src.path,),
                     overwrite=ctx.overwrite, preset="fast") as writer:
        for rec in records:
            writer.write(pad_to(render(rec), height, width))
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


def _clip_range(maps: list[np.ndarray], budget: int = 4_000_000) -> tuple[float, float] | None:
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


def _render_frame(ctx: Context, src: Source, rec: dict, count: int, grid,
                  disp_rng, temp_rng) -> np.ndarray:
    d = 320
    i = rec["index"]
    if rec["crop"] is None:
        frame = _unjpeg(rec["frame"])
        raw = resize_square(frame, d)
        put_text(raw, "no face", 12, 36, 0.9, ALERT, 2)
        tiles = [TitledPanel(raw, "INPUT", f"frame {i} of 0..{count - 1}")]
        for title in ("Spatial disparity", "Temporal disparity"):
            rng = disp_rng if title[0] == "S" else temp_rng
            tiles.append(TitledPanel(overlay(raw, None, grid, 1, None), title,
                                     "no face in this frame",
                                     colour_bar(d, rng, "", top_percentile=VIDEO_CLIP)))
    else:
        crop = resize_square(_unjpeg(rec["crop"]), d)
        tiles = [TitledPanel(crop, "INPUT (aligned face)", f"frame {i} of 0..{count - 1}")]
        tiles.append(TitledPanel(overlay(crop, rec["disp"], grid, 1, disp_rng), "Spatial disparity",
                                 "mean over 8 neighbours of ||F(p) - F(q)||",
                                 colour_bar(d, disp_rng, "L2, feature units; bright = differs "
                                            "from its neighbours", top_percentile=VIDEO_CLIP)))
        temp = rec["temp"]
        sub = ("||F_t(x) - F_t+1(x)||: change to the next frame" if temp is not None
               else "no next frame with a face")
        tiles.append(TitledPanel(overlay(crop, temp, grid, 0, temp_rng), "Temporal disparity", sub,
                                 colour_bar(d, temp_rng, "L2, feature units; bright = changes "
                                            "a lot to the next frame", top_percentile=VIDEO_CLIP)))
    top = panel_row(tiles)
    width = top.shape[1] + 2 * MARGIN
    inner = width - 2 * MARGIN
    head = text_block([(f"stccl inspect: {src.name}, {stage_text(ctx.stage, grid, ctx.cfg)}",
                        0.55, INK, 1),
                       (ctx.label, 0.6, ALERT if ctx.untrained else GOOD, 2)], inner)
    foot = text_block([(f"Colour bars: one scale for the whole video, from its min to the "
                        f"{VIDEO_CLIP:g}th percentile of its values (brighter ones show as the top "
                        "colour). Pale grey: no value (map border, no face).", 0.5, MUTED, 1)], inner)
    return page([head, top, foot], width)
