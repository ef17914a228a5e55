"""Spatial-temporal coherent correlation (STCCL), as a loss: `metric(a, b)`.

VD variant (visual disparity): at sampled centres p of each backbone stage, the disparities
F(p) - F(q) to the 8 neighbours q (no wrap-around: centres are interior), projected by a
per-stage MLP and L2-normalised, are matched between the two streams with PatchNCE: the query
is a disparity of `a`, its positive the same (p, q) disparity of `b`, the negatives the other
disparities of `b` (optionally of the whole batch); keys are detached. Each region's NCE term
is weighted by its correlation-aware weight (harder, larger disparities weigh more), computed
on the query stream.
Temporal (stccl.models.temporal): the features of sampled positions along the window,
optionally encoded per position by a temporal transformer, differenced between frames
(adjacent frames, or every pair i < j as the released code), projected by their own MLPs and
matched with PatchNCE; with every pair, the negatives of a difference are the other positions
of the same frame pair.
CM variant: cosine (Gram) matrices of sampled local features within a frame and between
adjacent frames, compared between the streams with L1.

Shapes: a, b are (B,3,H,W) images or (B,T,3,H,W) windows, RGB in [0,1]. Gradients flow
through `a` only.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import MetricConfig
from .iresnet import CHANNELS, IResNet
from .temporal import TemporalTransformer, frame_pairs, gather_positions, pair_differences, sample_positions

NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))  # (dy, dx)


def sample_centers(h: int, w: int, n: int, generator: torch.Generator | None = None,
                   device=None) -> torch.Tensor:
    """(n', 2) long (y, x) interior positions (1..h-2, 1..w-2), n' = min(n, interior count)."""
    if h < 3 or w < 3:
        raise ValueError(f"feature map {h}x{w} has no interior position")
    count = (h - 2) * (w - 2)
    idx = torch.randperm(count, generator=generator)[: min(n, count)]
    return torch.stack([idx // (w - 2) + 1, idx % (w - 2) + 1], 1).to(device)


def neighbour_disparities(feat: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """feat (B,C,H,W), centers (N,2) interior (y,x) -> (B, N*8, C): F(p) - F(q) per neighbour."""
    h, w = feat.shape[-2:]
    y, x = centers[:, 0], centers[:, 1]
    if (y < 1).any() or (x < 1).any() or (y > h - 2).any() or (x > w - 2).any():
        raise ValueError("centres must be interior so that no neighbour wraps around")
    off = torch.tensor(NEIGHBOURS, device=feat.device)
    qy, qx = y[:, None] + off[:, 0], x[:, None] + off[:, 1]  # (N, 8)
    fp = feat[:, :, y, x].permute(0, 2, 1)[:, :, None]  # (B, N, 1, C)
    fq = feat[:, :, qy, qx].permute(0, 2, 3, 1)  # (B, N, 8, C)
    return (fp - fq).reshape(feat.shape[0], -1, feat.shape[1])


def temporal_disparities(feat: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """feat (B,T,C,H,W) -> (B, (T-1)*N, C): F_t(x) - F_{t+1}(x) for adjacent frames."""
    y, x = centers[:, 0], centers[:, 1]
    f = feat[:, :, :, y, x]  # (B, T, C, N)
    d = f[:, :-1] - f[:, 1:]
    return d.permute(0, 1, 3, 2).reshape(feat.shape[0], -1, feat.shape[2])


def patch_nce(q: torch.Tensor, k: torch.Tensor, tau: float = 0.07,
              batch_negatives: bool = False) -> torch.Tensor:
    """Per-region InfoNCE (B,S): q (B,S,D) queries, k (B,S,D) keys (detached here)."""
    q = F.normalize(q, dim=-1)
    k = F.normalize(k.detach(), dim=-1)
    b, s, _ = q.shape
    if batch_negatives:
        logits = q @ k.reshape(b * s, -1).T / tau  # (B, S, B*S)
        target = torch.arange(b * s, device=q.device).view(b, s)
    else:
        logits = q @ k.transpose(1, 2) / tau  # (B, S, S)
        target = torch.arange(s, device=q.device).expand(b, s)
    return F.cross_entropy(logits.reshape(b * s, -1), target.reshape(-1), reduction="none").view(b, s)


def adaptive_weights(d: torch.Tensor, threshold: float = 0.8) -> torch.Tensor:
    """(B,S,C) disparities -> (B,S) region weights, detached: per element t = sigmoid(|d|) and
    f(t) = 2t^2 where t > threshold, else 1 (the reference's rule); each region's weight is the
    channel mean of f, so it rises smoothly with the share and size of large disparities."""
    t = torch.sigmoid(d.detach().abs())
    return torch.where(t > threshold, 2 * t.square(), torch.ones_like(t)).mean(-1)


def _projector(c: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(c, c), nn.ReLU(inplace=True), nn.Linear(c, c // 4))


class CorrelationMetric(nn.Module):
    """`metric(a, b) -> {"loss": total, "spatial/l": ..., "temporal/l": ...}`."""

    def __init__(self, cfg: MetricConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or MetricConfig()
        self.backbone = IResNet(cfg.depth)
        self.spatial_proj = nn.ModuleList(_projector(c) for c in CHANNELS)
        self.temporal_proj = nn.ModuleList(_projector(c) for c in CHANNELS)
        if cfg.temporal_transformer:
            self.temporal_encoders = nn.ModuleList(
                TemporalTransformer(c, cfg.transformer_dim, cfg.transformer_heads, cfg.transformer_layers)
                for c in CHANNELS)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.backbone(x)

    def forward(self, a: torch.Tensor, b: torch.Tensor,
                generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        if a.shape != b.shape or a.dim() not in (4, 5):
            raise ValueError(f"a and b must both be (B,3,H,W) or (B,T,3,H,W); got {tuple(a.shape)}, {tuple(b.shape)}")
        window = a.dim() == 5
        bsz, t = a.shape[0], (a.shape[1] if window else 1)
        fa = self.features(a.reshape(-1, *a.shape[-3:]))
        with torch.no_grad():
            fb = self.features(b.reshape(-1, *b.shape[-3:]))
        out: dict[str, torch.Tensor] = {}
        total = a.new_zeros(())
        for level, (xa, xb) in enumerate(zip(fa, fb)):
            centers = sample_centers(*xa.shape[-2:], self.cfg.centers[level], generator, xa.device)
            term = self._spatial(level, xa, xb, centers)
            out[f"spatial/{level + 1}"] = term
            total = total + self.cfg.spatial_weight * term
            if window and t > 1:
                va, vb = (x.reshape(bsz, t, *x.shape[1:]) for x in (xa, xb))
                term = self._temporal(level, va, vb, centers, generator)
                out[f"temporal/{level + 1}"] = term
                total = total + self.cfg.temporal_weight * term
        out["loss"] = total
        return out

    def _spatial(self, level: int, xa, xb, centers) -> torch.Tensor:
        if self.cfg.variant == "cm":
            return _gram_l1(_sampled(xa, centers), _sampled(xb, centers))
        da, db = neighbour_disparities(xa, centers), neighbour_disparities(xb, centers)
        return self._nce(self.spatial_proj[level], da, db)

    def _temporal(self, level: int, va, vb, centers, generator) -> torch.Tensor:
        if self.cfg.variant == "cm":
            return _temporal_cos_l1(va, vb, centers)
        if self.cfg.temporal == "all_pairs":
            centers = sample_positions(*va.shape[-2:], self.cfg.temporal_positions[level], generator, va.device)
        fa, fb = gather_positions(va, centers), gather_positions(vb, centers)  # (B,T,N,C)
        if self.cfg.temporal_transformer:
            encoder = self.temporal_encoders[level]
            fa = encoder(fa)
            with torch.no_grad():
                fb = encoder(fb)
        if self.cfg.temporal == "all_pairs":
            pairs = frame_pairs(fa.shape[1]).to(fa.device)
            da, db = pair_differences(fa, pairs), pair_differences(fb, pairs)  # (B*R, N, C)
        else:  # adjacent frames, the differences of a sample flattened together
            da, db = ((f[:, :-1] - f[:, 1:]).flatten(1, 2) for f in (fa, fb))
        return self._nce(self.temporal_proj[level], da, db, self.cfg.adaptive_temporal)

    def _nce(self, proj: nn.Module, da, db, adaptive: bool | None = None) -> torch.Tensor:
        """PatchNCE of the projected query disparities `da` against the keys `db`, each
        region's term weighted by the adaptive weight of its query disparity."""
        nce = patch_nce(proj(da), proj(db), self.cfg.tau, self.cfg.batch_negatives)
        if not (self.cfg.adaptive if adaptive is None else adaptive):
            return nce.mean()
        return (adaptive_weights(da, self.cfg.adaptive_threshold) * nce).mean()

    @torch.no_grad()
    def pos_neg(self, a: torch.Tensor, b: torch.Tensor, generator: torch.Generator | None = None,
                level: int = 3) -> tuple[float, float]:
        """Mean cosine of projected paired disparities (pos) and with shuffled keys (neg)."""
        q, k = self._projected(level, a, b, generator)
        perm = torch.randperm(k.shape[1], generator=generator).to(k.device)
        return float((q * k).sum(-1).mean()), float((q * k[:, perm]).sum(-1).mean())

    @torch.no_grad()
    def diagnostics(self, a: torch.Tensor, b: torch.Tensor,
                    generator: torch.Generator | None = None) -> dict[str, float]:
        """Means over the stages of: `pos` (paired disparities), `neg` (keys shuffled within the
        image), `pos_shuffled` (keys from another pair of the batch, same positions) and
        `gap` = pos - pos_shuffled. a, b: (B,3,H,W) with B >= 2 for `pos_shuffled`."""
        sums = {"pos": 0.0, "neg": 0.0, "pos_shuffled": 0.0}
        fa, fb = self.features(a), self.features(b)
        for level in range(1, len(fa) + 1):
            q, k = self._projected(level, a, b, generator, (fa, fb))
            perm = torch.randperm(k.shape[1], generator=generator).to(k.device)
            sums["pos"] += float((q * k).sum(-1).mean())
            sums["neg"] += float((q * k[:, perm]).sum(-1).mean())
            if k.shape[0] > 1:
                sums["pos_shuffled"] += float((q * k.roll(1, 0)).sum(-1).mean())
        out = {key: v / len(fa) for key, v in sums.items()}
        if a.shape[0] < 2:
            del out["pos_shuffled"]
        else:
            out["gap"] = out["pos"] - out["pos_shuffled"]
        return out

    def _projected(self, level, a, b, generator, feats=None):
        fa, fb = feats or (self.features(a), self.features(b))
        xa, xb = fa[level - 1], fb[level - 1]
        centers = sample_centers(*xa.shape[-2:], self.cfg.centers[level - 1], generator, xa.device)
        proj = self.spatial_proj[level - 1]
        q = F.normalize(proj(neighbour_disparities(xa, centers)), dim=-1)
        k = F.normalize(proj(neighbour_disparities(xb, centers)), dim=-1)
        return q, k


def _sampled(feat: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    return F.normalize(feat[:, :, centers[:, 0], centers[:, 1]].transpose(1, 2), dim=-1)  # (B,N,C)


def _gram_l1(fa: torch.Tensor, fb: torch.Tensor) -> torch.Tensor:
    return (fa @ fa.transpose(1, 2) - (fb @ fb.transpose(1, 2)).detach()).abs().mean()


def _temporal_cos_l1(va: torch.Tensor, vb: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    def cos(v):
        f = F.normalize(v[:, :, :, centers[:, 0], centers[:, 1]], dim=2)  # (B,T,C,N)
        return (f[:, :-1] * f[:, 1:]).sum(2)  # (B,T-1,N)

    return (cos(va) - cos(vb).detach()).abs().mean()
