"""What every edit engine gives and takes.

An engine works on aligned face crops and returns a *change*, not a finished image: a backward
motion field and an optional colour change. The pipeline applies the motion field to the
full-resolution frame (so unchanged detail is not resampled through the crop) and adds the
colour change, which keeps pixels away from the face untouched.

Arrays cross this interface as numpy arrays or torch tensors: the warp engine is numpy (the
default edit imports no torch), the neural engine torch. `to_numpy` reads either.

What an engine can do is declared in its registry entry (stccl.registry.ENGINES, `EngineCaps`)
and is the engine's `caps`. The pipeline and eval call every engine through `engine_changes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..registry import EngineCaps

if TYPE_CHECKING:
    from .expression import ExpressionModel


def to_numpy(a: Any) -> np.ndarray:
    """A numpy view or copy of a numpy array, a torch tensor (any device or dtype) or a list."""
    if hasattr(a, "detach"):  # torch, without importing it
        a = a.detach()
        if a.dtype.is_floating_point and a.element_size() < 4:
            a = a.float()
        return a.cpu().numpy()
    return np.asarray(a)


@dataclass
class EngineOutput:
    """flow: (B,2,G,G) float32 backward offsets in crop pixels, (x, y) order:
    out(p) = in(p + flow(p)). G may be smaller than the crop side S for a smooth field: node k
    lies at crop position k * (S - 1) / (G - 1), and the field between nodes is bilinear
    (`dense`). delta: (B,3,S,S) float32 or None, a colour change in units of [0,1] RGB, added
    after the warp. Either may be a numpy array or a torch tensor."""

    flow: Any
    delta: Any = None

    def dense(self, size: int) -> np.ndarray:
        """The flow at every pixel of a size x size crop, (B,2,size,size) float32 numpy."""
        flow = to_numpy(self.flow).astype(np.float32, copy=False)
        if flow.shape[-1] == size:
            return flow
        import cv2

        t = np.linspace(0, flow.shape[-1] - 1, size, dtype=np.float32)
        gx, gy = np.meshgrid(t, t)
        return np.stack([cv2.remap(np.ascontiguousarray(f.transpose(1, 2, 0)), gx, gy, cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REPLICATE).transpose(2, 0, 1) for f in flow])


class Engine(Protocol):
    name: str
    caps: EngineCaps  # what it can do: its registry entry's capabilities
    size: int | None  # crop size the engine needs; None = any
    # the model it reads the expression each face shows with (stccl.edit.expression), so that
    # the edit replaces that expression; None when it does not read it (always None where
    # caps.reads_expression is False). An engine whose caps.reads_expression is True also has
    # seen_by(view_offset) -> Engine: itself for landmarks from a tracker whose 68-point view sits
    # view_offset off dlib's (Backend.view_offset), which the pipeline calls once per video
    expression: ExpressionModel | None

    def __call__(self, crops: Any, landmarks: Any, emotion: str, intensity: Any,
                 shown: Any = None) -> EngineOutput:
        """crops (B,3,S,S) float32 RGB in [0,1] (where caps.uses_pixels is False, only their
        shape is meaningful: no crop is cut); landmarks (B,68,2) float32 in crop pixels (iBUG
        68); emotion one of stccl.emotions.EMOTIONS, already checked; intensity (B,) float32
        (0 = unchanged, 1 = full, >1 exaggerated); shown (B,68,2) or None: the expression each
        face shows (ExpressionModel.shown), given only when `expression` is not None; numpy
        arrays or torch tensors. Returns the change for each crop."""
        ...


@dataclass
class Change:
    """One crop's change: flow (G,G,2) float32 numpy, backward offsets in crop pixels on the
    engine's grid (see EngineOutput); delta (S,S,3) float32 numpy or None."""

    flow: np.ndarray
    delta: np.ndarray | None


def engine_changes(engine: Engine, crops: Any, landmarks: np.ndarray, emotions: list[str],
                   intensity: np.ndarray, shown: np.ndarray | None = None) -> list[Change]:
    """The engine's change for each crop: one call per emotion (a plan edits toward several in
    one batch), each crop's own emotion and intensity. crops (B,3,S,S) float32 (only the
    shape, where the engine uses no pixels), landmarks (B,68,2) float32 crop pixels, shown
    (B,68,2) or None, given to engines that read the expression."""
    landmarks = np.asarray(landmarks, np.float32)
    out: list[Change | None] = [None] * len(emotions)
    for emotion in sorted(set(emotions)):
        ks = [k for k, e in enumerate(emotions) if e == emotion]
        extra = {} if shown is None or engine.expression is None else {"shown": shown[ks]}
        res = engine(crops[ks], landmarks[ks], emotion, intensity[ks], **extra)
        flow = to_numpy(res.flow).astype(np.float32, copy=False).transpose(0, 2, 3, 1)
        delta = None if res.delta is None else \
            to_numpy(res.delta).astype(np.float32, copy=False).transpose(0, 2, 3, 1)
        for j, k in enumerate(ks):
            out[k] = Change(flow[j], None if delta is None else np.ascontiguousarray(delta[j]))
    return out  # type: ignore[return-value]


def apply_output(crops, out: EngineOutput):
    """The edited crops (B,3,S,S) torch tensor: crops warped by out.flow, plus out.delta,
    clamped to [0,1]."""
    import torch

    from ..models.generator import warp

    crops = torch.as_tensor(crops)
    warped = warp(crops, torch.as_tensor(out.dense(crops.shape[-1])).to(crops))
    if out.delta is not None:
        warped = warped + torch.as_tensor(out.delta).to(warped)
    return warped.clamp(0.0, 1.0)
