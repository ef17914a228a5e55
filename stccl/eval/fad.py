"""FAD: the Fréchet distance between ArcFace ResNet-18 features of real and generated faces.

This follows NED's protocol: 512-d features of the face-recognition ResNet-18 of
ronghuaiyang/arcface-pytorch (``resnet_face18``, grayscale input, weights ``resnet18_110.pth``),
each face converted to grayscale, resized to 164 px, centre-cropped to 128 px and scaled to
[-1, 1]. The Fréchet distance is computed in float64 numpy (no scipy):

    d² = |mu1 - mu2|² + Tr(S1 + S2 - 2 (S1^½ S2 S1^½)^½)

where Tr((S1 S2)^½) = Tr((S1^½ S2 S1^½)^½) is taken from the eigenvalues of a symmetric
matrix, which is stable even when the covariances are singular (fewer frames than dimensions).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn as nn

from .weights import WeightedNet


class SEBlock(nn.Module):
    def __init__(self, c: int, reduction: int = 16):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(c, c // reduction), nn.PReLU(),
                                nn.Linear(c // reduction, c), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(x.mean((2, 3)))[:, :, None, None]


class IRBlock(nn.Module):
    """BN -> conv3x3 -> BN -> PReLU -> conv3x3(stride) -> BN [-> SE] (+ shortcut) -> PReLU."""

    def __init__(self, cin: int, cout: int, stride: int = 1, use_se: bool = False):
        super().__init__()
        self.bn0 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cin, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cin)
        self.prelu = nn.PReLU()
        self.conv2 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.se = SEBlock(cout) if use_se else None
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.prelu(self.bn1(self.conv1(self.bn0(x))))))
        if self.se is not None:
            out = self.se(out)
        short = x if self.downsample is None else self.downsample(x)
        return self.prelu(out + short)


class ResNetFace18(nn.Module):
    """x (B,1,128,128) grayscale in [-1,1] -> (B,512) features (arcface-pytorch ``resnet_face18``)."""

    def __init__(self, use_se: bool = False):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 64, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.prelu = nn.PReLU()
        self.maxpool = nn.MaxPool2d(2, 2)
        cin = 64
        for i, (cout, stride) in enumerate([(64, 1), (128, 2), (256, 2), (512, 2)], start=1):
            setattr(self, f"layer{i}", nn.Sequential(IRBlock(cin, cout, stride, use_se),
                                                     IRBlock(cout, cout, 1, use_se)))
            cin = cout
        self.bn4 = nn.BatchNorm2d(512)
        self.dropout = nn.Dropout()
        self.fc5 = nn.Linear(512 * 8 * 8, 512)
        self.bn5 = nn.BatchNorm1d(512)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1:] != (1, 128, 128):
            raise ValueError(f"resnet_face18 expects (B,1,128,128), got {tuple(x.shape)}")
        x = self.maxpool(self.prelu(self.bn1(self.conv1(x))))
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        x = self.dropout(self.bn4(x))
        return self.bn5(self.fc5(torch.flatten(x, 1)))


def fad_input(crop: np.ndarray) -> np.ndarray:
    """(S,S,3) uint8 RGB face crop -> (128,128) float32 in [-1,1]: gray, resize 164, centre crop 128."""
    gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    h, w = gray.shape
    s = 164 / min(h, w)
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    gray = cv2.resize(gray, (max(164, round(w * s)), max(164, round(h * s))), interpolation=interp)
    y0, x0 = (gray.shape[0] - 128) // 2, (gray.shape[1] - 128) // 2
    return gray[y0:y0 + 128, x0:x0 + 128].astype(np.float32) / 127.5 - 1.0


class FadModel(WeightedNet):
    """Per-frame 512-d features for FAD (arcface-pytorch resnet_face18) from aligned crops."""

    def inputs(self, crops: np.ndarray, lmks: np.ndarray) -> np.ndarray:
        return np.stack([fad_input(c) for c in crops])[:, None]


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to feature sets a (N,D) and b (M,D); N, M >= 2."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or len(a) < 2 or len(b) < 2:
        raise ValueError(f"need two (N>=2, D) feature sets of the same D, got {a.shape} and {b.shape}")
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = root1 @ s2 @ root1
    tr_cross = np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2), 0, None)).sum()
    d = float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_cross)
    return max(d, 0.0)
