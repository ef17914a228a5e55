"""The device choice: `auto`, `cpu`, `cuda`, `cuda:N` or `mps`.

`check_device` only reads the spelling (no torch import), so configs and `--help` stay light;
`resolve_device` asks torch what is there, and refuses a device this machine lacks with one
line (every command calls it before any work).
"""

from __future__ import annotations

import re

from .errors import InputError

_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
_USE = "use --device cpu or auto"


def check_device(value: object) -> str:
    """`value` if it spells a device; InputError otherwise."""
    if not isinstance(value, str) or not _DEVICE.fullmatch(value.strip()):
        raise InputError(f"unknown device {value!r}; use auto, cpu, cuda, cuda:N or mps")
    return value.strip()


def resolve_device(device: str = "auto") -> str:
    """The torch device string for `device`: `auto` picks CUDA, then MPS, then the CPU. A device
    that is not there is an InputError: `--device cuda: this torch build has no CUDA (...)`."""
    import torch

    device = check_device(device)
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if _mps_available(torch) else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda":
        _check_cuda(torch, device, dev.index)
    elif dev.type == "mps" and not _mps_available(torch):
        mps = getattr(torch.backends, "mps", None)
        built = mps is not None and mps.is_built()
        why = ("MPS is built in, but this machine cannot use it (macOS 12.3+ on Apple silicon)"
               if built else f"this torch build has no MPS (torch {torch.__version__})")
        raise InputError(f"--device {device}: {why}; {_USE}")
    return str(dev)


def _check_cuda(torch, device: str, index: int | None) -> None:
    if torch.version.cuda is None:
        raise InputError(f"--device {device}: this torch build has no CUDA "
                         f"(torch {torch.__version__}, a CPU-only build); {_USE}")
    if not torch.cuda.is_available():
        raise InputError(f"--device {device}: torch {torch.__version__} has CUDA {torch.version.cuda}, "
                         f"but no GPU or driver was found; {_USE}")
    count = torch.cuda.device_count()
    if index is not None and index >= count:
        have = "cuda:0" if count == 1 else f"cuda:0 to cuda:{count - 1}"
        raise InputError(f"--device {device}: only {count} CUDA device{'s' * (count != 1)} "
                         f"({have}); use one of those, cpu or auto")


def _mps_available(torch) -> bool:
    mps = getattr(torch.backends, "mps", None)
    return mps is not None and mps.is_available()


def require_device(device: str) -> str:
    """`device` checked against this machine before any work: a missing CUDA or MPS device (or
    a CUDA index out of range) is an InputError. torch is imported only for cuda and mps."""
    device = check_device(device)
    return device if device in ("auto", "cpu") else resolve_device(device)
