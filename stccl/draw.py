"""Drawing primitives on uint8 canvases (numpy and cv2 only): text, wrapping, a viridis colour
map and colour bars, heatmap overlays, titled panels, stacking and page layout, numbers.

Used by `stccl inspect` (RGB pages) and `stccl.eval.chart` (BGR bar charts, with its own
colours). Colours are tuples in the canvas's own channel order.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX
BG = (255, 255, 255)
INK = (20, 20, 20)
MUTED = (85, 85, 85)
ALERT = (200, 0, 0)
GOOD = (0, 110, 40)
MARK = (230, 80, 0)
RULE = (200, 200, 200)
GAP = 18
MARGIN = 24


# ---------------------------------------------------------------------------------------------
# Text


def text_width(text: str, scale: float, thick: int = 1) -> int:
    return cv2.getTextSize(text, FONT, scale, thick)[0][0]


def put_text(img, text, x, y, scale=0.6, color=INK, thick=1, anchor="left") -> int:
    """`text` with its baseline at y; x is its left end, centre or right end (`anchor`).
    Returns the text's width."""
    w = text_width(text, scale, thick)
    if anchor == "center":
        x -= w // 2
    elif anchor == "right":
        x -= w
    cv2.putText(img, text, (int(x), int(y)), FONT, scale, color, thick, cv2.LINE_AA)
    return w


def vertical_text(img, text, centre, scale=0.5, color=INK) -> None:
    """`text` turned 90 degrees (read bottom to top), centred on `centre` = (x, y); darkens only,
    and is left out if it does not fit in `img`."""
    (w, h), base = cv2.getTextSize(text, FONT, scale, 1)
    tile = np.full((h + base + 4, w + 4, 3), 255, np.uint8)
    cv2.putText(tile, text, (2, h + 1), FONT, scale, color, 1, cv2.LINE_AA)
    tile = np.ascontiguousarray(np.rot90(tile))
    th, tw = tile.shape[:2]
    y0, x0 = int(centre[1] - th / 2), int(centre[0] - tw / 2)
    if y0 >= 0 and x0 >= 0 and y0 + th <= img.shape[0] and x0 + tw <= img.shape[1]:
        img[y0:y0 + th, x0:x0 + tw] = np.minimum(img[y0:y0 + th, x0:x0 + tw], tile)


def wrap(text: str, width: int, scale: float, thick: int = 1) -> list[str]:
    """`text` broken at spaces into lines of at most `width` px (a longer word keeps its line)."""
    lines, cur = [], ""
    for word in text.split():
        trial = f"{cur} {word}".strip()
        if cur and text_width(trial, scale, thick) > width:
            lines.append(cur)
            cur = word
        else:
            cur = trial
    return lines + ([cur] if cur else [])


def elide(text: str, width: int, scale: float, thick: int = 1) -> str:
    """`text`, or "..." and its end if it is wider than `width` px."""
    if text_width(text, scale, thick) <= width:
        return text
    keep = len(text)
    while keep > 8 and text_width("..." + text[-keep:], scale, thick) > width:
        keep -= 1
    return "..." + text[-keep:]


def text_block(lines: list[tuple[str, float, tuple, int]], width: int) -> np.ndarray:
    """(text, scale, colour, thickness) lines, wrapped to `width`."""
    rows = []
    for text, scale, color, thick in lines:
        for line in wrap(text, width, scale, thick):
            rows.append((line, scale, color, thick))
    height = sum(int(44 * s) + 6 for _, s, _, _ in rows) + 6
    img = np.full((height, width, 3), BG, np.uint8)
    y = 0
    for line, scale, color, thick in rows:
        y += int(44 * scale) + 6
        put_text(img, line, 0, y - 6, scale, color, thick)
    return img


# ---------------------------------------------------------------------------------------------
# Numbers


def fmt_value(v: float) -> str:
    """3 significant digits (scientific below 1e-3); "n/a" when not finite."""
    if not np.isfinite(v):
        return "n/a"
    return f"{v:.3g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"


def fmt_fixed(v: float) -> str:
    """Fewer decimals as the value grows: 3 below 1, 2 below 10, 1 below 100, then none."""
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


# ---------------------------------------------------------------------------------------------
# Colour: viridis maps, overlays and colour bars (RGB)


def colorize(v01: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> RGB viridis colours."""
    u8 = np.clip(np.rint(v01 * 255), 0, 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(u8, cv2.COLORMAP_VIRIDIS), cv2.COLOR_BGR2RGB)


def normalize(values: np.ndarray, rng: tuple[float, float]) -> np.ndarray:
    """`values` scaled so that rng = (lo, hi) becomes (0, 1); all 0.5 when hi <= lo."""
    lo, hi = rng
    return (values - lo) / (hi - lo) if hi > lo else np.full_like(values, 0.5)


def overlay(crop: np.ndarray, values: np.ndarray | None, grid: tuple[int, int], offset: int,
            rng: tuple[float, float] | None, alpha: float = 0.62) -> np.ndarray:
    """`values` (cells offset..grid-offset of the grid) as a viridis heatmap over `crop`.

    Cells outside the values (the border ring of interior maps) and NaN cells show the crop in
    pale grey: they have no value.
    """
    d = crop.shape[0]
    grey = cv2.cvtColor(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    pale = (0.45 * grey + 0.55 * 235).astype(np.uint8)
    if values is None or rng is None:
        return pale
    gh, gw = grid
    vh, vw = values.shape
    y0, y1 = round(offset * d / gh), round((offset + vh) * d / gh)
    x0, x1 = round(offset * d / gw), round((offset + vw) * d / gw)
    finite = np.isfinite(values)
    v = normalize(np.where(finite, values, 0.0).astype(np.float32), rng)
    v = cv2.resize(v, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    ok = cv2.resize(finite.astype(np.uint8), (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST) > 0
    region = crop[y0:y1, x0:x1].astype(np.float32)
    blend = alpha * colorize(v).astype(np.float32) + (1 - alpha) * region
    out = pale.copy()
    out[y0:y1, x0:x1] = np.where(ok[..., None], np.clip(blend, 0, 255).astype(np.uint8),
                                 pale[y0:y1, x0:x1])
    return out


def colour_bar(width: int, rng: tuple[float, float] | None, unit: str, scale: float = 0.55,
               top_percentile: float | None = None) -> np.ndarray:
    """A horizontal viridis bar with its min and max value, and what the values are below.

    `top_percentile`: the top of the scale is that percentile of the values, not their max."""
    clipped = top_percentile is not None
    if clipped:
        unit = (f"{unit} (top = {top_percentile:g}th percentile; higher values show as "
                "yellow)").strip()
    lines = wrap(unit, width, scale)
    height = 18 + 8 + 22 + 22 * len(lines) + 4
    img = np.full((height, width, 3), BG, np.uint8)
    if rng is None:
        put_text(img, "no values", 0, 34, scale, MUTED)
        return img
    grad = np.tile(np.linspace(0, 1, width, dtype=np.float32), (18, 1))
    img[:18] = colorize(grad)
    cv2.rectangle(img, (0, 0), (width - 1, 17), MUTED, 1)
    lo, hi = rng
    y = 18 + 8 + 16
    lo_t = f"min {fmt_value(lo)}"
    hi_t = f"p{top_percentile:g} {fmt_value(hi)}" if clipped else f"max {fmt_value(hi)}"
    if hi <= lo:
        lo_t, hi_t = f"all = {fmt_value(lo)}", ""
    put_text(img, lo_t, 0, y, scale, INK, 1)
    put_text(img, hi_t, width, y, scale, INK, 1, anchor="right")
    for k, line in enumerate(lines):
        put_text(img, line, (width - text_width(line, scale)) // 2, y + 22 * (k + 1), scale, MUTED)
    return img


# ---------------------------------------------------------------------------------------------
# Pictures, panels and pages


def resize_square(img: np.ndarray, side: int) -> np.ndarray:
    """A square `img` resized to side x side (INTER_AREA down, INTER_CUBIC up)."""
    interp = cv2.INTER_AREA if img.shape[0] > side else cv2.INTER_CUBIC
    return cv2.resize(img, (side, side), interpolation=interp)


def letterbox(frame: np.ndarray, side: int) -> np.ndarray:
    """`frame` scaled to fit a side x side square, letterboxed in grey."""
    fh, fw = frame.shape[:2]
    s = side / max(fh, fw)
    small = cv2.resize(frame, (max(1, round(fw * s)), max(1, round(fh * s))), interpolation=cv2.INTER_AREA)
    box = np.full((side, side, 3), 60, np.uint8)
    y, x = (side - small.shape[0]) // 2, (side - small.shape[1]) // 2
    box[y:y + small.shape[0], x:x + small.shape[1]] = small
    return box


def pad_to(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """`img` on a BG canvas of height x width, top left (cut where it is larger)."""
    out = np.full((height, width, 3), BG, np.uint8)
    h, w = min(height, img.shape[0]), min(width, img.shape[1])
    out[:h, :w] = img[:h, :w]
    return out


@dataclass
class TitledPanel:
    """A picture with a bold title and a wrapped subtitle above it, and a footer picture below."""

    body: np.ndarray
    title: str
    subtitle: str = ""
    footer: np.ndarray | None = None


def render_panel(p: TitledPanel, sub_lines: int) -> np.ndarray:
    """Bold title, the subtitle wrapped on `sub_lines` lines, the body, the footer."""
    width = p.body.shape[1]
    sub = wrap(p.subtitle, width, 0.55) if p.subtitle else []
    head = 34 + 22 * sub_lines + 8
    parts = [np.full((head, width, 3), BG, np.uint8)]
    put_text(parts[0], elide(p.title, width, 0.75, 2), 0, 26, 0.75, INK, 2)
    for k, line in enumerate(sub):
        put_text(parts[0], line, 0, 34 + 22 * (k + 1) - 4, 0.55, MUTED)
    parts.append(p.body)
    if p.footer is not None:
        parts.append(np.full((8, width, 3), BG, np.uint8))
        parts.append(p.footer)
    return np.concatenate(parts)


def panel_row(panels: list[TitledPanel]) -> np.ndarray:
    """Panels side by side, their bodies on one line (subtitles padded to the same height)."""
    lines = max(len(wrap(p.subtitle, p.body.shape[1], 0.55)) if p.subtitle else 0 for p in panels)
    return hstack([render_panel(p, lines) for p in panels])


def hstack(tiles: list[np.ndarray], gap: int = GAP) -> np.ndarray:
    """Tiles side by side, `gap` px apart, top-aligned on BG."""
    h = max(t.shape[0] for t in tiles)
    padded = []
    for k, t in enumerate(tiles):
        if k:
            padded.append(np.full((h, gap, 3), BG, np.uint8))
        padded.append(np.concatenate([t, np.full((h - t.shape[0], t.shape[1], 3), BG, np.uint8)]))
    return np.concatenate(padded, axis=1)


def page(rows: list[np.ndarray], width: int) -> np.ndarray:
    """Rows on a white page with margins, separated by thin rules; even height and width."""
    out = [np.full((MARGIN, width, 3), BG, np.uint8)]
    for k, r in enumerate(rows):
        if k:
            rule = np.full((GAP + 1 + GAP, width, 3), BG, np.uint8)
            rule[GAP, MARGIN:width - MARGIN] = RULE
            out.append(rule)
        line = np.full((r.shape[0], width, 3), BG, np.uint8)
        line[:, MARGIN:MARGIN + r.shape[1]] = r[:, :width - MARGIN]
        out.append(line)
    out.append(np.full((MARGIN, width, 3), BG, np.uint8))
    img = np.concatenate(out)
    return img[: img.shape[0] // 2 * 2, : img.shape[1] // 2 * 2]
