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
from ..face.measures import MIRROR, mouth_opening, normalise
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
    protos = refit_prototypes(root, cfg.min_pairs, cfg.exclude_actors)
    path = ensure_writable_dir(run_dir) / "prototypes.json"
    save_prototypes(protos, path)
    return PrototypesResult("prototypes", path, protos)


def refit_prototypes(dataset_root: str | Path, min_pairs: int = 1,
                     exclude_actors: list[str] | tuple[str, ...] = ()) -> dict:
    """Prototypes refit from a prepared dataset's cross-emotion pairs (same file format).

    Per pair, along the DTW path: the displacement emotional - neutral of the normalised
    shapes, regressed on the lip-opening difference; the intercept (the displacement at equal
    opening) is the pair's estimate, so the speech component drops out. Averaged per emotion.
    The expression-free prior (`neutral_prior`) is rebuilt from the same actors' neutral clips.
    Pairs and clips of `exclude_actors` (e.g. a protocol's test actors) are not used.
    """
    from ..data.store import PreparedDataset

    ds = PreparedDataset(dataset_root)
    skip = set(exclude_actors)
    per_emotion: dict[str, list[np.ndarray]] = {}
    for pair in ds.pairs:
        if pair.get("actor") in skip:
            continue
        est = _pair_displacement(ds, pair)
        if est is not None:
            per_emotion.setdefault(pair["emotion"], []).append(est)
    out = facs_prototypes()
    out.update(source="refit", pairs={}, kept_facs=[])
    neutral = [r["id"] for r in ds.records if r.get("emotion") == "neutral" and r.get("status") == "ok"
               and r.get("actor") not in skip]
    prior = neutral_prior([ds.clip(c).track["landmarks_aligned"] for c in neutral])
    if prior is not None:
        out.update(prior, neutral_clips=len(neutral), version=2)
    mesh = _mesh_part(ds, skip, [r["id"] for r in ds.records if r.get("emotion") == "neutral"
                                   and r.get("status") == "ok" and r.get("actor") not in skip])
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
    if mesh is not None:
        out.update(mesh_view(mesh), version=3)
    return out


def mesh_view(mesh: dict) -> dict:
    """A prototypes file's "mesh" part and the 68-point view of its emotions ("emotions"), which
    eval's expression shift and the expression reading use."""
    from ..edit.mesh_facs import view68

    emotions = {e: {"aus": v["aus"], "displacement": np.round(constrain(view68(np.asarray(v["displacement"]))), 4).tolist()}
                for e, v in mesh["emotions"].items()}
    return {"mesh": mesh, "emotions": emotions}


def _mesh_part(ds, skip: set, neutral_ids: list[str]) -> dict | None:
    """The mesh prototypes fitted on the pairs (stccl.train.mesh_prototypes), where the dataset
    was prepared with the mesh tracker (its tracks have "mesh"); None otherwise."""
    from .mesh_prototypes import canonical_face, mesh_part, pair_displacement, take_displacement

    neutral = [m for m in (ds.clip(c).track.get("mesh") for c in neutral_ids) if m is not None]
    if not neutral:
        return None
    reference = canonical_face(neutral)
    observed: dict[str, list[np.ndarray]] = {}
    paired: set[str] = set()
    for pair in ds.pairs:
        if pair.get("actor") in skip:
            continue
        a, b = ds.clip(pair["neutral"]).track.get("mesh"), ds.clip(pair["other"]).track.get("mesh")
        est = None if a is None or b is None else pair_displacement(a, b, pair["path"], reference)
        if est is not None:
            observed.setdefault(pair["emotion"], []).append(est)
            paired.add(pair["other"])
    # takes the pairing left out (it found no path it trusts): the whole take against the same
    # actor's neutral take of the same sentence, at equal lip opening
    by_sentence = {(r.get("actor"), r.get("sentence")): r["id"] for r in ds.ok if r["id"] in neutral_ids}
    for r in ds.ok:
        n = by_sentence.get((r.get("actor"), r.get("sentence")))
        if r.get("emotion") == "neutral" or r["id"] in paired or n is None or r.get("actor") in skip:
            continue
        a, b = ds.clip(n).track.get("mesh"), ds.clip(r["id"]).track.get("mesh")
        est = None if a is None or b is None else take_displacement(a, b, reference)
        if est is not None:
            observed.setdefault(r["emotion"], []).append(est)
    actors = sorted({r.get("actor") for r in ds.ok if r["id"] in neutral_ids})
    return mesh_part(neutral, observed, source=f"fit on the pairs of {', '.join(map(str, actors))}")


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


def neutral_prior(clips: list[np.ndarray], shown: list[tuple[np.ndarray, np.ndarray]] = (),
                  population: np.ndarray | None = None) -> dict | None:
    """The expression-free prior of stccl.edit.expression: `neutral_shape`, the mean over
    identities of each one's median normalised shape, made left-right symmetric, and
    `speech_spread`, each coordinate's mean spread over time in neutral speech (with landmark
    noise). None without a usable neutral clip.

    `clips`: neutral clips' landmarks ((N,68,2) each, any frame). `shown`: (landmarks,
    prototype) of emotional clips of more identities: each adds its median shape less the part
    along its labelled emotion's prototype (measured from the neutral clips' mean), so a happy
    take still says where that face's brows sit. `population` ((68,2), any frame): a mean face
    of many more identities than the clips have (stccl.face.predictor_mean), which then gives
    everything but the mouth; the clips give the mouth, which it shows smiling and open."""
    shapes, spreads = [], []
    for lmk in clips:
        n = _normalised(lmk)
        if n is not None:
            shapes.append(np.median(n, 0))
            spreads.append(n.std(0))
    if not shapes:
        return None
    base = np.mean(shapes, 0)
    for lmk, proto in shown:
        n = _normalised(lmk)
        if n is None:
            continue
        p = np.asarray(proto, np.float64).copy()
        p[0:17] = 0.0
        median = np.median(n, 0)
        along = max(0.0, float(((median - base) * p).sum() / max((p * p).sum(), 1e-12)))
        shapes.append(median - along * p)
    shape = np.mean(shapes, 0)
    if population is not None:
        shape[:48] = normalise(np.asarray(population, np.float64))[:48]
    mirrored = shape[MIRROR] * [-1.0, 1.0]
    spread = np.mean(spreads, 0)
    return {"neutral_shape": np.round((shape + mirrored) / 2, 4).tolist(),
            "speech_spread": np.round((spread + spread[MIRROR]) / 2, 4).tolist(),
            "prior_identities": len(shapes), "prior_population": population is not None}


def _normalised(lmk: np.ndarray) -> np.ndarray | None:
    lmk = np.asarray(lmk, np.float64)
    lmk = lmk[np.isfinite(lmk).all((1, 2))]
    return normalise(lmk) if len(lmk) >= 3 else None


def save_prototypes(protos: dict, path: str | Path) -> None:
    write_text_atomic(path, json.dumps(protos, indent=1) + "\n")
