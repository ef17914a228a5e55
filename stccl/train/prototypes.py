"""The prototypes stage: refit the warp engine's per-emotion landmark displacements from a
prepared dataset's cross-emotion pairs (the same JSON format as the shipped FACS prototypes,
weights/PROTOTYPES.md). Numpy only: nothing here needs torch.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.store import require_pairs
from ..edit.facs import facs_prototypes
from ..edit.warp import constrain
from ..emotions import EMOTIONS
from ..face.measures import mouth_opening, normalise
from ..fs import ensure_writable_dir, write_text_atomic
from .config import PrototypesRunConfig

log = logging.getLogger(__name__)


@dataclass
class PrototypesResult:
    stage: str
    export: Path
    prototypes: dict  # the written file's content


def fit_prototypes(root: Path, run_dir: Path, cfg: PrototypesRunConfig, on_step=None) -> PrototypesResult:
    """Refit from ROOT's pairs and write RUN/prototypes.json."""
    require_pairs(root)
    protos = refit_prototypes(root, cfg.min_pairs)
    path = ensure_writable_dir(run_dir) / "prototypes.json"
    save_prototypes(protos, path)
    return PrototypesResult("prototypes", path, protos)


def refit_prototypes(dataset_root: str | Path, min_pairs: int = 1) -> dict:
    """Prototypes refit from a prepared dataset's cross-emotion pairs (same file format).

    Per pair, along the DTW path: the displacement emotional - neutral of the normalised
    shapes, regressed on the lip-opening difference; the intercept (the displacement at equal
    opening) is the pair's estimate, so the speech component drops out. Averaged per emotion.
    """
    from ..data.store import PreparedDataset

    ds = PreparedDataset(dataset_root)
    per_emotion: dict[str, list[np.ndarray]] = {}
    for pair in ds.pairs:
        est = _pair_displacement(ds, pair)
        if est is not None:
            per_emotion.setdefault(pair["emotion"], []).append(est)
    out = facs_prototypes()
    out.update(source="refit", pairs={}, kept_facs=[])
    for emotion in EMOTIONS:
        ests = per_emotion.get(emotion, [])
        out["pairs"][emotion] = len(ests)
        if emotion == "neutral":
            continue
        if len(ests) < min_pairs:
            out["kept_facs"].append(emotion)
            continue
        d = constrain(np.mean(ests, axis=0))
        out["emotions"][emotion] = {"aus": [], "displacement": np.round(d, 4).tolist()}
    return out


def _pair_displacement(ds, pair: dict) -> np.ndarray | None:
    a = ds.clip(pair["neutral"]).track["landmarks_aligned"]
    b = ds.clip(pair["other"]).track["landmarks_aligned"]
    path = np.asarray(pair["path"], int)
    la, lb = a[path[:, 0]], b[path[:, 1]]
    ok = np.isfinite(la).all((1, 2)) & np.isfinite(lb).all((1, 2))
    if ok.sum() < 3:
        return None
    la, lb = la[ok], lb[ok]
    d = (normalise(lb) - normalise(la)).reshape(len(la), -1)
    dopen = mouth_opening(lb) - mouth_opening(la)
    x = np.stack([np.ones_like(dopen), dopen], 1)
    coef, *_ = np.linalg.lstsq(x, d, rcond=None)
    return coef[0].reshape(68, 2)


def save_prototypes(protos: dict, path: str | Path) -> None:
    write_text_atomic(path, json.dumps(protos, indent=1) + "\n")
