"""A picture (.png/.jpg) of one frame: track the frames it needs, compute its maps, draw the
page (stccl.inspect.page) and write it."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from ..errors import InputError, NoFaceError
from ..fs import write_bytes_atomic
from .context import Context, InspectSummary
from .maps import disparity_map, match_map, temporal_map, weight_map
from .metric import stage_features
from .page import render_picture
from .sources import Source

STRIP = 10  # temporal tiles in a PNG (each needs the next frame too)


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


def _collect(ctx: Context, s: Source, start: int, stop: int) -> dict[int, np.ndarray | None]:
    return {i: crop for i, _, crop in s.crops(start, stop, ctx.backend, ctx.track, ctx.tick)}


def _nan_stats(a: np.ndarray) -> tuple[float, float, float]:
    a = np.asarray(a, np.float64)
    if not np.isfinite(a).any():
        return (float("nan"),) * 3
    return float(np.nanmin(a)), float(np.nanmean(a)), float(np.nanmax(a))


def inspect_picture(ctx: Context, src: Source, snd: Source | None, frame: int | None,
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
    page = render_picture(ctx, src, snd, n, m, crops, crop2, maps, strip, (h, w), why_off,
                          chosen=frame is not None)
    save_picture(page, out, ctx.overwrite)
    ctx.tick()
    return InspectSummary(
        out=out, kind="png", panels=panels, untrained=ctx.untrained, metric=ctx.label,
        stage=stage, map_size=(int(h), int(w)), frames=src.frames, frame=n, second_frame=m,
        strip=strip, size=(page.shape[1], page.shape[0]),
        stats={k: _nan_stats(v) for k, v in maps.items()})


def save_picture(page: np.ndarray, out: Path, overwrite: bool = False) -> None:
    """An RGB page encoded by `out`'s suffix and written atomically."""
    ok, buf = cv2.imencode(out.suffix.lower(), cv2.cvtColor(page, cv2.COLOR_RGB2BGR))
    if not ok:
        raise InputError(f"{out}: the picture could not be encoded")
    write_bytes_atomic(out, buf.tobytes(), overwrite)


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
