"""A protocol run's outputs: eval.json (everything), eval.md (tables) and eval.png (bar chart)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2

from ..errors import InputError
from ..fs import write_bytes_atomic, write_text_atomic
from .chart import Panel, bar_chart
from .metrics import KEY_METRICS, METRICS
from .reader import reader_line

ARROW = {"higher": "↑", "lower": "↓", "→0": "→0", "info": ""}
BETTER = {"higher": "higher is better", "lower": "lower is better", "→0": "0 is best (as the input)",
          "info": "for reference"}
CHART_PANELS = 8  # the speech's three (opening, width, rounding) leave room for five more


def fmt(v, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    v = float(v)
    if abs(v) >= 100:
        return f"{v:.1f}"
    if abs(v) >= 10:
        return f"{v:.2f}"
    return f"{v:.{digits}f}"


def report_paths(out_dir: Path) -> dict[str, Path]:
    return {"json": out_dir / "eval.json", "markdown": out_dir / "eval.md", "chart": out_dir / "eval.png"}


def check_reports_free(out_dir: Path, overwrite: bool) -> None:
    """Refuse, before any work, to replace an earlier run's reports without `overwrite`."""
    taken = [p.name for p in report_paths(Path(out_dir)).values() if p.exists()]
    if taken and not overwrite:
        raise InputError(f"{out_dir} already holds {', '.join(taken)} of an earlier run; pass "
                         "--overwrite to replace them, or pick another -o folder")


def write_reports(result: dict, out_dir: Path, overwrite: bool = False) -> dict[str, str]:
    paths = report_paths(out_dir)
    files = {k: str(v) for k, v in paths.items()}
    write_text_atomic(paths["json"], json.dumps({**result, "files": files}, indent=1) + "\n", overwrite)
    write_text_atomic(paths["markdown"], markdown(result), overwrite)
    ok, png = cv2.imencode(".png", chart(result))
    if not ok:
        raise InputError("PNG encoding of the chart failed")
    write_bytes_atomic(paths["chart"], png.tobytes(), overwrite)
    return files


def _present(result: dict) -> list[str]:
    """Metrics with at least one value in the table, in METRICS order."""
    keys = []
    for name in METRICS:
        if any(cell.get(name) is not None for eng in result["table"].values() for cell in eng.values()):
            keys.append(name)
    return keys


def markdown(result: dict) -> str:
    table, emotions = result["table"], result["emotions"]
    engines = list(table)
    present = _present(result)
    lines = [f"# stccl eval: {result['protocol']}", ""]
    lines += [f"- data: `{result['data']}`",
              "- actors (reference for FAD / expression similarity): "
              + ", ".join(f"{a} ← {v['reference']}" if v["reference"] else f"{a} (no neutral clip)"
                          for a, v in result["actors"].items()),
              "- engines: " + "; ".join(f"{k}: `{v['weights']}`" + (f" ({v['steps']} steps, STCCL loss "
                                                                    f"weight {v.get('stccl_loss_weight')})"
                                                                    if "steps" in v else "")
                                        for k, v in result["engines"].items()),
              "- scoring weights: " + "; ".join(f"{k}: {v}" for k, v in result["weights"].items()),
              f"- reader: {reader_line(result['tracker'], result.get('tracked_by'), 'the edits were')}; "
              f"real set: {result['real_set']}"]
    lines += [f"- warning: {result['warning']}", ""] if result.get("warning") else [""]
    lines += ["## Mean over emotions", ""]
    head = [f"{METRICS[k].label} {ARROW[METRICS[k].better]}".strip() for k in present]
    lines += ["| engine | " + " | ".join(head) + " |", "|---|" + "---:|" * len(head)]
    for eng in engines:
        lines.append(f"| {eng} | " + " | ".join(fmt(table[eng]["avg"].get(k)) for k in present) + " |")
    lines += ["", "## Per emotion", ""]
    for k in [k for k in KEY_METRICS if k in present]:
        m = METRICS[k]
        lines += [f"### {m.label} ({m.unit}, {BETTER[m.better]})", "",
                  "| engine | " + " | ".join(emotions) + " | avg |",
                  "|---|" + "---:|" * (len(emotions) + 1)]
        for eng in engines:
            cells = [fmt(table[eng][e].get(k)) for e in emotions] + [fmt(table[eng]["avg"].get(k))]
            lines.append(f"| {eng} | " + " | ".join(cells) + " |")
        lines.append("")
    if result.get("skipped"):
        lines += ["## Skipped", ""] + [f"- {METRICS[k].label if k in METRICS else k}: {why}"
                                        for k, why in result["skipped"].items()] + [""]
    if result.get("notes"):
        lines += ["## Notes", ""] + [f"- {n}" for n in result["notes"]] + [""]
    lines += [f"Made by stccl {result['stccl_version']} in {result['seconds']} s; "
              "metric definitions: docs/eval.md.", ""]
    return "\n".join(lines)


def chart(result: dict):
    """BGR image: one panel per key metric with values (at most CHART_PANELS)."""
    table, emotions = result["table"], result["emotions"]
    engines = list(table)
    present = _present(result)
    keys = [k for k in KEY_METRICS if k in present][:CHART_PANELS]
    names = [f"{e} (untrained)" if result["engines"][e].get("steps") == 0 else e for e in engines]
    groups = emotions + ["avg"]
    panels = []
    for k in keys:
        m = METRICS[k]
        panels.append(Panel(f"{m.label} ({BETTER[m.better]})", f"{m.label} [{m.unit}]",
                            [[table[eng][g].get(k) for g in groups] for eng in engines]))
    n_clips = sum(len(v["neutral_clips"]) for v in result["actors"].values())
    subtitle = (f"{len(result['actors'])} test actor(s), {n_clips} neutral clip(s), mean over clips; "
                f"read by {result['tracker']}; avg = mean over emotions")
    return bar_chart(f"stccl eval: {result['protocol']}", subtitle, groups, names, panels)
