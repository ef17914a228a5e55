"""Build OUT/pairs.jsonl from the prepared clips: DTW paths between cross-emotion takes.

The content feature is the per-frame MFCC (CMVN-normalised) when both takes have audio, and
the mouth-shape trajectory from the landmarks otherwise.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..config import PrepConfig
from . import store
from .audio import cmvn
from .dtw import DEFAULT_BAND, dtw, mouth_features
from .pair_candidates import DEFAULT_MAX_PAIR_COST, candidate_pairs, choose_pairs

log = logging.getLogger(__name__)


class _Features:
    def __init__(self, root: Path):
        self.root = root
        self._cache: dict[tuple[str, str], np.ndarray] = {}

    def get(self, clip_id: str, kind: str) -> np.ndarray | None:
        key = (clip_id, kind)
        if key not in self._cache:
            clip = store.PreparedClip(self.root / "clips" / clip_id)
            if kind == "mfcc":
                self._cache[key] = None if clip.mfcc is None else cmvn(clip.mfcc)
            else:
                self._cache[key] = mouth_features(clip.track["landmarks_aligned"])
        return self._cache[key]


def build_pairs(root: Path, records: list[dict], cfg: PrepConfig) -> list[dict]:
    """Pair the ok clips, write pairs.jsonl atomically, and return the pairs."""
    by_id = {r["id"]: r for r in records}
    feats = _Features(root)
    paths: dict[tuple[str, str], tuple[np.ndarray, str]] = {}

    def cost(neutral: str, other: str) -> float | None:
        kind = "mfcc" if by_id[neutral].get("has_audio") and by_id[other].get("has_audio") else "mouth"
        a, b = feats.get(neutral, kind), feats.get(other, kind)
        if a is None or b is None or len(a) < 2 or len(b) < 2:
            return None
        path, c = dtw(a, b, metric="cosine", band=DEFAULT_BAND)
        paths[(neutral, other)] = (path, kind)
        return c

    max_cost = cfg.max_pair_cost or DEFAULT_MAX_PAIR_COST
    accepted, rejected = choose_pairs(candidate_pairs(records), cost, max_cost)
    for r in rejected:
        log.info("pair %s / %s rejected: %s", r["neutral"], r["other"], r.get("reason"))
    out = []
    for p in accepted:
        path, kind = paths[(p["neutral"], p["other"])]
        other = by_id[p["other"]]
        out.append({
            "neutral": p["neutral"], "other": p["other"], "actor": other.get("actor"),
            "sentence": other.get("sentence"), "emotion": other.get("emotion"),
            "feature": kind, "cost": round(float(p["cost"]), 5), "path": path.tolist(),
        })
    store.write_jsonl_atomic(root / store.PAIRS, out)
    return out
