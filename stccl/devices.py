"""The device choice: `auto`, `cpu`, `cuda`, `cuda:N` or `mps`.

`check_device` only reads the spelling (no torch import), so configs and `--help` stay light;
`resolve_device` asks torch what is there.
"""

from __future__ import annotations

import re

from .errors import InputError

_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def check_device(value: object) -> str:
    """`value` if it spells a device; InputError otherwise."""
    if not isinstance(value, str) or not _DEVICE.fullmatch(value.strip()):
        raise InputError(f"unknown device {value!r}; use auto, cpu, cuda, cuda:N or mps")
    return value.strip()


def resolve_device(device: str = "auto") -> str:
    """The torch device string for `device`: `auto` picks CUDA, then MPS, then the CPU."""
    import torch

    device = check_device(device)
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device!r} asked for, but CUDA is not available; use cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise InputError(f"device {device!r} asked for, but there are {torch.cuda.device_count()} CUDA devices")
    if dev.type == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise InputError(f"device {device!r} asked for, but MPS is not available; use cpu")
    return str(dev)
