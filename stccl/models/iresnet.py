"""ArcFace-style IResNet backbones (18/34/50) that return the four stage feature maps.

Key names follow insightface's `iresnet`, so an ArcFace checkpoint loads with
`load_backbone_state`, which reports missing and unexpected keys (the recognition head of a
checkpoint - bn2, dropout, fc, features - is unexpected here and skipped).
Stage outputs are at 1/2, 1/4, 1/8, 1/16 of the input, with 64/128/256/512 channels.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from ..errors import WeightsError

LAYERS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 14, 3)}
CHANNELS = (64, 128, 256, 512)
ARCFACE_HEAD = ("bn2.", "dropout", "fc.", "features.")  # in ArcFace checkpoints, not in the backbone


class IBasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin, eps=1e-5)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout, eps=1e-5)
        self.prelu = nn.PReLU(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=stride, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout, eps=1e-5)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(cout, eps=1e-5))

    def forward(self, x):
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return out + (x if self.downsample is None else self.downsample(x))


class IResNet(nn.Module):
    """x (B,3,H,W) RGB in [0,1] -> [f1 (B,64,H/2,W/2), f2 (B,128,H/4,..), f3, f4 (B,512,H/16,..)]."""

    def __init__(self, depth: int = 50):
        super().__init__()
        if depth not in LAYERS:
            raise ValueError(f"IResNet depth must be one of {sorted(LAYERS)}, got {depth}")
        self.depth = depth
        self.conv1 = nn.Conv2d(3, 64, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64, eps=1e-5)
        self.prelu = nn.PReLU(64)
        cin = 64
        for i, (n, cout) in enumerate(zip(LAYERS[depth], CHANNELS), start=1):
            blocks = [IBasicBlock(cin, cout, stride=2)] + [IBasicBlock(cout, cout) for _ in range(n - 1)]
            setattr(self, f"layer{i}", nn.Sequential(*blocks))
            cin = cout

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.prelu(self.bn1(self.conv1((x - 0.5) / 0.5)))  # ArcFace normalisation
        feats = []
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
            feats.append(x)
        return feats


def load_backbone_state(model: IResNet, state: dict[str, torch.Tensor]) -> tuple[list[str], list[str]]:
    """Load an (ArcFace) state dict non-strictly; returns (missing, unexpected) keys."""
    state = {k.removeprefix("module."): v for k, v in state.items()}
    own = model.state_dict()
    fitting = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    result = model.load_state_dict(fitting, strict=False)
    unexpected = sorted(set(state) - set(fitting))
    return sorted(result.missing_keys), unexpected


def init_backbone(model: IResNet, path: str | Path) -> str:
    """Start `model` from the IResNet weights in `path` (an ArcFace state dict read with
    `weights_only=True`, or safetensors); returns a one-line report of what was loaded.

    Every backbone tensor must be in the file with its shape (BatchNorm counters aside);
    otherwise WeightsError names what is missing. Extra tensors (ArcFace's recognition head:
    bn2, fc, features) are skipped and counted.
    """
    from .io import read_state_dict

    state = read_state_dict(path)
    missing, unexpected = load_backbone_state(model, state)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing:
        wrong = [k for k in unexpected if k in model.state_dict()]
        detail = f"; {len(wrong)} of another shape" if wrong else ""
        raise WeightsError(f"{path} does not fit IResNet-{model.depth}: {len(missing)} of its "
                           f"{len(model.state_dict())} tensors missing ({', '.join(missing[:3])}"
                           f"{', ...' if len(missing) > 3 else ''}){detail}")
    foreign = [k for k in unexpected if not k.startswith(ARCFACE_HEAD)]
    if foreign:
        raise WeightsError(f"{path} does not fit IResNet-{model.depth}: it holds {len(foreign)} other "
                           f"backbone tensors ({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}); "
                           "another depth?")
    loaded = len(state) - len(unexpected)
    skipped = f"; skipped {len(unexpected)} not in the backbone ({', '.join(unexpected[:3])}" \
              f"{', ...' if len(unexpected) > 3 else ''})" if unexpected else ""
    return f"backbone initialised from {path}: {loaded} tensors loaded{skipped}"
