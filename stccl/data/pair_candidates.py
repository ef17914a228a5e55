"""Cross-emotion pairs: a neutral take and an emotional take of one sentence by one actor.

Pure functions: clips come in as label dicts (ClipItem.labels() or index records) and the
alignment cost through a callback, so nothing here reads files.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Callable, Iterable

# Normalised DTW cost (dtw(..., metric="cosine", band=DEFAULT_BAND) on CMVN-normalised
# 13-d MFCCs at 25 fps) above which a candidate pair is rejected. Measured on the shared
# MEAD clips: W015 neutral 030 against a copy slowed to 0.8x costs 0.07, and 0.29 with its
# pitch and formants also raised 2 semitones; different speakers and sentences cost
# 0.64-0.78 (W015 neutral vs M030 angry: 0.74), two halves of one clip (same speaker,
# other words) 0.43-0.71. Only valid for that feature and metric.
DEFAULT_MAX_PAIR_COST = 0.45

# MEAD: some actors' disgusted 028-030 are the sentences 001-003 of the other emotions.
MEAD_DISGUSTED_ALIASES = {"028": "001", "029": "002", "030": "003"}

NOT_PAIRED = ("neutral", "unknown")

CostFn = Callable[[str, str], "float | None"]


def _group_key(item: dict) -> tuple:
    """Clips that may pair share this key: same layout, actor, view, channel, sentence."""
    return (item.get("layout"), item.get("actor"), item.get("view"), item.get("channel"),
            item.get("sentence"))


def _pairable(item: dict) -> bool:
    return item.get("actor") is not None and item.get("sentence") is not None


def candidate_pairs(items: Iterable[dict]) -> list[tuple[str, str]]:
    """(neutral_id, other_id) for every plausible cross-emotion pair, sorted.

    A pair is two clips of the same actor and sentence (and view for MEAD, channel for
    RAVDESS), one neutral and one with another known emotion. RAVDESS prefers the neutral
    take with the same repetition and falls back to any. A MEAD disgusted 028-030 also gets
    the neutral 001-003 as candidates.
    """
    items = [it for it in items if _pairable(it)]
    neutrals: dict[tuple, list[dict]] = defaultdict(list)
    for it in items:
        if it.get("emotion") == "neutral":
            neutrals[_group_key(it)].append(it)
    pairs = set()
    for it in items:
        if it.get("emotion") in NOT_PAIRED:
            continue
        for n in _neutral_candidates(it, neutrals):
            pairs.add((n["id"], it["id"]))
    return sorted(pairs, key=lambda p: (p[1], p[0]))


def _neutral_candidates(item: dict, neutrals: dict[tuple, list[dict]]) -> list[dict]:
    found = list(neutrals.get(_group_key(item), []))
    if item.get("layout") == "mead" and item.get("emotion") == "disgusted":
        alias = MEAD_DISGUSTED_ALIASES.get(item.get("sentence"))
        if alias:
            found += neutrals.get(_group_key({**item, "sentence": alias}), [])
    if item.get("layout") == "ravdess":
        same_take = [n for n in found if n.get("repetition") == item.get("repetition")]
        found = same_take or found
    return found


def choose_pairs(candidates: Iterable[tuple[str, str]], cost_fn: CostFn,
                 max_cost: float = DEFAULT_MAX_PAIR_COST) -> tuple[list[dict], list[dict]]:
    """Keep the cheapest candidate of each non-neutral clip if it costs at most `max_cost`.

    `cost_fn(neutral_id, other_id)` gives the normalised DTW cost, or None when it cannot
    be computed (e.g. no features). Returns (accepted, rejected): accepted are dicts
    {neutral, other, cost}, sorted by other; rejected add a one-line `reason` and have
    neutral None when no candidate had a cost.
    """
    by_other: dict[str, list[str]] = defaultdict(list)
    for neutral, other in candidates:
        by_other[other].append(neutral)
    accepted, rejected = [], []
    for other in sorted(by_other):
        best, best_cost = None, math.inf
        for neutral in sorted(set(by_other[other])):
            cost = cost_fn(neutral, other)
            if cost is not None and math.isfinite(cost) and cost < best_cost:
                best, best_cost = neutral, float(cost)
        if best is None:
            rejected.append({"neutral": None, "other": other, "cost": None,
                             "reason": "no candidate could be aligned"})
        elif best_cost > max_cost:
            rejected.append({"neutral": best, "other": other, "cost": best_cost,
                             "reason": f"best DTW cost {best_cost:.3f} > max {max_cost:.3f}"})
        else:
            accepted.append({"neutral": best, "other": other, "cost": best_cost})
    return accepted, rejected
