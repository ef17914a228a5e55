"""The protocol's result tables, from the per-clip rows and the generated features.

`real_metrics`: FAD and expression similarity per (engine, actor, emotion), the generated
frames against the reference actor's real set. `aggregate`: {engine: {emotion | "avg":
{metric: mean}}} and, for every metric that could not be computed, why.
"""

from __future__ import annotations

import math

import numpy as np

from .scorers import valid_rows


def real_metrics(generated, real, refs, scorers) -> list[dict]:
    """FAD and expression similarity per (engine, actor, emotion): generated vs the real set."""
    from .fad import frechet_distance

    rows = []
    for (engine, actor, emotion), gen in sorted(generated.items()):
        ref = real.get((refs[actor], emotion))
        row = {"engine": engine, "actor": actor, "reference": refs[actor], "emotion": emotion}
        if ref:
            if "arcface18" in gen and "arcface18" in ref:
                g, r = np.concatenate(gen["arcface18"]), ref["arcface18"][valid_rows(ref["arcface18"])]
                row["fad"] = frechet_distance(r, g) if len(g) >= 2 and len(r) >= 2 else None
                row["fad_frames"] = [len(r), len(g)]
            if "expression" in gen and "expression" in ref:
                g, r = np.concatenate(gen["expression"]), ref["expression"][valid_rows(ref["expression"])]
                if len(g) and len(r):
                    gm, rm = g.mean(0).astype(np.float64), r.mean(0).astype(np.float64)
                    row["expr_sim"] = float(gm @ rm / max(np.linalg.norm(gm) * np.linalg.norm(rm), 1e-12))
        rows.append(row)
    return rows


def aggregate(clips, per_actor, engines, emotions, scorers, real, refs):
    """{engine: {emotion | "avg": {metric: mean}}} and {metric: why skipped}."""
    from .metrics import METRICS

    table: dict[str, dict[str, dict[str, float | None]]] = {}
    for eng in engines:
        t: dict[str, dict[str, float | None]] = {}
        for e in emotions:
            rows = [c["metrics"] for c in clips if c["engine"] == eng.name and c["emotion"] == e]
            cell = {k: mean([r.get(k) for r in rows]) for k in METRICS if k not in ("fad", "expr_sim")}
            for k in ("fad", "expr_sim"):
                cell[k] = mean([p.get(k) for p in per_actor if p["engine"] == eng.name and p["emotion"] == e])
            t[e] = cell
        t["avg"] = {k: mean([t[e].get(k) for e in emotions]) for k in t[emotions[0]]}
        table[eng.name] = t
    skipped = {}
    if "classifier" not in scorers.frame_models:
        skipped["emotion_acc"] = "no classifier weights (--classifier)"
    for key, model, flag in (("identity_cos", "arcface", "--arcface"), ("fad", "arcface18", "--arcface18"),
                             ("expr_sim", "expression", "--expression"), ("lse_d", "syncnet", "--syncnet"),
                             ("lse_c", "syncnet", "--syncnet")):
        if model not in scorers.frame_models and not (model == "syncnet" and scorers.syncnet is not None):
            skipped[key] = f"no {flag} weights"
    if scorers.syncnet is not None and all(c["metrics"].get("lse_d") is None for c in clips):
        skipped["lse_d"] = skipped["lse_c"] = "no source video with audio at 25 fps (PREP records' `source`)"
    return table, skipped


def num(v):
    """`v` as a float, None when it is None or not finite."""
    if v is None:
        return None
    v = float(v)
    return None if not math.isfinite(v) else v


def mean(values) -> float | None:
    """Mean of the finite values, None when there is none."""
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return float(np.mean(vals)) if vals else None
