"""The metric's temporal branch: features of sampled positions along a T-frame window.

- `TemporalTransformer` encodes each sampled position's T features as one sequence (the
  released STCCL's temporal transformer, `model/base_model.py:266-314`, with `d_model` =
  feed-forward width, 8 heads, 4 layers, dropout 0.1, sinusoidal positions; here a registered
  module run per position, see docs/metric.md for how it departs from the reference).
- `frame_pairs` / `pair_differences`: F_i(x) - F_j(x) for every frame pair i < j of the
  window (ATCCL's `compute_time_differences`, `model/temproal_coherent_model.py:134-158`), or
  for adjacent frames only.

Shapes: features of one stage at N sampled positions are (B, T, N, C).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn


def frame_pairs(t: int, mode: str = "all_pairs") -> torch.Tensor:
    """(R, 2) long frame index pairs (i, j), i < j: every pair (R = T(T-1)/2) or adjacent ones."""
    if mode == "adjacent":
        return torch.stack([torch.arange(t - 1), torch.arange(1, t)], 1)
    i, j = torch.triu_indices(t, t, offset=1)
    return torch.stack([i, j], 1)


def pair_differences(f: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    """f (B,T,N,C), pairs (R,2) -> (B*R, N, C): F_i - F_j per pair, one group per (b, pair)."""
    b, _, n, c = f.shape
    d = f[:, pairs[:, 0]] - f[:, pairs[:, 1]]  # (B, R, N, C)
    return d.reshape(b * len(pairs), n, c)


def sample_positions(h: int, w: int, n: int, generator: torch.Generator | None = None,
                     device=None) -> torch.Tensor:
    """(n', 2) long (y, x) positions drawn without replacement from the whole map, n' = min(n, h*w)."""
    idx = torch.randperm(h * w, generator=generator)[: min(n, h * w)]
    return torch.stack([idx // w, idx % w], 1).to(device)


def gather_positions(v: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """v (B,T,C,H,W), positions (N,2) -> (B,T,N,C)."""
    return v[:, :, :, positions[:, 0], positions[:, 1]].transpose(2, 3)


def sinusoid(length: int, dim: int) -> torch.Tensor:
    """(length, dim) sinusoidal position codes (Vaswani et al.), as the reference's PositionalEncoding."""
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div[: dim // 2])
    return pe


class TemporalTransformer(nn.Module):
    """(B,T,N,C) -> (B,T,N,C): each of the N positions' T features is one sequence, embedded
    to `dim`, given sinusoidal frame positions, encoded and projected back to C channels."""

    def __init__(self, channels: int, dim: int = 512, heads: int = 8, layers: int = 4,
                 dropout: float = 0.1, max_frames: int = 64):
        super().__init__()
        self.embed = nn.Linear(channels, dim)
        self.register_buffer("positions", sinusoid(max_frames, dim), persistent=False)
        self.dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=dim, dropout=dropout,
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.out = nn.Linear(dim, channels)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        b, t, n, c = f.shape
        if t > len(self.positions):
            raise ValueError(f"window of {t} frames, more than the {len(self.positions)} this encoder knows")
        seq = f.transpose(1, 2).reshape(b * n, t, c)  # one sequence per (sample, position)
        h = self.dropout(self.embed(seq) + self.positions[:t])
        h = self.out(self.encoder(h))
        return h.reshape(b, n, t, c).transpose(1, 2)
