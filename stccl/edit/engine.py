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

from ..models.generator import warp


@dataclass
class EngineOutput:
    """flow: (B,2,S,S) float32 backward offsets in crop pixels, (x, y) order:
    out(p) = in(p + flow(p)). delta: (B,3,S,S) float32 or None, a colour change in units of
    [0,1] RGB, added after the warp."""

    flow: torch.Tensor
    delta: torch.Tensor | None = None


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
    warped = warp(crops, out.flow)
    if out.delta is not None:
        warped = warped + out.delta
    return warped.clamp(0.0, 1.0)
