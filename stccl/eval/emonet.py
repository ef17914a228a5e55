"""Expression similarity (the papers' "CSIM"): cosine of EmoNet expression features.

EmoNet (Toisoul, Kossaifi, Bulat, Tzimiropoulos, Pantic: "Estimation of continuous valence and
arousal levels from faces in naturalistic conditions", Nature Machine Intelligence 2021; code
and weights at github.com/face-analysis/emonet, ``pretrained/emonet_8.pth`` or ``emonet_5.pth``,
research licence) is a 2-stack FAN hourglass whose features and landmark heatmaps feed an
emotion branch. The feature used here is that branch's 256-d pooled vector, the input of its
final classifier (``emo_fc_2``): the same feature EMOCA uses for its emotion-consistency loss.

This module rebuilds the network with the checkpoint's key names (every norm layer is a
BatchNorm2d, as in the reference, where ``InstanceNorm2d`` is aliased to it). Input: a face
crop resized to 256x256, RGB in [0,1]. The number of expression classes (5 or 8) is read
from the checkpoint.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .weights import WeightedNet


class ConvBlock(nn.Module):
    """FAN's multi-scale residual block: three 3x3 convs whose outputs are concatenated."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout // 2, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout // 2)
        self.conv2 = nn.Conv2d(cout // 2, cout // 4, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout // 4)
        self.conv3 = nn.Conv2d(cout // 4, cout // 4, 3, padding=1, bias=False)
        self.downsample = None
        if cin != cout:
            self.downsample = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(True),
                                            nn.Conv2d(cin, cout, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o1 = self.conv1(F.relu(self.bn1(x)))
        o2 = self.conv2(F.relu(self.bn2(o1)))
        o3 = self.conv3(F.relu(self.bn3(o2)))
        short = x if self.downsample is None else self.downsample(x)
        return torch.cat([o1, o2, o3], 1) + short


class HourGlass(nn.Module):
    def __init__(self, depth: int = 4, c: int = 256):
        super().__init__()
        self.depth = depth
        for level in range(depth, 0, -1):
            self.add_module(f"b1_{level}", ConvBlock(c, c))
            self.add_module(f"b2_{level}", ConvBlock(c, c))
            self.add_module(f"b3_{level}", ConvBlock(c, c))
        self.add_module("b2_plus_1", ConvBlock(c, c))

    def _level(self, level: int, x: torch.Tensor) -> torch.Tensor:
        up = self._modules[f"b1_{level}"](x)
        low = self._modules[f"b2_{level}"](F.max_pool2d(x, 2, stride=2))
        low = self._level(level - 1, low) if level > 1 else self._modules["b2_plus_1"](low)
        low = self._modules[f"b3_{level}"](low)
        return up + F.interpolate(low, scale_factor=2, mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._level(self.depth, x)


class EmoNet(nn.Module):
    """x (B,3,256,256) RGB in [0,1] -> features (B,256); `logits` gives (B, n_expression + 2)."""

    def __init__(self, n_expression: int = 8, n_stacks: int = 2, n_blocks: int = 4):
        super().__init__()
        self.n_stacks = n_stacks
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = ConvBlock(64, 128)
        self.conv3 = ConvBlock(128, 128)
        self.conv4 = ConvBlock(128, 256)
        for i in range(n_stacks):
            self.add_module(f"m{i}", HourGlass(4, 256))
            self.add_module(f"top_m_{i}", ConvBlock(256, 256))
            self.add_module(f"conv_last{i}", nn.Conv2d(256, 256, 1))
            self.add_module(f"bn_end{i}", nn.BatchNorm2d(256))
            self.add_module(f"l{i}", nn.Conv2d(256, 68, 1))
            if i < n_stacks - 1:
                self.add_module(f"bl{i}", nn.Conv2d(256, 256, 1))
                self.add_module(f"al{i}", nn.Conv2d(68, 256, 1))
        self.conv1x1_input_emo_2 = nn.Conv2d(256 * (n_stacks + 1), 256, 1)
        blocks: list[nn.Module] = []
        for _ in range(n_blocks):
            blocks += [ConvBlock(256, 256), nn.MaxPool2d(2, 2)]
        self.emo_net_2 = nn.Sequential(*blocks)
        self.emo_fc_2 = nn.Sequential(nn.Linear(256, 128), nn.BatchNorm1d(128), nn.ReLU(True),
                                      nn.Linear(128, n_expression + 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1:] != (3, 256, 256):
            raise ValueError(f"EmoNet expects (B,3,256,256), got {tuple(x.shape)}")
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.conv4(self.conv3(F.max_pool2d(self.conv2(x), 2, stride=2)))
        previous, feats, heat = x, [], None
        for i in range(self.n_stacks):
            ll = self._modules[f"top_m_{i}"](self._modules[f"m{i}"](previous))
            ll = F.relu(self._modules[f"bn_end{i}"](self._modules[f"conv_last{i}"](ll)))
            heat = self._modules[f"l{i}"](ll)
            if i < self.n_stacks - 1:
                ll = self._modules[f"bl{i}"](ll)
                previous = previous + ll + self._modules[f"al{i}"](heat)
            feats.append(ll)
        attended = torch.cat(feats, 1) * heat.sum(1, keepdim=True)  # heatmap attention
        h = self.emo_net_2(self.conv1x1_input_emo_2(torch.cat([x, attended], 1)))
        return F.avg_pool2d(h, 4).flatten(1)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.emo_fc_2(self(x))


def n_expression_of(state: dict[str, torch.Tensor]) -> int:
    w = state.get("emo_fc_2.3.weight")
    return int(w.shape[0]) - 2 if w is not None else 8


class ExpressionModel(WeightedNet):
    """Per-frame 256-d emotion features of EmoNet (face-analysis/emonet) from aligned crops."""

    def inputs(self, crops: np.ndarray, lmks: np.ndarray) -> np.ndarray:
        if crops.shape[1:3] == (256, 256):
            return crops
        return np.stack([cv2.resize(c, (256, 256), interpolation=cv2.INTER_AREA
                                    if c.shape[0] > 256 else cv2.INTER_LINEAR) for c in crops])
