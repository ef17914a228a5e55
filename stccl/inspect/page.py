"""The page of a picture: the top row of panels (input, disparity, weights, match, second), the
temporal strip with its line plot, and how to read it (numpy and cv2 only, RGB)."""

from __future__ import annotations

import cv2
import numpy as np

from ..draw import (
    ALERT,
    BG,
    GOOD,
    INK,
    MARGIN,
    MARK,
    MUTED,
    TitledPanel,
    colour_bar,
    fmt_value,
    hstack,
    overlay,
    page,
    panel_row,
    put_text,
    resize_square,
    text_block,
    text_width,
    wrap,
)
from .context import Context
from .metric import stage_text
from .sources import Source

LINE = (40, 90, 200)  # the temporal plot's line
KIND = {"video": "video", "image": "image", "clip": "prepared clip"}


def weight_range(threshold: float) -> tuple[float, float]:
    """Every value the adaptive rule can give: 1, or 2 t^2 for t in (threshold, 1]."""
    return min(1.0, 2 * threshold ** 2), 2.0


def value_range(values: np.ndarray) -> tuple[float, float] | None:
    """(min, max) of the finite values; None without any."""
    finite = values[np.isfinite(values)]
    return (float(finite.min()), float(finite.max())) if finite.size else None


def render_picture(ctx: Context, src: Source, snd: Source | None, n: int, m: int | None,
                   crops: dict, crop2, maps: dict, strip: list[int], grid, why_off: str,
                   chosen: bool = False) -> np.ndarray:
    d = 320 if snd is not None else 400
    crop = resize_square(crops[n], d)
    where = f"{src.name}, frame {n} of 0..{src.frames - 1}" if src.is_sequence else src.name
    note = f"{KIND[src.kind]}; crop resized to {ctx.cfg.size} px for the model"
    tiles = [TitledPanel(crop, "INPUT (aligned face)", where,
                         text_block([(note, 0.55, MUTED, 1)], d))]
    rng = value_range(maps["disparity"])
    tiles.append(TitledPanel(overlay(crop, maps["disparity"], grid, 1, rng), "(1) Spatial disparity",
                             "mean over the 8 neighbours q of ||F(p) - F(q)||",
                             colour_bar(d, rng, "feature distance (L2, feature units)")))
    if "weights" in maps:
        wmap = maps["weights"]
        boosted = float(np.mean(wmap > 1.0)) * 100
        wrange = weight_range(ctx.cfg.adaptive_threshold)
        sub = (f"loss weight per region: 2t^2 if t = mean sigmoid|d| > "
               f"{ctx.cfg.adaptive_threshold:g}, else 1. Here {fmt_value(np.nanmin(wmap))}"
               f"..{fmt_value(np.nanmax(wmap))}; {boosted:.0f}% of regions above 1")
        tiles.append(TitledPanel(overlay(crop, wmap, grid, 1, wrange), "(2) Adaptive weight", sub,
                                 colour_bar(d, wrange, "weight; the scale is the rule's whole "
                                            "range: 1 = normal, 2 = hardest region")))
    else:
        body = overlay(crop, None, grid, 1, None)
        for k, line in enumerate(wrap(why_off, d - 40, 0.7, 2)):
            put_text(body, line, 20, d // 2 + 30 * k, 0.7, ALERT, 2)
        tiles.append(TitledPanel(body, "(2) Adaptive weight", why_off))
    if "match" in maps:
        rng = value_range(maps["match"])
        what = ("cosine of the projected, L2-normalised disparities" if ctx.cfg.variant == "vd"
                else "1 - |cos_INPUT(p,q) - cos_SECOND(p,q)| (CM variant)")
        sub = f"mean over the 8 neighbours: {what}; mean {np.nanmean(maps['match']):.3f}"
        tiles.append(TitledPanel(overlay(crop, maps["match"], grid, 1, rng),
                                 "(3) Match INPUT vs SECOND", sub,
                                 colour_bar(d, rng, "cosine, -1..1 (1 = same local correlation)")))
        where = f"{snd.name}, frame {m} of 0..{snd.frames - 1}" if snd.is_sequence else snd.name
        note = "the frame at the same relative time as INPUT's"
        tiles.append(TitledPanel(resize_square(crop2, d), "SECOND (aligned face)", where,
                                 text_block([(note, 0.55, MUTED, 1)], d)))
    top = panel_row(tiles)
    width = max(top.shape[1] + 2 * MARGIN, 1400)
    inner = width - 2 * MARGIN

    label_color = ALERT if ctx.untrained else GOOD
    head = [("stccl inspect: the correlation metric's patch correlations", 0.95, INK, 2),
            (ctx.label, 0.8 if ctx.untrained else 0.7, label_color, 2),
            (stage_text(ctx.stage, grid, ctx.cfg), 0.6, MUTED, 1)]
    src_line = f"INPUT: {src.path}" + (
        f", frame {n} of 0..{src.frames - 1} ({'--frame' if chosen else 'the middle frame'})"
        if src.is_sequence else "")
    head.append((src_line, 0.6, MUTED, 1))
    if snd is not None:
        rel = (f", frame {m} = round({n} x {snd.frames} / {src.frames}) (same relative time)"
               if snd.is_sequence else "")
        head.append((f"SECOND: {snd.path}{rel}", 0.6, MUTED, 1))
    rows = [text_block(head, inner), top]
    if "temporal" in maps:
        rows.append(_temporal_section(ctx, crops, maps["temporal"], strip, n, grid, inner))
    rows.append(_legend(ctx, maps, grid, inner, snd is not None))
    return page(rows, width)


def _temporal_section(ctx: Context, crops: dict, tm: np.ndarray, strip: list[int], n: int,
                      grid, inner: int) -> np.ndarray:
    k = len(strip)
    tile = min(170, (inner - (k - 1) * 8) // k)
    rng = value_range(tm)
    tiles = []
    for j, i in enumerate(strip):
        c = crops.get(i)
        if c is None:
            body = np.full((tile, tile, 3), 220, np.uint8)
            put_text(body, "no face", 10, tile // 2, 0.6, ALERT, 2)
        else:
            body = overlay(resize_square(c, tile), tm[j], grid, 0, rng)
            if not np.isfinite(tm[j]).any():
                why = "no next frame" if i + 1 not in crops else "next: no face"
                put_text(body, why, 8, tile - 12, 0.55, ALERT, 2)
        if i == n:
            cv2.rectangle(body, (1, 1), (tile - 2, tile - 2), MARK, 4)
        cap = np.full((30, tile, 3), BG, np.uint8)
        text = f"t={i}" + (" (N)" if i == n else "")
        thick = 2 if i == n else 1
        put_text(cap, text, (tile - text_width(text, 0.6, thick)) // 2, 22, 0.6,
                 MARK if i == n else INK, thick)
        tiles.append(np.concatenate([cap, body]))
    strip_img = hstack(tiles, 8)
    sw = strip_img.shape[1]
    title = text_block([
        ("(4) Temporal disparity along time", 0.75, INK, 2),
        (f"||F_t(x) - F_t+1(x)|| at every position x of the stage-{ctx.stage} map: how much the "
         "features at each place change from frame t to the next frame t+1", 0.55, MUTED, 1)], sw)
    bar = colour_bar(min(sw, 520), rng, "feature change to the next frame (L2, feature units); "
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
    put_text(img, "mean over the map of ||F_t - F_t+1|| (one point per tile above)", 0, 24, 0.6, INK, 1)
    finite = [v for v in values if np.isfinite(v)]
    if not finite:
        put_text(img, "no values", 0, 80, 0.6, MUTED)
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
        put_text(img, fmt_value(v), 4, y - 4, 0.5, MUTED)
    pts = [(x, ypos(v)) for x, v in zip(xs, values) if np.isfinite(v)]
    if len(pts) > 1:
        cv2.polylines(img, [np.array(pts, np.int32)], False, LINE, 2, cv2.LINE_AA)
    for x, v, f in zip(xs, values, frames):
        if np.isfinite(v):
            cv2.circle(img, (x, ypos(v)), 5 if f != n else 7, MARK if f == n else LINE,
                       -1, cv2.LINE_AA)
        put_text(img, f"{f}", x, height - 12, 0.5, MARK if f == n else MUTED, anchor="center")
    return img


def _legend(ctx: Context, maps: dict, grid, inner: int, has_second: bool) -> np.ndarray:
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
    return text_block(lines, inner)
