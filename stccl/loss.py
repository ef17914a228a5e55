"""STCCL as a plug-in loss for any PyTorch generator (the papers' own use of the metric).

    from stccl import STCCLLoss
    stccl = STCCLLoss.from_file("metric.safetensors")          # frozen, no gradients of its own
    loss = loss + weight * stccl(generated, source)             # gradients reach `generated`

`generated` and `source` are both (B,3,H,W) frames or both (B,T,3,H,W) windows, RGB, in the
value range given (`value_range=(0, 1)` by default, `(-1, 1)` for NED-style generators); they
are resized to the metric's crop size. Windows must have the length the metric was trained
with. The module follows the inputs' device. See docs/plugin.md for where the term goes in
NED, ICface and a generic generator.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .errors import InputError
from .models.correlation import CorrelationMetric
from .models.io import load_metric, trained_window


class STCCLLoss(nn.Module):
    """`loss(generated, source)`: the frozen correlation metric between a generator's output
    and its input (the query stream is `generated`)."""

    def __init__(self, metric: CorrelationMetric, *, window: int | None = None,
                 value_range: tuple[float, float] = (0.0, 1.0), terms: str = "all"):
        super().__init__()
        if terms not in ("all", "spatial", "temporal"):
            raise InputError(f"terms must be all, spatial or temporal, got {terms!r}")
        low, high = (float(v) for v in value_range)
        if not high > low:
            raise InputError(f"value_range must be (low, high) with high > low, got {value_range}")
        self.metric = metric.eval().requires_grad_(False)
        self.window = window  # the window length the metric was trained with (None: any)
        self.low, self.high, self.terms = low, high, terms
        self.steps = 0

    @classmethod
    def from_file(cls, path: str | Path, device: str | torch.device = "cpu", *,
                  value_range: tuple[float, float] = (0.0, 1.0), terms: str = "all") -> "STCCLLoss":
        """A loss from a trained metric (`stccl train --stage metric` -> RUN/metric.safetensors)."""
        metric, _, meta = load_metric(path, device)
        loss = cls(metric, window=trained_window(meta), value_range=value_range, terms=terms)
        loss.steps = int(meta.get("steps", 0))
        return loss

    @property
    def size(self) -> int:
        return self.metric.cfg.size

    def train(self, mode: bool = True) -> "STCCLLoss":
        super().train(mode)
        self.metric.eval()  # frozen: BatchNorm statistics and dropout stay as trained
        return self

    def forward(self, generated: torch.Tensor, source: torch.Tensor,
                generator: torch.Generator | None = None) -> torch.Tensor:
        if generated.shape != source.shape or generated.dim() not in (4, 5) or generated.shape[-3] != 3:
            raise InputError("STCCLLoss takes generated and source of one shape, (B,3,H,W) or (B,T,3,H,W); "
                             f"got {tuple(generated.shape)} and {tuple(source.shape)}")
        if generated.dim() == 5 and self.window is not None and generated.shape[1] != self.window:
            raise InputError(f"this metric was trained on windows of {self.window} frames; "
                             f"got windows of {generated.shape[1]}")
        device = generated.device
        if next(self.metric.parameters()).device != device:
            self.metric.to(device)
        out = self.metric(self._prepare(generated), self._prepare(source.detach()), generator)
        if self.terms == "all":
            return out["loss"]
        cfg = self.metric.cfg
        weight = cfg.spatial_weight if self.terms == "spatial" else cfg.temporal_weight
        parts = [v for k, v in out.items() if k.startswith(self.terms + "/")]
        return weight * sum(parts) if parts else out["loss"].new_zeros(())

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        """To the metric's input: RGB in [0, 1] at its crop size, same leading shape."""
        lead = x.shape[:-3]
        x = x.reshape(-1, *x.shape[-3:]).float()
        x = (x - self.low) / (self.high - self.low)
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False,
                              antialias=True)
        return x.reshape(*lead, *x.shape[-3:])
