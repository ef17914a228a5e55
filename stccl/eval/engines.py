"""The protocol's engines, and the edit of PREP's aligned crops they are compared on.

`load_engines` builds every engine of a run: warp (always), neural (`weights`) and
neural-no-stccl (`weights_no_stccl`). `edit_crops` edits a crop sequence with the same engine
call and face mask as the video pipeline (no decode, paste-back or re-encode).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..edit.engine import apply_output
from ..edit.paste import face_mask
from ..errors import InputError

if TYPE_CHECKING:
    from .config import EvalConfig

log = logging.getLogger(__name__)


@dataclass
class LoadedEngine:
    name: str
    engine: object
    info: dict


def load_engines(opts: EvalConfig) -> list[LoadedEngine]:
    from ..edit.warp import WarpEngine, find_prototypes

    protos = find_prototypes(opts.prototypes)
    engines = [LoadedEngine("warp", WarpEngine(protos), {"weights": str(protos)})]
    for name, path, want in (("neural", opts.weights, True), ("neural-no-stccl", opts.weights_no_stccl, False)):
        if path is None:
            continue
        from ..edit.neural import NeuralEngine

        if not Path(path).is_file():
            raise InputError(f"generator weights not found: {path}")
        eng = NeuralEngine(path, device=opts.device)
        meta = eng.metadata
        stccl = (meta.get("loss") or {}).get("stccl")  # metadata parsed by stccl.models.io
        info = {"weights": str(path), "steps": meta["steps"], "stccl_loss_weight": stccl}
        if stccl is not None and (stccl > 0) != want:
            info["note"] = (f"trained with STCCL loss weight {stccl}: "
                            f"{'expected > 0' if want else 'expected 0'} for this column")
            log.warning("%s: %s", path, info["note"])
        engines.append(LoadedEngine(name, eng, info))
    return engines


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
    model = getattr(engine, "expression", None)
    reader = None if model is None else ShownReader(model, fps)
    with torch.inference_mode():
        for k in range(0, len(idx), batch):
            sel = idx[k:k + batch]
            x = torch.from_numpy(crops[sel]).permute(0, 3, 1, 2).float().div_(255)
            lm = torch.from_numpy(lmk[sel].astype(np.float32))
            alpha = torch.full((len(sel),), float(intensity))
            if reader is not None:
                res = engine(x, lm, emotion, alpha, shown=torch.from_numpy(reader(sel.tolist(), lmk[sel])))
            else:
                res = engine(x, lm, emotion, alpha)
            mask = torch.from_numpy(np.stack([face_mask(lmk[i], size) for i in sel]))[:, None]
            res.flow = torch.from_numpy(res.dense(size)) * mask
            if res.delta is not None:
                res.delta = torch.as_tensor(res.delta).float().cpu() * mask
            y = apply_output(x, res)
            out[sel] = y.mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return out
