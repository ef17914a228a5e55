"""Where weights files are looked for (torch-free: the default edit asks before it knows
whether it needs torch at all)."""

from __future__ import annotations

import os
from pathlib import Path

from ..fs import torch_hub_dir


def find_weights(name: str, explicit: str | Path | None = None) -> Path | None:
    """explicit path -> ./weights/<name> -> $STCCL_WEIGHTS/<name> -> torch hub checkpoints/<name>."""
    if explicit is not None:
        p = Path(explicit)
        return p if p.is_file() else None
    candidates = [Path("weights") / name]
    if os.environ.get("STCCL_WEIGHTS"):
        candidates.append(Path(os.environ["STCCL_WEIGHTS"]) / name)
    candidates.append(torch_hub_dir() / "checkpoints" / name)
    return next((c for c in candidates if c.is_file()), None)
