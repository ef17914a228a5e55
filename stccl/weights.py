"""Where each kind of weights file may be: one declared list per kind, one search for all.

    find("generator")                 # ./weights/generator.safetensors, $STCCL_WEIGHTS/..., torch hub
    find("prototypes", "mine.json")   # a path given by the user wins (None when it is no file)

The places, in order: a path the user gave; ./weights/; $STCCL_WEIGHTS; torch hub's
checkpoints folder (where face-alignment and torch.hub download to); a file shipped inside the
package. Each kind declares which of them it uses. Torch-free: the default edit looks for
weights before it knows whether it needs torch at all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import WeightsError
from .fs import torch_hub_dir

__all__ = ["FILES", "WeightsFile", "find", "find_weights", "require", "search_dirs"]

PACKAGE = Path(__file__).parent


@dataclass(frozen=True)
class WeightsFile:
    """A kind of weights file: its name, where it may be, and what it is (for messages)."""

    kind: str
    file: str
    what: str
    places: tuple[str, ...] = ("weights", "env", "hub")  # of: weights, env, hub
    packaged: str | None = None  # a file shipped inside the package (relative to stccl/), the last resort


FILES: dict[str, WeightsFile] = {w.kind: w for w in (
    WeightsFile("generator", "generator.safetensors", "generator weights"),
    WeightsFile("classifier", "classifier.safetensors", "classifier weights"),
    WeightsFile("fan", "2DFAN4-11f355bf06.pth.tar", "FAN weights"),
    WeightsFile("prototypes", "prototypes.json", "warp-engine prototypes", ("weights", "env"),
                packaged="edit/data/prototypes.json"),
)}


def _kind(name: str) -> WeightsFile:
    """The kind `name`, or the kind whose file is called `name`."""
    if name in FILES:
        return FILES[name]
    found = next((w for w in FILES.values() if w.file == name), None)
    if found is None:
        raise KeyError(f"no weights kind {name!r}")  # a bug in the caller's table
    return found


def search_dirs(kind: str, first: str | Path | None = None) -> list[Path]:
    """The folders searched for `kind`, in order (`first`: a folder the caller adds in front)."""
    spec = _kind(kind)
    dirs = [Path(first)] if first else []
    for place in spec.places:
        if place == "weights":
            dirs.append(Path("weights"))
        elif place == "env" and os.environ.get("STCCL_WEIGHTS"):
            dirs.append(Path(os.environ["STCCL_WEIGHTS"]))
        elif place == "hub":
            dirs.append(torch_hub_dir() / "checkpoints")
    return dirs


def find(kind: str, explicit: str | Path | None = None, first_dir: str | Path | None = None) -> Path | None:
    """The file of `kind` (a kind of FILES, or its file name): `explicit` when given (None when
    it is no file), else the first hit of `search_dirs`, else the packaged file, else None."""
    spec = _kind(kind)
    if explicit is not None:
        p = Path(explicit)
        return p if p.is_file() else None
    for d in search_dirs(kind, first_dir):
        if (d / spec.file).is_file():
            return d / spec.file
    if spec.packaged is not None and (PACKAGE / spec.packaged).is_file():
        return PACKAGE / spec.packaged
    return None


find_weights = find  # the name models and eval have used


def require(kind: str, explicit: str | Path | None = None, first_dir: str | Path | None = None,
            hint: str = "") -> Path:
    """`find`, or a one-line WeightsError that says where it looked."""
    found = find(kind, explicit, first_dir)
    if found is not None:
        return found
    spec = _kind(kind)
    if explicit is not None:
        raise WeightsError(f"{spec.what} not found: {explicit}")
    searched = ", ".join(str(d) for d in search_dirs(kind, first_dir))
    raise WeightsError(f"{spec.what} not found: put {spec.file} in one of {searched}{hint}")
