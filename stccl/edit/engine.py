"""What every edit engine gives and takes.

An engine works on aligned face crops and returns a *change*, not a finished image: a backward
motion field and an optional colour change. The pipeline applies the motion field to the
full-resolution frame (so unchanged detail is not resampled through the crop) and adds the
colour change, which keeps pixels away from the face untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F

from ..models.generator import warp


@dataclass
class EngineOutput:
    """flow: (B,2,G,G) float32 backward offsets in crop pixels, (x, y) order:
    out(p) = in(p + flow(p)). G may be smaller than the crop side S for a smooth field: node k
    lies at crop position k * (S - 1) / (G - 1), and the field between nodes is bilinear
    (`dense`). delta: (B,3,S,S) float32 or None, a colour change in units of [0,1] RGB, added
    after the warp."""

    flow: torch.Tensor
    delta: torch.Tensor | None = None

    def dense(self, size: int) -> torch.Tensor:
        """The flow at every pixel of a size x size crop, (B,2,size,size)."""
        if self.flow.shape[-1] == size:
            return self.flow
        return F.interpolate(self.flow.float(), size=(size, size), mode="bilinear", align_corners=True)


class Engine(Protocol):
    name: str
    size: int | None  # crop size the engine needs; None = any
    uses_pixels: bool  # False: the engine reads only landmarks and crops' shape (no crop is cut)

    def __call__(self, crops: torch.Tensor, landmarks: torch.Tensor, emotion: str,
                 intensity: torch.Tensor) -> EngineOutput:
        """crops (B,3,S,S) float32 RGB in [0,1]; landmarks (B,68,2) float32 in crop pixels
        (iBUG 68); emotion one of stccl.emotions.EMOTIONS, already checked; intensity (B,) float32 (0 = unchanged, 1 = full,
        >1 exaggerated). Returns the change for each crop."""
        ...


def apply_output(crops: torch.Tensor, out: EngineOutput) -> torch.Tensor:
    """The edited crops (B,3,S,S): crops warped by out.flow, plus out.delta, clamped to [0,1]."""
    warped = warp(crops, out.dense(crops.shape[-1]))
    if out.delta is not None:
        warped = warped + out.delta
    return warped.clamp(0.0, 1.0)
