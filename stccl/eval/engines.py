"""The protocol's engines, and the edit of PREP's aligned crops they are compared on.

`load_engines` builds every engine of a run from the registry (stccl.registry.ENGINES), by
`EvalConfig.engines`; empty: every registered engine that needs no weights (the training-free
baselines: warp; not one whose entry says `compare=False`, such as meshwarp while in progress), then those that do when `--weights` is given (neural), then the column
neural-no-stccl (`--weights-no-stccl`), the same engine without the STCCL loss. `edit_crops`
edits a crop sequence with the same engine call (stccl.edit.engine.engine_changes) and face mask
as the video pipeline (no decode, paste-back or re-encode).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..config import EditConfig
from ..edit.editor import make_engine
from ..edit.engine import EngineOutput, apply_output, engine_changes
from ..edit.paste import face_mask
from ..errors import StcclError
from ..registry import ENGINES

if TYPE_CHECKING:
    from .config import EvalConfig

log = logging.getLogger(__name__)

NO_STCCL = "neural-no-stccl"  # the column of --weights-no-stccl: the neural engine trained without the loss


@dataclass
class LoadedEngine:
    name: str  # the column: an engine's name, or NO_STCCL
    engine: object
    info: dict


def engine_columns(opts: EvalConfig) -> list[tuple[str, str, str | None]]:
    """(column, engine, weights) of every engine a run compares, in order."""
    if opts.engines:
        names = list(opts.engines)
    else:
        entries = ENGINES.entries()
        names = [e.name for e in entries if not e.weights and e.compare]
        names += [e.name for e in entries if e.weights and opts.weights is not None]
    columns = [(n, n, opts.weights if ENGINES[n].weights else None) for n in names]
    if opts.weights_no_stccl is not None:
        neural = next((e.name for e in ENGINES.entries() if e.weights), None)
        if neural is not None:
            columns.append((NO_STCCL, neural, opts.weights_no_stccl))
    return columns


def load_engines(opts: EvalConfig) -> list[LoadedEngine]:
    engines = []
    for column, name, weights in engine_columns(opts):
        cfg = EditConfig(engine=name, weights=weights, device=opts.device, prototypes=opts.prototypes)
        engine, _ = make_engine(cfg)
        engines.append(LoadedEngine(column, engine, _info(column, weights, opts)))
    return engines


def _info(column: str, weights: str | None, opts: EvalConfig) -> dict:
    """What a column was run with: its weights file, and for an stccl weights file its training
    steps and STCCL loss weight (a note when that weight does not fit the column)."""
    if weights is None:
        from ..edit.warp import find_prototypes

        return {"weights": str(find_prototypes(opts.prototypes))}
    from ..models.io import parse_metadata, read_metadata

    try:
        meta = parse_metadata(read_metadata(weights), weights)
    except StcclError:  # not an stccl file: the engine that loaded it knows its own format
        return {"weights": str(weights)}
    stccl = (meta.get("loss") or {}).get("stccl") if isinstance(meta.get("loss"), dict) else None
    info = {"weights": str(weights), "steps": meta["steps"], "stccl_loss_weight": stccl}
    want = column != NO_STCCL
    if stccl is not None and (stccl > 0) != want:
        info["note"] = (f"trained with STCCL loss weight {stccl}: "
                        f"{'expected > 0' if want else 'expected 0'} for this column")
        log.warning("%s: %s", weights, info["note"])
    return info


def moving_prototypes(path) -> dict[str, np.ndarray]:
    """The warp prototypes of `path` (or the default ones) that move the face at all."""
    from ..edit.warp import find_prototypes, load_prototypes

    return {e: d for e, d in load_prototypes(find_prototypes(path)).items() if np.abs(d).max() > 1e-9}


def edit_crops(engine, crops: np.ndarray, lmk: np.ndarray, emotion: str, intensity: float,
               batch: int = 8, fps: float = 25.0) -> np.ndarray:
    """Crops (N,S,S,3) uint8 edited by `engine` into `emotion`, as the pipeline pastes them.

    The change is limited by the pipeline's face mask (motion and colour scaled by it), so what
    lies outside the face is copied. Frames whose landmarks (N,68,2, crop px) are NaN are kept.
    An engine that reads the expression shown (warp) is given it, smoothed as the pipeline does.
    """
    from ..edit.expression import ShownReader

    out = crops.copy()
    size = crops.shape[1]
    idx = np.nonzero(np.isfinite(lmk).all((1, 2)))[0]
    reader = None if engine.expression is None else ShownReader(engine.expression, fps)
    with torch.inference_mode():
        for k in range(0, len(idx), batch):
            sel = idx[k:k + batch]
            x = torch.from_numpy(crops[sel]).permute(0, 3, 1, 2).float().div_(255)
            shown = None if reader is None else reader(sel.tolist(), lmk[sel])
            changes = engine_changes(engine, x, lmk[sel], [emotion] * len(sel),
                                     torch.full((len(sel),), float(intensity)), shown)
            res = EngineOutput(np.stack([c.flow for c in changes]).transpose(0, 3, 1, 2),
                               None if changes[0].delta is None else
                               np.stack([c.delta for c in changes]).transpose(0, 3, 1, 2))
            mask = torch.from_numpy(np.stack([face_mask(lmk[i], size) for i in sel]))[:, None]
            res.flow = torch.from_numpy(res.dense(size)) * mask
            if res.delta is not None:
                res.delta = torch.from_numpy(np.ascontiguousarray(res.delta)) * mask
            y = apply_output(x, res)
            out[sel] = y.mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return out
