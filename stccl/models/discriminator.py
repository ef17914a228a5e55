"""The generator's critic: a PatchGAN discriminator with an emotion head (StarGAN-style).

x (B,3,S,S) RGB in [0,1]. `Discriminator(x) -> (patch logits (B,1,S/2^n,S/2^n), emotion logits (B,E))`.
The separate emotion classifier that evaluation uses is in stccl.models.classifier.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from .config import DiscriminatorConfig
from .generator import MEAN


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
