"""Grouped bar charts drawn with OpenCV (no plotting library): one panel per metric, the x groups
(emotions) along the bottom, one coloured bar per series (engine), values printed on the bars."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..draw import fmt_fixed, put_text, vertical_text

INK = (40, 40, 40)
GRID = (225, 225, 225)
MUTED = (140, 140, 140)
PALETTE = [(0, 128, 245), (190, 110, 30), (70, 160, 60), (150, 60, 170), (40, 40, 200)]  # BGR

BAR, GAP, LEFT, RIGHT, PANEL_H, PLOT_TOP, PLOT_BOTTOM = 30, 30, 100, 30, 330, 58, 62


@dataclass
class Panel:
    title: str
    y_label: str
    values: list[list[float | None]]  # [series][group]


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About n round tick values covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        lo, hi = (lo, lo + 1.0) if math.isfinite(lo) else (0.0, 1.0)
    raw = (hi - lo) / max(n - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks = []
    t = start
    while t < hi + step * 0.999:
        ticks.append(round(t, 10))
        t += step
    return ticks


def bar_chart(title: str, subtitle: str, groups: list[str], series: list[str], panels: list[Panel],
              x_label: str = "target emotion") -> np.ndarray:
    """(H, W, 3) uint8 BGR image of the panels stacked vertically, with a legend on top."""
    ns = max(len(series), 1)
    group_w = ns * BAR + GAP
    width = max(LEFT + len(groups) * group_w + RIGHT, 760)
    header = 96
    img = np.full((header + PANEL_H * len(panels), width, 3), 255, np.uint8)
    put_text(img, title, LEFT, 32, 0.8, INK, 2)
    put_text(img, subtitle, LEFT, 56, 0.45, MUTED)
    x = LEFT
    for i, name in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        cv2.rectangle(img, (x, 70), (x + 16, 86), color, -1)
        w = put_text(img, name, x + 22, 84, 0.5, INK)
        x += w + 50
    for p, panel in enumerate(panels):
        _panel(img, header + p * PANEL_H, width, groups, series, panel, x_label)
    return img


def _panel(img, top, width, groups, series, panel: Panel, x_label: str) -> None:
    y0, y1 = top + PLOT_TOP, top + PANEL_H - PLOT_BOTTOM  # plot area rows
    x0, x1 = LEFT, width - RIGHT
    put_text(img, panel.title, LEFT, top + 26, 0.6, INK, 2)
    vals = [v for row in panel.values for v in row if v is not None and math.isfinite(v)]
    lo, hi = (min(vals + [0.0]), max(vals + [0.0])) if vals else (0.0, 1.0)
    ticks = nice_ticks(lo, hi)
    lo, hi = min(ticks[0], lo), max(ticks[-1], hi)
    if hi - lo < 1e-12:
        hi = lo + 1.0

    def ypix(v: float) -> int:
        return int(round(y1 - (v - lo) / (hi - lo) * (y1 - y0)))

    for t in ticks:
        yy = ypix(t)
        cv2.line(img, (x0, yy), (x1, yy), GRID, 1)
        put_text(img, f"{t:g}", x0 - 8, yy + 5, 0.42, MUTED, anchor="right")
    base = ypix(0.0) if lo <= 0 <= hi else y1
    cv2.line(img, (x0, base), (x1, base), INK, 1)
    cv2.line(img, (x0, y0), (x0, y1), INK, 1)
    vertical_text(img, panel.y_label, (28, (y0 + y1) // 2), 0.45, INK)
    ns = max(len(series), 1)
    group_w = max(ns * BAR + GAP, (x1 - x0) // max(len(groups), 1))
    for g, name in enumerate(groups):
        gx = x0 + g * group_w + (group_w - ns * BAR) // 2
        if name == "avg" and g:
            sep = x0 + g * group_w
            for yy in range(y0, y1, 8):
                cv2.line(img, (sep, yy), (sep, min(yy + 4, y1)), MUTED, 1)
        for s in range(len(series)):
            v = panel.values[s][g] if s < len(panel.values) and g < len(panel.values[s]) else None
            bx = gx + s * BAR
            if v is None or not math.isfinite(v):
                put_text(img, "n/a", bx + BAR // 2, base - 4, 0.33, MUTED, anchor="center")
                continue
            yy = ypix(v)
            cv2.rectangle(img, (bx + 2, min(yy, base)), (bx + BAR - 2, max(yy, base)),
                          PALETTE[s % len(PALETTE)], -1)
            label_y = yy - 5 if v >= 0 else yy + 13
            put_text(img, fmt_fixed(v), bx + BAR // 2, label_y, 0.33, INK, anchor="center")
        put_text(img, name, gx + ns * BAR // 2, y1 + 20, 0.45, INK, anchor="center")
    put_text(img, x_label, (x0 + x1) // 2, y1 + 44, 0.45, MUTED, anchor="center")
