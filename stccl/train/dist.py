"""torch.distributed under torchrun: gloo on CPU, nccl on CUDA. Without torchrun: one process."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init(device: torch.device) -> DistInfo:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def local_device(device: torch.device, info: DistInfo) -> torch.device:
    if device.type == "cuda" and info.world > 1:
        torch.cuda.set_device(info.local_rank)
        return torch.device("cuda", info.local_rank)
    return device


def broadcast_module(module: torch.nn.Module, info: DistInfo) -> None:
    """Start every process from rank 0's parameters and buffers."""
    if info.world > 1:
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, 0)


def average_gradients(params: list[torch.nn.Parameter], info: DistInfo) -> None:
    """Average the gradients over the processes: one all-reduce of one flat buffer."""
    if info.world <= 1:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= info.world
    at = 0
    for g in grads:
        g.copy_(flat[at:at + g.numel()].view_as(g))
        at += g.numel()


def any_true(flag: bool, device: torch.device, info: DistInfo) -> bool:
    """True on every process when `flag` is true on any of them."""
    if info.world <= 1:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t)
    return bool(t.item() > 0)


def mean(values: dict[str, float], device: torch.device, info: DistInfo) -> dict[str, float]:
    if info.world <= 1 or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], device=device, dtype=torch.float64)
    dist.all_reduce(t)
    return {k: float(v) / info.world for k, v in zip(keys, t.tolist())}


def barrier(info: DistInfo) -> None:
    if info.world > 1:
        dist.barrier()


def shutdown(info: DistInfo) -> None:
    if info.world > 1 and dist.is_initialized():
        dist.destroy_process_group()
