"""What every edit engine gives and takes.

An engine works on aligned face crops and returns a *change*, not a finished image: a backward
motion field and an optional colour change. The pipeline applies the motion field to the
full-resolution frame (so unchanged detail is not resampled through the crop) and adds the
colour change, which keeps pixels away from the face untouched.

Arrays cross this interface as numpy arrays or torch tensors: the warp engine is numpy (the
default edit imports no torch), the neural engine torch. `to_numpy` reads either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


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
    size: int | None  # crop size the engine needs; None = any
    uses_pixels: bool  # False: the engine reads only landmarks and crops' shape (no crop is cut)

    def __call__(self, crops: Any, landmarks: Any, emotion: str, intensity: Any) -> EngineOutput:
        """crops (B,3,S,S) float32 RGB in [0,1]; landmarks (B,68,2) float32 in crop pixels
        (iBUG 68); emotion one of stccl.emotions.EMOTIONS, already checked; intensity (B,)
        float32 (0 = unchanged, 1 = full, >1 exaggerated); numpy arrays or torch tensors.
        Returns the change for each crop."""
        ...


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
