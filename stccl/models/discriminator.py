"""The generator's critics: a PatchGAN discriminator with an emotion head (StarGAN-style), and
a separate emotion classifier used only by evaluation.

x (B,3,S,S) RGB in [0,1]. `Discriminator(x) -> (patch logits (B,1,S/2^n,S/2^n), emotion logits (B,E))`;
`EmotionClassifier(x) -> (B,E)` logits over stccl.edit.engine.EMOTIONS.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from .generator import MEAN


@dataclass
class DiscriminatorConfig:
    size: int = 256
    base_channels: int = 32
    n_layers: int = 4  # stride-2 stages: patch grid = size / 2^n_layers
    n_emotions: int = 8


class Discriminator(nn.Module):
    def __init__(self, cfg: DiscriminatorConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or DiscriminatorConfig()
        layers, c_in = [], 3
        for i in range(cfg.n_layers):
            c_out = cfg.base_channels * 2 ** min(i, 3)
            layers += [spectral_norm(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
            c_in = c_out
        self.body = nn.Sequential(*layers)
        self.patch = spectral_norm(nn.Conv2d(c_in, 1, 3, padding=1))
        self.emotion = nn.Linear(c_in, cfg.n_emotions)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x - MEAN)
        return self.patch(h), self.emotion(h.mean((2, 3)))


@dataclass
class ClassifierConfig:
    size: int = 128  # crops are resized to this
    base_channels: int = 32
    n_emotions: int = 8


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
