"""`run_protocol`: the papers' evaluation protocol on a prepared dataset, engines side by side.

The test actors (MEAD M003, M009, W029, M012, M030, W015; RAVDESS Actor_01..06), their target
emotions and the cyclic cross-ID map (each actor takes the one before it: M003<-W015,
M009<-M003, ...) are defined in stccl.eval.protocols.

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

The edits move the landmarks PREP's tracker found (its records' `tracker`), so the sources and
the edits are read back by another tracker unless --tracker names one (stccl.eval.reader).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .. import __version__
from ..data.store import PreparedClip, PreparedDataset
from ..edit.warp import find_prototypes
from ..errors import DataError
from ..typed import validate
from ..face import make_backend
from ..fs import ensure_writable_dir
from ..video import read_audio
from .crops import TRACK_SIZE, crop_features, track_crops
from .engines import LoadedEngine, edit_crops, load_engines, moving_prototypes
from .landmarks import landmark_metrics
from .readback import intended_move
from .reader import pick_reader
from .pixels import PixelStats, crop_region
from .protocols import (MEAD_TARGETS, MEAD_TEST, PROTOCOLS, RAVDESS_TARGETS, RAVDESS_TEST, Protocol,
                        cross_map)
from .config import EvalConfig
from .scorers import Scorers, feature_metrics, valid_rows
from .tables import aggregate, num, real_metrics

__all__ = [  # the protocol's definitions and steps stay importable from here
    "MEAD_TARGETS", "MEAD_TEST", "PROTOCOLS", "RAVDESS_TARGETS", "RAVDESS_TEST", "TRACK_SIZE",
    "Protocol", "cross_map", "edit_crops", "load_engines", "run_protocol",
    "track_crops",
]

Progress = Callable[[int, int], None]


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


def run_protocol(data: str | Path, out_dir: str | Path, opts: EvalConfig | None = None,
                 progress: Progress | None = None) -> dict:
    """Run the protocol; write OUT/eval.json, OUT/eval.md and OUT/eval.png; return the JSON dict."""
    t0 = time.perf_counter()
    opts = validate(opts or EvalConfig())  # every value checked here, where the call enters
    from .report import check_reports_free

    check_reports_free(Path(out_dir), opts.overwrite)
    proto = PROTOCOLS[opts.protocol]
    emotions = list(opts.emotions) or list(proto.targets)
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
    protos = moving_prototypes(opts.prototypes)
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
    # the edits move PREP's landmarks: the tracker that drove them is the one that prepared the clips
    drivers = {r.get("tracker") for v in sources.values() for r in v}
    driver = drivers.pop() if len(drivers) == 1 else None
    reader, warning = pick_reader(opts.tracker, driver)
    backend = make_backend(reader, "auto")
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

    per_actor = real_metrics(generated, real, refs, scorers)
    table, skipped = aggregate(clips_out, per_actor, engines, emotions, scorers, real, refs)
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
        "weights": {**scorers.weights, "prototypes": str(find_prototypes(opts.prototypes))},
        "tracker": backend.name, "tracked_by": driver, "warning": warning,
        "options": _options(opts),
        "table": table, "per_actor": per_actor, "skipped": skipped, "notes": notes,
        "clips": clips_out,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    from .report import write_reports

    result["files"] = write_reports(result, Path(out_dir), opts.overwrite)
    return result


def _options(opts: EvalConfig) -> dict:
    return asdict(opts)


def _frame_range(n: int, limit: int) -> np.ndarray:
    return np.arange(min(n, limit) if limit else n)


def _load_source(ds, rec: dict, actor: str, scorers: Scorers, backend, opts: EvalConfig) -> _Source:
    clip = ds.clip(rec["id"])
    idx = _frame_range(len(clip), opts.max_frames)
    crops = clip.crops(idx)
    lmk_aligned = clip.track["landmarks_aligned"][idx].astype(np.float64)
    fps = float(rec.get("fps") or 25.0)
    lmk = track_crops(crops, fps, backend, backend.name)
    feats = crop_features(scorers, crops, lmk, opts.batch)
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


def _score_edit(src: _Source, eng: LoadedEngine, emotion: str, prototype, scorers: Scorers, backend,
                opts: EvalConfig) -> tuple[dict, dict]:
    fps = float(src.record.get("fps") or 25.0)
    edited = edit_crops(eng.engine, src.crops, src.lmk_aligned, emotion, opts.intensity, opts.batch, fps)
    lmk = track_crops(edited, fps, backend, backend.name)
    # the move asked: the target less what the source shows, where the engine reads it (warp)
    move = intended_move(src.lmk, prototype, eng.engine.expression)
    m = landmark_metrics(src.lmk, lmk, move)
    pix = PixelStats()
    size = src.crops.shape[1]
    for a, b, lm in zip(src.crops, edited, src.lmk):
        pix.add(a, b, crop_region(lm, size) if np.isfinite(lm).all() else None)
    m.update(pix.result())
    feats = crop_features(scorers, edited, lmk, opts.batch)
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
           "metrics": {k: num(v) for k, v in m.items()}}
    return row, feats


def _real_set(ds, records, actor: str, emotion: str, scorers: Scorers, opts: EvalConfig):
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
        f = crop_features(only, clip.crops(pick), lmk[pick], opts.batch)
        for k, v in f.items():
            feats.setdefault(k, []).append(v)
    return {k: np.concatenate(v) for k, v in feats.items()}
