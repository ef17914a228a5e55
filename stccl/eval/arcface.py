"""Identity: ArcFace IResNet-50 embeddings (insightface key layout) on 112x112 aligned faces.

The network is this package's IResNet (stccl.models.iresnet) with insightface's recognition
head: bn2 (BatchNorm2d 512) -> flatten -> dropout -> fc (25088 -> 512) -> features
(BatchNorm1d 512). So insightface's ``arcface_torch`` IResNet-50 checkpoints (e.g. the
``backbone.pth`` of ms1mv3_arcface_r50_fp16 or glint360k_cosface_r50_fp16_0.1) load as they are.

Faces are aligned as insightface does: a similarity transform puts five points (eye centres,
nose tip, mouth corners; here taken from the 68 landmarks) on its 112x112 template.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn as nn

from ..face.align import fit_similarity
from ..models.iresnet import IResNet
from .weights import WeightedNet

# insightface's five-point template for 112x112 crops (arcface_dst), in pixels
TEMPLATE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                         [41.5493, 92.3655], [70.7299, 92.2041]])


def five_points(lmk68: np.ndarray) -> np.ndarray:
    """(68, 2) iBUG landmarks -> (5, 2): left eye, right eye, nose tip, left and right mouth corner."""
    lmk = np.asarray(lmk68, np.float64)
    return np.stack([lmk[36:42].mean(0), lmk[42:48].mean(0), lmk[30], lmk[48], lmk[54]])


def align_112(image: np.ndarray, lmk68: np.ndarray) -> np.ndarray:
    """(112, 112, 3) uint8 RGB face, aligned as insightface aligns its recognition inputs."""
    M = fit_similarity(five_points(lmk68), TEMPLATE_112)
    return cv2.warpAffine(image, M, (112, 112), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


class ArcFaceR50(IResNet):
    """x (B,3,112,112) RGB in [0,1] -> (B,512) identity embeddings (not normalised)."""

    def __init__(self, depth: int = 50):
        super().__init__(depth)
        self.bn2 = nn.BatchNorm2d(512, eps=1e-5)
        self.dropout = nn.Dropout(0.0)
        self.fc = nn.Linear(512 * 7 * 7, 512)
        self.features = nn.BatchNorm1d(512, eps=1e-5)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (112, 112):
            raise ValueError(f"ArcFace expects (B,3,112,112) crops, got {tuple(x.shape)}")
        f = super().forward(x)[-1]
        return self.features(self.fc(self.dropout(torch.flatten(self.bn2(f), 1))))


class IdentityModel(WeightedNet):
    """Per-frame ArcFace IResNet-50 embeddings (insightface layout) from crops + crop landmarks."""

    def inputs(self, crops: np.ndarray, lmks: np.ndarray) -> np.ndarray:
        return np.stack([align_112(c, lm) for c, lm in zip(crops, lmks)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.embed(x)
