"""The neural engine: the trained generator (stccl.models.generator) behind the Engine interface."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from ..devices import resolve_device
from ..models.generator import warp
from ..models.io import load_generator
from ..emotions import emotion_index
from ..registry import ENGINES
from .engine import EngineOutput


def build(cfg, weights: Path) -> "NeuralEngine":
    """The registry's factory: `weights` is the generator file make_engine found."""
    return NeuralEngine(weights, device=cfg.device)


class NeuralEngine:
    """Implements stccl.edit.engine.Engine with a generator loaded from safetensors. It is
    conditioned on the target emotion and reads no expression (`expression` is None)."""

    name = "neural"
    caps = ENGINES["neural"].caps
    expression = None

    def __init__(self, weights: str | Path, device: str = "auto"):
        self.device = torch.device(resolve_device(device))
        self.model, self.config, self.metadata = load_generator(weights, self.device)
        if self.device.type == "cuda":
            self.model = self.model.to(memory_format=torch.channels_last)
        self.size = self.config.size

    @torch.inference_mode()
    def __call__(self, crops, landmarks, emotion: str, intensity, shown=None) -> EngineOutput:
        """crops (B,3,S,S), intensity (B,): numpy arrays or torch tensors (see Engine).
        Returns torch tensors on the crops' device (the CPU for numpy crops)."""
        crops, intensity = torch.as_tensor(crops), torch.as_tensor(intensity)
        s_in = crops.shape[-1]
        x = crops.to(self.device, torch.float32)
        if s_in != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True,
                              align_corners=False)
        e = torch.full((len(x),), emotion_index(emotion), device=self.device)
        a = intensity.to(self.device, torch.float32)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            out = self.model(x, e, a)
        flow, mask, color = out["flow"].float(), out["mask"].float(), out["color"].float()
        delta = mask * (color - warp(x, flow))
        if s_in != self.size:
            flow = F.interpolate(flow, size=(s_in, s_in), mode="bilinear", align_corners=True) * (
                (s_in - 1) / (self.size - 1))
            delta = F.interpolate(delta, size=(s_in, s_in), mode="bilinear", align_corners=False)
        return EngineOutput(flow=flow.to(crops.device), delta=delta.to(crops.device))
