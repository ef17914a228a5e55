"""`run_protocol`: the papers' evaluation protocol on a prepared dataset, engines side by side.

Test actors (DESIGN.md §5): MEAD M003, M009, W029, M012, M030, W015; RAVDESS Actor_01..06. The
cross-ID map is cyclic, each actor takes the one before it: M003<-W015, M009<-M003, W029<-M009,
M012<-W029, M030<-M012, W015<-M030 (Actor_01<-Actor_06, Actor_02<-Actor_01, ...).

For every test actor A of the protocol found in PREP, each of A's neutral clips is edited into
each target emotion E by every engine (warp; neural = --weights; neural without STCCL =
--weights-no-stccl). The edit is made on PREP's aligned crops with the same engine call and face
mask as the video pipeline (no decode, paste-back or re-encode), with the intensity constant.

The reference actor R is A itself (intra) or A's mapped actor (cross). R's real clips of emotion
E (all levels in PREP, up to `real_frames` frames spread over them) are the *real set*: FAD
compares the generated frames of A->E with them, and expression similarity is the cosine of the
mean expression features of the two. Nothing else uses the reference: every other metric
compares an edit with its own input (landmarks, pixels, identity) or with the target label
(emotion accuracy). In the cross protocol, the generated frames keep A's identity while the
real set has R's, so FAD is higher than intra by construction, as in NED.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .. import __version__
from ..config import AlignConfig, TrackConfig
from ..data.store import PreparedClip, PreparedDataset
from ..edit.engine import apply_output, check_emotion
from ..edit.paste import face_mask
from ..errors import DataError, InputError
from ..face import FaceStream, FaceTracker, make_backend
from ..fs import ensure_writable_dir
from ..video import read_audio
from .landmarks import landmark_metrics
from .pixels import PixelStats, crop_region
from .scorers import FeatureBank, Scorers, WeightPaths, feature_metrics, valid_rows

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]

MEAD_TEST = ("M003", "M009", "W029", "M012", "M030", "W015")
RAVDESS_TEST = tuple(f"Actor_{i:02d}" for i in range(1, 7))
MEAD_TARGETS = ("angry", "contempt", "disgusted", "fear", "happy", "sad", "surprised")
RAVDESS_TARGETS = ("angry", "disgusted", "fear", "happy", "sad", "surprised")
TRACK_SIZE = 256  # crops smaller than this are upscaled for tracking (HOG needs ~80 px faces)


def cross_map(actors: tuple[str, ...]) -> dict[str, str]:
    """Each actor -> the one before it, cyclically (the first takes the last)."""
    return {a: actors[i - 1] for i, a in enumerate(actors)}


@dataclass(frozen=True)
class Protocol:
    name: str
    actors: tuple[str, ...]
    targets: tuple[str, ...]
    cross: bool

    def reference(self, actor: str) -> str:
        return cross_map(self.actors)[actor] if self.cross else actor


PROTOCOLS = {
    "mead-intra": Protocol("mead-intra", MEAD_TEST, MEAD_TARGETS, False),
    "mead-cross": Protocol("mead-cross", MEAD_TEST, MEAD_TARGETS, True),
    "ravdess-intra": Protocol("ravdess-intra", RAVDESS_TEST, RAVDESS_TARGETS, False),
    "ravdess-cross": Protocol("ravdess-cross", RAVDESS_TEST, RAVDESS_TARGETS, True),
}


@dataclass
class ProtocolOptions:
    protocol: str = "mead-intra"
    weights: str | None = None  # generator trained with the STCCL loss ("neural")
    weights_no_stccl: str | None = None  # the same generator trained without it ("neural-no-stccl")
    scoring: WeightPaths = field(default_factory=WeightPaths)
    prototypes: str | None = None
    tracker: str = "dlib"
    device: str = "cpu"
    emotions: list[str] = field(default_factory=list)  # empty: the protocol's 7 (MEAD) / 6 (RAVDESS)
    clips_per_actor: int = 0  # neutral clips edited per actor; 0 = all
    max_frames: int = 0  # frames per clip; 0 = all
    real_frames: int = 300  # frames of the real set per (reference actor, emotion)
    intensity: float = 1.0
    batch: int = 8


@dataclass
class _Engine:
    name: str
    engine: object
    info: dict


def load_engines(opts: ProtocolOptions) -> list[_Engine]:
    from ..edit.warp import WarpEngine, find_prototypes

    protos = find_prototypes(opts.prototypes)
    engines = [_Engine("warp", WarpEngine(protos), {"weights": str(protos)})]
    for name, path, want in (("neural", opts.weights, True), ("neural-no-stccl", opts.weights_no_stccl, False)):
        if path is None:
            continue
        from ..edit.neural import NeuralEngine

        if not Path(path).is_file():
            raise InputError(f"generator weights not found: {path}")
        eng = NeuralEngine(path, device=opts.device)
        meta = eng.metadata
        loss = json.loads(meta["loss"]) if isinstance(meta.get("loss"), str) else meta.get("loss") or {}
        stccl = loss.get("stccl")
        info = {"weights": str(path), "steps": int(json.loads(meta.get("steps", "0"))),
                "stccl_loss_weight": stccl}
        if stccl is not None and (stccl > 0) != want:
            info["note"] = (f"trained with STCCL loss weight {stccl}: "
                            f"{'expected > 0' if want else 'expected 0'} for this column")
            log.warning("%s: %s", path, info["note"])
        engines.append(_Engine(name, eng, info))
    return engines


def edit_crops(engine, crops: np.ndarray, lmk: np.ndarray, emotion: str, intensity: float,
               batch: int = 8) -> np.ndarray:
    """Crops (N,S,S,3) uint8 edited by `engine` into `emotion`, as the pipeline pastes them.

    The change is limited by the pipeline's face mask (motion and colour scaled by it), so what
    lies outside the face is copied. Frames whose landmarks (N,68,2, crop px) are NaN are kept.
    """
    out = crops.copy()
    size = crops.shape[1]
    idx = np.nonzero(np.isfinite(lmk).all((1, 2)))[0]
    with torch.inference_mode():
        for k in range(0, len(idx), batch):
            sel = idx[k:k + batch]
            x = torch.from_numpy(crops[sel]).permute(0, 3, 1, 2).float().div_(255)
            lm = torch.from_numpy(lmk[sel].astype(np.float32))
            res = engine(x, lm, emotion, torch.full((len(sel),), float(intensity)))
            mask = torch.from_numpy(np.stack([face_mask(lmk[i], size) for i in sel]))[:, None]
            res.flow = res.flow.float().cpu() * mask
            if res.delta is not None:
                res.delta = res.delta.float().cpu() * mask
            y = apply_output(x, res)
            out[sel] = y.mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return out


def track_crops(crops: np.ndarray, fps: float, backend, tracker: str) -> np.ndarray:
    """(N,68,2) landmarks in crop pixels of a crop sequence, NaN where no face is found."""
    import cv2

    size = crops.shape[1]
    scale = max(1.0, TRACK_SIZE / size)
    track = TrackConfig(tracker=tracker)
    stream = FaceStream(FaceTracker(backend, track), fps, track, AlignConfig())
    out: list[np.ndarray] = []

    def keep(emitted):
        for _, face in emitted:
            out.append(np.full((68, 2), np.nan) if face.landmarks is None else face.landmarks / scale)

    for c in crops:
        if scale > 1:
            c = cv2.resize(c, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        keep(stream.push(c))
    keep(stream.finish())
    return np.asarray(out, np.float64).reshape(-1, 68, 2)


def _features(scorers: Scorers, crops: np.ndarray, lmk: np.ndarray, batch: int) -> dict[str, np.ndarray]:
    bank = FeatureBank(scorers, batch)
    if not bank.active:
        return {}
    ok = np.isfinite(lmk).all((1, 2))
    for c, lm, good in zip(crops, lmk, ok):
        bank.add(c if good else None, lm if good else None)
    return bank.finish()


@dataclass
class _Source:
    actor: str
    clip: PreparedClip
    record: dict
    crops: np.ndarray
    lmk_aligned: np.ndarray
    lmk: np.ndarray  # re-tracked on the crops
    feats: dict
    audio: np.ndarray | None
    lse_input: dict


def run_protocol(data: str | Path, out_dir: str | Path, opts: ProtocolOptions | None = None,
                 progress: Progress | None = None) -> dict:
    """Run the protocol; write OUT/eval.json, OUT/eval.md and OUT/eval.png; return the JSON dict."""
    t0 = time.perf_counter()
    opts = opts or ProtocolOptions()
    if opts.protocol not in PROTOCOLS:
        raise InputError(f"unknown protocol {opts.protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    proto = PROTOCOLS[opts.protocol]
    emotions = [check_emotion(e) for e in opts.emotions] or list(proto.targets)
    ds = PreparedDataset(data)
    records = ds.ok
    present = sorted({r.get("actor") for r in records if r.get("actor")})
    actors = [a for a in proto.actors if a in present]
    if not actors:
        raise DataError(f"no {proto.name} test actor in {data}: it needs one of {', '.join(proto.actors)}; "
                        f"its actors are {', '.join(present[:12]) or 'none'}"
                        f"{' ...' if len(present) > 12 else ''}")
    out_dir = ensure_writable_dir(out_dir)
    engines = load_engines(opts)
    scorers = Scorers.load(opts.scoring, opts.device)
    backend = make_backend(opts.tracker, "auto")
    protos = _prototypes(opts.prototypes)
    notes: list[str] = []

    sources: dict[str, list[dict]] = {}
    for a in actors:
        clips = sorted((r for r in records if r.get("actor") == a and r.get("emotion") == "neutral"),
                       key=lambda r: r["id"])
        if opts.clips_per_actor:
            clips = clips[:opts.clips_per_actor]
        if not clips:
            notes.append(f"{a}: no neutral clip in PREP: not edited")
        sources[a] = clips
    n_src = sum(len(v) for v in sources.values())
    if n_src == 0:
        raise DataError(f"no neutral clip of the test actors {', '.join(actors)} in {data}: nothing to edit")
    refs = {a: proto.reference(a) for a in actors if sources[a]}
    real_keys = sorted({(refs[a], e) for a in refs for e in emotions})
    total = n_src * (1 + len(engines) * len(emotions)) + len(real_keys)
    done = 0

    def step(k: int = 1) -> None:
        nonlocal done
        done += k
        if progress:
            progress(done, total)

    if progress:
        progress(0, total)
    real = {}
    for r, e in real_keys:
        real[(r, e)] = _real_set(ds, records, r, e, scorers, opts)
        step()
    clips_out: list[dict] = []
    generated: dict[tuple[str, str, str], dict[str, list[np.ndarray]]] = {}
    for a in actors:
        for rec in sources[a]:
            src = _load_source(ds, rec, a, scorers, backend, opts)
            step()
            for eng in engines:
                for e in emotions:
                    row, feats = _score_edit(src, eng, e, protos.get(e), scorers, backend, opts)
                    clips_out.append(row)
                    gen = generated.setdefault((eng.name, a, e), {})
                    for k in ("arcface18", "expression"):
                        if k in feats:
                            gen.setdefault(k, []).append(feats[k][valid_rows(feats[k])])
                    step()

    per_actor = _real_metrics(generated, real, refs, scorers)
    table, skipped = _aggregate(clips_out, per_actor, engines, emotions, scorers, real, refs)
    for (r, e), feats in real.items():
        if feats is None:
            notes.append(f"{r}: no {e} clip in PREP: no real set for {e} (FAD and expression similarity skipped)")
    result = {
        "kind": "protocol", "stccl_version": __version__, "protocol": proto.name,
        "data": str(data), "emotions": emotions,
        "engines": {eng.name: eng.info for eng in engines},
        "actors": {a: {"reference": refs.get(a), "neutral_clips": [r["id"] for r in sources[a]]}
                   for a in actors},
        "missing_actors": [a for a in proto.actors if a not in present],
        "real_set": ("the reference actor's real clips of the target emotion: FAD compares the "
                     "generated frames with them, expression similarity the mean expression features"),
        "weights": {**scorers.weights, "prototypes": engines[0].info["weights"]},
        "tracker": getattr(backend, "name", opts.tracker),
        "options": _options(opts),
        "table": table, "per_actor": per_actor, "skipped": skipped, "notes": notes,
        "clips": clips_out,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    from .report import write_reports

    result["files"] = write_reports(result, Path(out_dir))
    return result


def _options(opts: ProtocolOptions) -> dict:
    d = asdict(opts)
    d["scoring"] = {k: (str(v) if v is not None else None) for k, v in d["scoring"].items()}
    return d


def _prototypes(path) -> dict[str, np.ndarray]:
    from ..edit.warp import find_prototypes, load_prototypes

    return {e: d for e, d in load_prototypes(find_prototypes(path)).items() if np.abs(d).max() > 1e-9}


def _frame_range(n: int, limit: int) -> np.ndarray:
    return np.arange(min(n, limit) if limit else n)


def _load_source(ds, rec: dict, actor: str, scorers: Scorers, backend, opts: ProtocolOptions) -> _Source:
    clip = ds.clip(rec["id"])
    idx = _frame_range(len(clip), opts.max_frames)
    crops = clip.crops(idx)
    lmk_aligned = clip.track["landmarks_aligned"][idx].astype(np.float64)
    fps = float(rec.get("fps") or 25.0)
    lmk = track_crops(crops, fps, backend, opts.tracker)
    feats = _features(scorers, crops, lmk, opts.batch)
    audio, lse_input = None, {}
    if scorers.syncnet is not None:
        src = Path(rec.get("source", ""))
        if rec.get("has_audio") and src.is_file():
            audio = read_audio(src)
            if audio is not None and opts.max_frames:
                audio = audio[: int(round(len(idx) / fps * 16000))]
        lse_input = _lse(scorers, feats, audio, fps)
    return _Source(actor, clip, rec, crops, lmk_aligned, lmk, feats, audio, lse_input)


def _lse(scorers: Scorers, feats: dict, audio, fps: float) -> dict:
    from .syncnet import sync_metrics

    if "syncnet_lip" not in feats:
        return {"_why": "no frames"}
    m, why = sync_metrics(scorers.syncnet, scorers.device, feats["syncnet_lip"], audio, fps)
    return {"_why": why} if why else m


def _score_edit(src: _Source, eng: _Engine, emotion: str, prototype, scorers: Scorers, backend,
                opts: ProtocolOptions) -> tuple[dict, dict]:
    fps = float(src.record.get("fps") or 25.0)
    edited = edit_crops(eng.engine, src.crops, src.lmk_aligned, emotion, opts.intensity, opts.batch)
    lmk = track_crops(edited, fps, backend, opts.tracker)
    m = landmark_metrics(src.lmk, lmk, prototype)
    pix = PixelStats()
    size = src.crops.shape[1]
    for a, b, lm in zip(src.crops, edited, src.lmk):
        pix.add(a, b, crop_region(lm, size) if np.isfinite(lm).all() else None)
    m.update(pix.result())
    feats = _features(scorers, edited, lmk, opts.batch)
    fm, _ = feature_metrics(src.feats, feats, None, emotion)
    m.update({k: v for k, v in fm.items() if k not in ("fad", "expr_sim")})
    if scorers.syncnet is not None:
        lse = _lse(scorers, feats, src.audio, fps)
        if "_why" not in lse:
            m.update(lse_d=lse["lse_d"], lse_c=lse["lse_c"], lse_offset=lse["offset"])
        if "_why" not in src.lse_input:
            m.update(lse_d_input=src.lse_input["lse_d"], lse_c_input=src.lse_input["lse_c"])
    row = {"engine": eng.name, "actor": src.actor, "clip": src.record["id"], "emotion": emotion,
           "frames": len(src.crops), "both_face": int((np.isfinite(src.lmk).all((1, 2))
                                                        & np.isfinite(lmk).all((1, 2))).sum()),
           "metrics": {k: _num(v) for k, v in m.items()}}
    return row, feats


def _real_set(ds, records, actor: str, emotion: str, scorers: Scorers, opts: ProtocolOptions):
    """Features of `actor`'s real `emotion` frames (None when PREP has none or no model needs them)."""
    wanted = {"arcface18", "expression"} & set(scorers.frame_models)
    recs = sorted((r for r in records if r.get("actor") == actor and r.get("emotion") == emotion),
                  key=lambda r: r["id"])
    if not recs:
        return None
    if not wanted:
        return {}
    only = Scorers()
    only.device, only.frame_models = scorers.device, {k: scorers.frame_models[k] for k in wanted}
    per_clip = max(1, math.ceil(opts.real_frames / len(recs)))
    feats: dict[str, list[np.ndarray]] = {}
    for r in recs:
        clip = ds.clip(r["id"])
        lmk = clip.track["landmarks_aligned"].astype(np.float64)
        ok = np.nonzero(np.isfinite(lmk).all((1, 2)))[0]
        pick = ok[np.linspace(0, len(ok) - 1, min(per_clip, len(ok))).round().astype(int)] if len(ok) else ok
        if not len(pick):
            continue
        f = _features(only, clip.crops(pick), lmk[pick], opts.batch)
        for k, v in f.items():
            feats.setdefault(k, []).append(v)
    return {k: np.concatenate(v) for k, v in feats.items()}


def _real_metrics(generated, real, refs, scorers) -> list[dict]:
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


def _aggregate(clips, per_actor, engines, emotions, scorers, real, refs):
    """{engine: {emotion | "avg": {metric: mean}}} and {metric: why skipped}."""
    from .metrics import METRICS

    table: dict[str, dict[str, dict[str, float | None]]] = {}
    for eng in engines:
        t: dict[str, dict[str, float | None]] = {}
        for e in emotions:
            rows = [c["metrics"] for c in clips if c["engine"] == eng.name and c["emotion"] == e]
            cell = {k: _mean([r.get(k) for r in rows]) for k in METRICS if k not in ("fad", "expr_sim")}
            for k in ("fad", "expr_sim"):
                cell[k] = _mean([p.get(k) for p in per_actor if p["engine"] == eng.name and p["emotion"] == e])
            t[e] = cell
        t["avg"] = {k: _mean([t[e].get(k) for e in emotions]) for k in t[emotions[0]]}
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


def _num(v):
    if v is None:
        return None
    v = float(v)
    return None if not math.isfinite(v) else v


def _mean(values) -> float | None:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return float(np.mean(vals)) if vals else None
