"""The metric that `stccl inspect` looks through: loading it (or a seeded untrained one), its
stage-L feature maps of face crops, and how big and what those maps are."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from ..models.correlation import CorrelationMetric, MetricConfig
from ..models.iresnet import CHANNELS

BATCH = 16


def load_inspect_metric(metric_path: str | Path | None, device: str = "cpu"):
    """(metric, cfg, label, untrained, window): window is the one it was trained on, when known.
    Without a path: IResNet-18 at 128 px, random (seed 0)."""
    if metric_path is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            cfg = MetricConfig(depth=18, size=128)
            metric = CorrelationMetric(cfg)
        label = (f"UNTRAINED metric (random weights): IResNet-{cfg.depth}, size {cfg.size}, seed 0; "
                 "the patterns come from the architecture, not from training")
        return metric.to(device).eval(), cfg, label, True, None
    from ..models.io import load_metric, trained_window

    metric, cfg, meta = load_metric(metric_path, device)
    steps = int(meta.get("steps", 0))
    if steps == 0:
        label = (f"UNTRAINED metric (random weights): {metric_path} has seen 0 training steps "
                 f"(IResNet-{cfg.depth}, size {cfg.size}, variant {cfg.variant})")
        return metric, cfg, label, True, trained_window(meta)
    label = (f"metric: {metric_path} ({steps} steps, IResNet-{cfg.depth}, size {cfg.size}, "
             f"variant {cfg.variant})")
    return metric, cfg, label, False, trained_window(meta)


def _to_tensor(crops: list[np.ndarray], size: int, device) -> torch.Tensor:
    """RGB uint8 crops -> (B,3,size,size) float in [0,1], resized as training does (INTER_AREA)."""
    out = []
    for c in crops:
        if c.shape[0] != size:
            interp = cv2.INTER_AREA if c.shape[0] > size else cv2.INTER_LINEAR
            c = cv2.resize(c, (size, size), interpolation=interp)
        out.append(c)
    x = torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float().div_(255.0)
    return x.to(device)


@torch.no_grad()
def stage_features(metric: CorrelationMetric, crops: list[np.ndarray], stage: int,
                   device) -> torch.Tensor:
    """(B, C, h, w) stage-`stage` feature maps of RGB uint8 crops."""
    feats = []
    for i in range(0, len(crops), BATCH):
        x = _to_tensor(crops[i:i + BATCH], metric.cfg.size, device)
        feats.append(metric.features(x)[stage - 1].float())
    return torch.cat(feats)


def map_size(size: int, stage: int) -> tuple[int, int]:
    """(h, w) of the stage-`stage` feature map of a size x size input."""
    s = size
    for _ in range(stage):
        s = (s - 1) // 2 + 1  # 3x3 stride-2 conv, padding 1
    return s, s


def stage_text(stage: int, grid: tuple[int, int], cfg: MetricConfig) -> str:
    """One line for the picture: which stage, how big its map is, what one cell covers."""
    return (f"stage {stage} of IResNet-{cfg.depth} at {cfg.size} px: a {grid[0]}x{grid[1]} feature map, "
            f"{CHANNELS[stage - 1]} channels (1 cell = {cfg.size // grid[0]} model px)")
