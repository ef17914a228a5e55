"""Loading user-given third-party weights into this package's model definitions.

Files are read by stccl.models.io.read_state_dict (safetensors, or ``torch.load(weights_only=True)``;
nothing is unpickled; wrappers and a ``module.`` prefix are undone). Keys must then match the model exactly, except BatchNorm ``num_batches_tracked`` counters, which
old checkpoints lack. A mismatch raises WeightsError naming the missing, unexpected and
wrong-shaped keys.

`WeightedNet` is what every third-party scoring model (ArcFace, ArcFace ResNet-18, EmoNet)
builds on: it loads the network from such a file and runs it on batches of aligned crops.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..errors import WeightsError
from ..models.io import fit_problems, read_state_dict

SKIPPED = "not given: skipped"


def key_report(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    """What keeps `state` from loading into `model` strictly (BatchNorm counters may be
    missing), counted, the first of each named; empty when it fits."""
    return fit_problems(model.state_dict(), state, optional=lambda k: k.endswith("num_batches_tracked"))


def load_into(model: torch.nn.Module, path: str | Path, what: str,
              state: dict[str, torch.Tensor] | None = None) -> torch.nn.Module:
    """Load `path` into `model` (eval mode, float32); WeightsError with a key report on mismatch."""
    state = read_state_dict(path) if state is None else state
    problems = key_report(model, state)
    if problems:
        raise WeightsError(f"{path} does not fit {what}: {'; '.join(problems)}")
    model.load_state_dict(state, strict=False)  # only num_batches_tracked may be absent
    return model.float().eval()


class WeightedNet:
    """A network with user-given weights, run per batch of aligned face crops without gradients.

    A subclass defines `inputs`, which turns crops + crop landmarks into the network's input:
    (B,H,W,3) uint8 images (given to it as (B,3,H,W) RGB in [0,1]) or a float array (given as
    it is), and, when the features are not the network's output, `forward`.
    """

    def __init__(self, net: torch.nn.Module, device: torch.device):
        self.net, self.device = net.to(device), device

    @classmethod
    def load(cls, path: str | Path, device: torch.device, what: str,
             build: Callable[[dict[str, torch.Tensor]], torch.nn.Module]) -> WeightedNet:
        """The model with the weights of `path` in `build(state dict)`; WeightsError when they
        do not fit it (the message says `path` "does not fit `what`")."""
        state = read_state_dict(path)
        return cls(load_into(build(state), path, what, state), device)

    def inputs(self, crops: np.ndarray, lmks: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    @torch.no_grad()
    def __call__(self, crops: np.ndarray, lmks: np.ndarray) -> np.ndarray:
        """crops (B,S,S,3) uint8 RGB, lmks (B,68,2) crop px -> (B,D) float32 features."""
        x = torch.from_numpy(np.ascontiguousarray(self.inputs(crops, lmks))).to(self.device)
        if x.dtype == torch.uint8:
            x = x.permute(0, 3, 1, 2).float().div_(255)
        return self.forward(x).float().cpu().numpy()

