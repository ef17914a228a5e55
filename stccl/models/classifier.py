"""The emotion classifier that evaluation uses to score edits (never a training signal).

`EmotionClassifier(x) -> (B,E)` logits over stccl.emotions.EMOTIONS, for x (B,3,S,S) RGB in [0,1].
"""

from __future__ import annotations

import torch
from torch import nn

from .config import ClassifierConfig
from .generator import MEAN


class EmotionClassifier(nn.Module):
    """A small CNN (4 stride-2 stages, BatchNorm) with global pooling; any crop size is resized."""

    def __init__(self, cfg: ClassifierConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or ClassifierConfig()
        layers, c_in = [], 3
        for i in range(4):
            c_out = cfg.base_channels * 2 ** i
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out),
                       nn.ReLU(inplace=True), nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
                       nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
            c_in = c_out
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(c_in, cfg.n_emotions))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.cfg.size or x.shape[-2] != self.cfg.size:
            x = nn.functional.interpolate(x, size=(self.cfg.size, self.cfg.size), mode="bilinear",
                                          align_corners=False, antialias=True)
        return self.head(self.body(x - MEAN).mean((2, 3)))
