"""Drawing for `stccl inspect`: text, colour bars, panels and page layout (cv2 only, RGB canvas)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

VIDEO_CLIP = 99.5  # a video's colour scale tops out at this percentile of all its values

FONT = cv2.FONT_HERSHEY_SIMPLEX
BG = (255, 255, 255)
INK = (20, 20, 20)
MUTED = (85, 85, 85)
ALERT = (200, 0, 0)
GOOD = (0, 110, 40)
MARK = (230, 80, 0)
GAP = 18
MARGIN = 24


def _tw(text: str, scale: float, thick: int = 1) -> int:
    return cv2.getTextSize(text, FONT, scale, thick)[0][0]


def _put(img, text, x, y, scale=0.6, color=INK, thick=1) -> None:
    cv2.putText(img, text, (int(x), int(y)), FONT, scale, color, thick, cv2.LINE_AA)


def _wrap(text: str, width: int, scale: float, thick: int = 1) -> list[str]:
    lines, cur = [], ""
    for word in text.split():
        trial = f"{cur} {word}".strip()
        if cur and _tw(trial, scale, thick) > width:
            lines.append(cur)
            cur = word
        else:
            cur = trial
    return lines + ([cur] if cur else [])


def _elide(text: str, width: int, scale: float, thick: int = 1) -> str:
    if _tw(text, scale, thick) <= width:
        return text
    keep = len(text)
    while keep > 8 and _tw("..." + text[-keep:], scale, thick) > width:
        keep -= 1
    return "..." + text[-keep:]


def _colorize(v01: np.ndarray) -> np.ndarray:
    u8 = np.clip(np.rint(v01 * 255), 0, 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(u8, cv2.COLORMAP_VIRIDIS), cv2.COLOR_BGR2RGB)


def _norm(values: np.ndarray, rng: tuple[float, float]) -> np.ndarray:
    lo, hi = rng
    return (values - lo) / (hi - lo) if hi > lo else np.full_like(values, 0.5)


def _overlay(crop: np.ndarray, values: np.ndarray | None, grid: tuple[int, int], offset: int,
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
    v = _norm(np.where(finite, values, 0.0).astype(np.float32), rng)
    v = cv2.resize(v, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    ok = cv2.resize(finite.astype(np.uint8), (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST) > 0
    region = crop[y0:y1, x0:x1].astype(np.float32)
    blend = alpha * _colorize(v).astype(np.float32) + (1 - alpha) * region
    out = pale.copy()
    out[y0:y1, x0:x1] = np.where(ok[..., None], np.clip(blend, 0, 255).astype(np.uint8),
                                 pale[y0:y1, x0:x1])
    return out


def _fmt(v: float) -> str:
    if not np.isfinite(v):
        return "n/a"
    return f"{v:.3g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"


def weight_range(threshold: float) -> tuple[float, float]:
    """Every value the adaptive rule can give: 1, or 2 t^2 for t in (threshold, 1]."""
    return min(1.0, 2 * threshold ** 2), 2.0


def _colour_bar(width: int, rng: tuple[float, float] | None, unit: str, scale: float = 0.55,
                clipped: bool = False) -> np.ndarray:
    """A horizontal viridis bar with its min and max value, and what the values are below.

    `clipped`: the top of the scale is the VIDEO_CLIP percentile, not the max."""
    if clipped:
        unit = f"{unit} (top = {VIDEO_CLIP:g}th percentile; higher values show as yellow)".strip()
    lines = _wrap(unit, width, scale)
    height = 18 + 8 + 22 + 22 * len(lines) + 4
    img = np.full((height, width, 3), BG, np.uint8)
    if rng is None:
        _put(img, "no values", 0, 34, scale, MUTED)
        return img
    grad = np.tile(np.linspace(0, 1, width, dtype=np.float32), (18, 1))
    img[:18] = _colorize(grad)
    cv2.rectangle(img, (0, 0), (width - 1, 17), MUTED, 1)
    lo, hi = rng
    y = 18 + 8 + 16
    lo_t = f"min {_fmt(lo)}"
    hi_t = f"p{VIDEO_CLIP:g} {_fmt(hi)}" if clipped else f"max {_fmt(hi)}"
    if hi <= lo:
        lo_t, hi_t = f"all = {_fmt(lo)}", ""
    _put(img, lo_t, 0, y, scale, INK, 1)
    _put(img, hi_t, width - _tw(hi_t, scale), y, scale, INK, 1)
    for k, line in enumerate(lines):
        _put(img, line, (width - _tw(line, scale)) // 2, y + 22 * (k + 1), scale, MUTED)
    return img


@dataclass
class _Panel:
    body: np.ndarray
    title: str
    subtitle: str = ""
    footer: np.ndarray | None = None


def _titled(body: np.ndarray, title: str, subtitle: str = "",
            footer: np.ndarray | None = None) -> _Panel:
    return _Panel(body, title, subtitle, footer)


def _render_panel(p: _Panel, sub_lines: int) -> np.ndarray:
    """Bold title, the subtitle wrapped on `sub_lines` lines, the body, the footer."""
    width = p.body.shape[1]
    sub = _wrap(p.subtitle, width, 0.55) if p.subtitle else []
    head = 34 + 22 * sub_lines + 8
    parts = [np.full((head, width, 3), BG, np.uint8)]
    _put(parts[0], _elide(p.title, width, 0.75, 2), 0, 26, 0.75, INK, 2)
    for k, line in enumerate(sub):
        _put(parts[0], line, 0, 34 + 22 * (k + 1) - 4, 0.55, MUTED)
    parts.append(p.body)
    if p.footer is not None:
        parts.append(np.full((8, width, 3), BG, np.uint8))
        parts.append(p.footer)
    return np.concatenate(parts)


def _row(panels: list[_Panel]) -> np.ndarray:
    """Panels side by side, their bodies on one line (subtitles padded to the same height)."""
    lines = max(len(_wrap(p.subtitle, p.body.shape[1], 0.55)) if p.subtitle else 0 for p in panels)
    return _hstack([_render_panel(p, lines) for p in panels])


def _hstack(tiles: list[np.ndarray], gap: int = GAP) -> np.ndarray:
    h = max(t.shape[0] for t in tiles)
    padded = []
    for k, t in enumerate(tiles):
        if k:
            padded.append(np.full((h, gap, 3), BG, np.uint8))
        padded.append(np.concatenate([t, np.full((h - t.shape[0], t.shape[1], 3), BG, np.uint8)]))
    return np.concatenate(padded, axis=1)


def _page(rows: list[np.ndarray], width: int) -> np.ndarray:
    """Rows centred on a white page with margins, separated by thin rules."""
    out = [np.full((MARGIN, width, 3), BG, np.uint8)]
    for k, r in enumerate(rows):
        if k:
            rule = np.full((GAP + 1 + GAP, width, 3), BG, np.uint8)
            rule[GAP, MARGIN:width - MARGIN] = (200, 200, 200)
            out.append(rule)
        line = np.full((r.shape[0], width, 3), BG, np.uint8)
        line[:, MARGIN:MARGIN + r.shape[1]] = r[:, :width - MARGIN]
        out.append(line)
    out.append(np.full((MARGIN, width, 3), BG, np.uint8))
    page = np.concatenate(out)
    return page[: page.shape[0] // 2 * 2, : page.shape[1] // 2 * 2]


def _text_block(lines: list[tuple[str, float, tuple, int]], width: int) -> np.ndarray:
    """(text, scale, colour, thickness) lines, wrapped to `width`."""
    rows = []
    for text, scale, color, thick in lines:
        for line in _wrap(text, width, scale, thick):
            rows.append((line, scale, color, thick))
    height = sum(int(44 * s) + 6 for _, s, _, _ in rows) + 6
    img = np.full((height, width, 3), BG, np.uint8)
    y = 0
    for line, scale, color, thick in rows:
        y += int(44 * scale) + 6
        _put(img, line, 0, y - 6, scale, color, thick)
    return img


def _display(crop: np.ndarray, side: int) -> np.ndarray:
    interp = cv2.INTER_AREA if crop.shape[0] > side else cv2.INTER_CUBIC
    return cv2.resize(crop, (side, side), interpolation=interp)
