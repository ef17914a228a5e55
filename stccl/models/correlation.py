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
CM variant: correlation (cosine Gram) matrices of the sampled local features within a frame,
and of the temporal differences, contrasted row by row between the streams with PatchNCE (a
position's row is its correlation profile; the other rows are the negatives), so that neither
parallel nor orthogonal features can bring the loss to zero.

Shapes: a, b are (B,3,H,W) images or (B,T,3,H,W) windows, RGB in [0,1]. Gradients flow
through `a` only.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import MetricConfig
from .iresnet import CHANNELS, IResNet
from .temporal import TemporalTransformer, frame_pairs, gather_positions, pair_differences, sample_positions

ROW_EPS = 0.05  # the shortest correlation row (or temporal difference) scaled to unit length
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
              batch_negatives: bool = False, extra: torch.Tensor | None = None,
              normalize: bool = True) -> torch.Tensor:
    """Per-region InfoNCE (B,S): q (B,S,D) queries, k (B,S,D) keys (detached here); the
    positive of query s is key s, the negatives the other keys (of the whole batch with
    `batch_negatives`) and, when given, `extra` (B,E,D) more negatives per group. With
    `normalize=False` the vectors are used as given (CM's rows, at most unit length)."""
    unit = (lambda v: F.normalize(v, dim=-1)) if normalize else (lambda v: v)  # noqa: E731
    q = unit(q)
    k = unit(k.detach())
    b, s, _ = q.shape
    keys = k if extra is None else torch.cat([k, unit(extra.detach())], 1)
    n = keys.shape[1]
    if batch_negatives:
        logits = q @ keys.reshape(b * n, -1).T / tau  # (B, S, B*n)
        target = (torch.arange(b, device=q.device)[:, None] * n + torch.arange(s, device=q.device)).view(b, s)
    else:
        logits = q @ keys.transpose(1, 2) / tau  # (B, S, n)
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
        if cfg.temporal_head == "own":
            self.temporal_proj = nn.ModuleList(_projector(c) for c in CHANNELS)
        if cfg.temporal_transformer:
            self.temporal_encoders = nn.ModuleList(
                TemporalTransformer(c, cfg.transformer_dim, cfg.transformer_heads, cfg.transformer_layers)
                for c in CHANNELS)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.backbone(x)

    def forward(self, a: torch.Tensor, b: torch.Tensor, generator: torch.Generator | None = None,
                negatives: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """`negatives` (B,K,3,H,W): frames of b's take at other moments (hard negatives in time)
        whose disparities join the spatial term's negatives of every frame of the sample."""
        if a.shape != b.shape or a.dim() not in (4, 5):
            raise ValueError(f"a and b must both be (B,3,H,W) or (B,T,3,H,W); got {tuple(a.shape)}, {tuple(b.shape)}")
        window = a.dim() == 5
        bsz, t = a.shape[0], (a.shape[1] if window else 1)
        fa = self.features(a.reshape(-1, *a.shape[-3:]))
        with torch.no_grad():
            fb = self.features(b.reshape(-1, *b.shape[-3:]))
            fn = None if negatives is None else self.features(negatives.flatten(0, 1))
        out: dict[str, torch.Tensor] = {}
        total = a.new_zeros(())
        for level, (xa, xb) in enumerate(zip(fa, fb)):
            centers = sample_centers(*xa.shape[-2:], self.cfg.centers[level], generator, xa.device)
            xn = None if fn is None else fn[level].reshape(bsz, -1, *fn[level].shape[1:])  # (B,K,C,h,w)
            term = self._spatial(level, xa, xb, centers, xn, t)
            out[f"spatial/{level + 1}"] = term
            total = total + self.cfg.spatial_weight * term
            if window and t > 1:
                va, vb = (x.reshape(bsz, t, *x.shape[1:]) for x in (xa, xb))
                term = self._temporal(level, va, vb, centers, generator)
                out[f"temporal/{level + 1}"] = term
                total = total + self.cfg.temporal_weight * term
        out["loss"] = total
        return out

    def _spatial(self, level: int, xa, xb, centers, xn=None, t: int = 1) -> torch.Tensor:
        """xa, xb (B*T,C,h,w); xn (B,K,C,h,w) negatives of each sample, shared by its T frames."""
        if self.cfg.variant == "cm":  # contrast each position's correlation row with the other stream's
            if len(centers) < 3:
                return xa.new_zeros(())  # no correlation profile with fewer than 3 positions
            rows_a, rows_b = gram_rows(_sampled(xa, centers)), gram_rows(_sampled(xb, centers))
            extra = None if xn is None else _per_frame(gram_rows(_sampled(xn.flatten(0, 1), centers)), xn, t)
            return patch_nce(rows_a, rows_b, self.cfg.tau, self.cfg.batch_negatives, extra, normalize=False).mean()
        da, db = neighbour_disparities(xa, centers), neighbour_disparities(xb, centers)
        proj = self.spatial_proj[level]
        extra = None if xn is None else _per_frame(proj(neighbour_disparities(xn.flatten(0, 1), centers)), xn, t)
        return self._nce(proj, da, db, extra=extra)

    def _temporal(self, level: int, va, vb, centers, generator) -> torch.Tensor:
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
        if self.cfg.variant == "cm":  # correlation rows of the temporal differences
            rows_a, rows_b = (gram_rows(F.normalize(d, dim=-1, eps=ROW_EPS)) for d in (da, db))
            return patch_nce(rows_a, rows_b, self.cfg.tau, self.cfg.batch_negatives, normalize=False).mean()
        head = self.temporal_proj if self.cfg.temporal_head == "own" else self.spatial_proj
        return self._nce(head[level], da, db, self.cfg.adaptive_temporal)

    def _nce(self, proj: nn.Module, da, db, adaptive: bool | None = None, extra=None) -> torch.Tensor:
        """PatchNCE of the projected query disparities `da` against the keys `db` (and the
        projected `extra` negatives), each region's term weighted by the adaptive weight of its
        query disparity."""
        nce = patch_nce(proj(da), proj(db), self.cfg.tau, self.cfg.batch_negatives, extra)
        if not (self.cfg.adaptive if adaptive is None else adaptive):
            return nce.mean()
        return (adaptive_weights(da, self.cfg.adaptive_threshold) * nce).mean()

    @torch.no_grad()
    def frame_embedding(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(N,3,H,W) frames -> (N,E) with e_i . e_j = the metric's similarity of frames i and j:
        the mean over stages and regions of the cosine between their projected disparities
        (VD) or their correlation-matrix rows (CM), at positions drawn from `generator` (seed
        it the same for every call that is to be compared)."""
        feats = self.features(x)
        parts = []
        for level, f in enumerate(feats):
            centers = sample_centers(*f.shape[-2:], self.cfg.centers[level], generator, f.device)
            if self.cfg.variant == "cm":
                v = gram_rows(_sampled(f, centers))
            else:
                v = F.normalize(self.spatial_proj[level](neighbour_disparities(f, centers)), dim=-1)
            parts.append(v.flatten(1) / math.sqrt(v.shape[1] * len(feats)))
        return torch.cat(parts, 1)


def _per_frame(v: torch.Tensor, xn: torch.Tensor, t: int) -> torch.Tensor:
    """(B*K,S,D) values of each sample's K negative frames -> (B*T,K*S,D), repeated per frame."""
    b, k = xn.shape[:2]
    return v.reshape(b, k * v.shape[1], v.shape[2]).repeat_interleave(t, 0)


def _sampled(feat: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    return F.normalize(feat[:, :, centers[:, 0], centers[:, 1]].transpose(1, 2), dim=-1)  # (B,N,C)


def gram_rows(f: torch.Tensor) -> torch.Tensor:
    """(B,N,C) unit features -> (B,N,N): row r is position r's cosines to the other positions,
    centred over them (its own entry set to 0), L2-normalised. Parallel features (all cosines
    equal) and orthogonal ones (all zero) both give zero rows, so neither lets a contrast over
    rows fall below log(N). Needs N >= 3: with two positions each row is one centred entry, 0."""
    n = f.shape[1]
    off = 1 - torch.eye(n, device=f.device, dtype=f.dtype)
    g = (f @ f.transpose(1, 2)) * off
    g = (g - g.sum(-1, keepdim=True) / max(n - 1, 1)) * off
    # a row shorter than ROW_EPS stays short instead of being blown up to unit length: a nearly
    # degenerate set's rows are mostly rounding noise, and 1/||row|| gradients overflow
    return F.normalize(g, dim=-1, eps=ROW_EPS)
