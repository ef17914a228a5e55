"""Thin-plate splines in torch, batched: solve for control points, evaluate anywhere.

f(x) = a0 + A x + sum_i w_i U(|x - c_i|), U(r) = r^2 log r, with f(c_i) = v_i. The kernels sit
on the control points (the standard interpolant); coordinates should be normalised (~[-1, 1]).
"""

from __future__ import annotations

import torch


def _kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """U between every point of a (B,M,2) and b (B,N,2): (B,M,N), via one matmul."""
    r2 = a.square().sum(-1, keepdim=True) + b.square().sum(-1).unsqueeze(-2)
    r2.baddbmm_(a, b.transpose(1, 2), alpha=-2.0).clamp_(min=1e-12)
    return r2.log().mul_(r2).mul_(0.5)


def tps_fit(centers: torch.Tensor, values: torch.Tensor, reg: float = 0.0):
    """centers (B,N,2), values (B,N,D) -> (weights (B,N,D), affine (B,3,D))."""
    b, n, _ = centers.shape
    k = _kernel(centers, centers)
    if reg:
        k = k + reg * torch.eye(n, dtype=k.dtype, device=k.device)
    p = torch.cat([torch.ones(b, n, 1, dtype=centers.dtype, device=centers.device), centers], -1)
    top = torch.cat([k, p], -1)
    bottom = torch.cat([p.transpose(1, 2), torch.zeros(b, 3, 3, dtype=k.dtype, device=k.device)], -1)
    rhs = torch.cat([values, torch.zeros(b, 3, values.shape[-1], dtype=values.dtype, device=values.device)], 1)
    sol = torch.linalg.solve(torch.cat([top, bottom], 1), rhs)
    return sol[:, :n], sol[:, n:]


def tps_eval(points: torch.Tensor, centers: torch.Tensor, weights: torch.Tensor,
             affine: torch.Tensor) -> torch.Tensor:
    """points (B,M,2) -> (B,M,D)."""
    p = torch.cat([torch.ones_like(points[..., :1]), points], -1)
    return p @ affine + _kernel(points, centers) @ weights
