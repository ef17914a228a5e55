"""The maps of `stccl inspect`: pure tensor functions, vectorised through the correlation
metric's own disparity functions (stccl.models.correlation)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import InputError
from ..models.correlation import (
    CorrelationMetric,
    adaptive_weights,
    neighbour_disparities,
    temporal_disparities,
)


def interior_centers(h: int, w: int, device=None) -> torch.Tensor:
    """(N, 2) long (y, x) of every interior position, row-major: N = (h-2)*(w-2)."""
    if h < 3 or w < 3:
        raise InputError(f"a {h}x{w} feature map has no interior position; pick a lower --stage")
    ys, xs = torch.meshgrid(torch.arange(1, h - 1), torch.arange(1, w - 1), indexing="ij")
    return torch.stack([ys.reshape(-1), xs.reshape(-1)], 1).to(device)


def _neighbours(feat: torch.Tensor) -> torch.Tensor:
    """(B,C,h,w) -> (B, h-2, w-2, 8, C): F(p) - F(q) for every interior p and neighbour q."""
    b, c, h, w = feat.shape
    d = neighbour_disparities(feat, interior_centers(h, w, feat.device))
    return d.view(b, h - 2, w - 2, 8, c)


@torch.no_grad()
def disparity_map(feat: torch.Tensor) -> torch.Tensor:
    """(B,C,h,w) -> (B, h-2, w-2): mean over the 8 neighbours q of ||F(p) - F(q)||."""
    return _neighbours(feat).norm(dim=-1).mean(-1)


@torch.no_grad()
def weight_map(feat: torch.Tensor, threshold: float = 0.8) -> torch.Tensor:
    """(B,C,h,w) -> (B, h-2, w-2): the metric's adaptive weights, mean over the 8 neighbours."""
    d = _neighbours(feat)
    b, hh, ww, k, c = d.shape
    return adaptive_weights(d.reshape(b, -1, c), threshold).view(b, hh, ww, k).mean(-1)


@torch.no_grad()
def match_map(metric: CorrelationMetric, fa: torch.Tensor, fb: torch.Tensor,
              stage: int) -> torch.Tensor:
    """(B, h-2, w-2): how well a's local correlations match b's, mean over the 8 neighbours.

    VD: cosine of the projected (spatial_proj[stage-1]), L2-normalised disparities (1 = same).
    CM: 1 - |cos_a(p,q) - cos_b(p,q)| of the normalised features (1 = same cosines).
    """
    if metric.cfg.variant == "cm":
        def cos(f):
            return 1 - _neighbours(F.normalize(f, dim=1)).square().sum(-1) / 2
        return (1 - (cos(fa) - cos(fb)).abs()).mean(-1)
    proj = metric.spatial_proj[stage - 1]
    q = F.normalize(proj(_neighbours(fa)), dim=-1)
    k = F.normalize(proj(_neighbours(fb)), dim=-1)
    return (q * k).sum(-1).mean(-1)


@torch.no_grad()
def temporal_map(feats: torch.Tensor) -> torch.Tensor:
    """(T,C,h,w) frames of one stream -> (T-1, h, w): ||F_t(x) - F_t+1(x)|| at every x."""
    t, c, h, w = feats.shape
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    centers = torch.stack([ys.reshape(-1), xs.reshape(-1)], 1).to(feats.device)
    d = temporal_disparities(feats[None], centers)  # (1, (T-1)*h*w, C)
    return d.norm(dim=-1).view(t - 1, h, w)
