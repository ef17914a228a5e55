"""Typed dataclass configs: the single source of truth for options.

Precedence: CLI option > `--config file.toml` > dataclass default. The resolved config is
saved next to outputs (and later inside checkpoints) with `to_dict`.
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import tomli_w

from .errors import InputError

T = TypeVar("T")


@dataclass
class TrackConfig:
    """Face tracking: detection schedule, identity, gaps and smoothing."""

    tracker: str = "auto"  # auto | fan | dlib
    device: str = "auto"  # FAN only: auto | cpu | cuda[:N] | mps
    detect_every: int = 10  # re-detect at least every N frames
    detect_size: int = 480  # longest side of the frame used for detection
    face: int = 0  # which face to follow: 0 = largest at the start, 1 = next, ...
    max_gap: int = 12  # gaps up to this many frames are interpolated, longer ones flagged
    min_cutoff: float = 1.0  # One-Euro on head motion and stable points: cutoff (Hz) at rest
    beta: float = 3.0  # One-Euro speed coefficient, per inter-ocular distance/s (higher = less lag)
    mouth_min_cutoff: float = 5.0  # One-Euro on lip and jaw shape (speech is fast): cutoff at rest
    mouth_beta: float = 30.0
    smooth: bool = True


@dataclass
class AlignConfig:
    """Similarity alignment to the canonical template."""

    size: int = 256  # crop side in pixels
    min_cutoff: float = 0.5  # One-Euro cutoff (Hz) for the transform at rest
    beta: float = 10.0  # speed coefficient; units: log-scale, radians and crop extents per second


@dataclass
class PrepConfig:
    """`stccl prep`: dataset preparation."""

    layout: str = "auto"  # auto | mead | ravdess | folder
    views: list[str] = field(default_factory=lambda: ["front"])
    levels: list[int] = field(default_factory=list)  # empty = all
    workers: int = 1
    shard: str = "1/1"
    jpeg_quality: int = 95
    retry_failed: bool = False
    sample_rate: int = 16000
    n_mfcc: int = 13
    max_pair_cost: float = 0.0  # 0 = use the built-in threshold
    track: TrackConfig = field(default_factory=TrackConfig)
    align: AlignConfig = field(default_factory=AlignConfig)


@dataclass
class EditConfig:
    """`stccl edit`: re-expression of a video."""

    emotion: str = "happy"
    intensity: float = 1.0  # 0 = unchanged, 1 = full, > 1 exaggerated
    engine: str = "auto"  # auto | neural | warp
    weights: str | None = None  # generator weights (safetensors); auto-found when None
    prototypes: str | None = None  # warp engine prototypes (JSON); the shipped ones when None
    start: float | None = None  # seconds; edit only from here (the rest passes through)
    end: float | None = None
    device: str = "auto"
    batch: int = 8
    ease: float = 0.32  # seconds over which the intensity ramps at face gaps and start/end
    crop_size: int = 256
    crf: int = 18
    preset: str = "fast"
    overwrite: bool = False
    track: TrackConfig = field(default_factory=TrackConfig)
    align: AlignConfig = field(default_factory=AlignConfig)


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def from_dict(cls: type[T], data: dict[str, Any], where: str = "config") -> T:
    """Build `cls` from a (possibly partial) dict; unknown keys are an error."""
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a table, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value, hint = data[f.name], hints[f.name]
        if dataclasses.is_dataclass(hint):
            value = from_dict(hint, value, f"{where}.{f.name}")
        kwargs[f.name] = value
    return cls(**kwargs)


def overlay(cfg: T, data: dict[str, Any], where: str = "config") -> T:
    """Return a copy of `cfg` with the keys of `data` replaced (nested tables merge)."""
    merged = _merge(to_dict(cfg), data)
    return from_dict(type(cfg), merged, where)


def _merge(base: dict, new: dict) -> dict:
    out = dict(base)
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def load_toml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"config file not found: {p}")
    try:
        return tomllib.loads(p.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{p}: not valid TOML ({e})") from None


def save_toml(cfg: Any, path: str | Path) -> None:
    Path(path).write_text(tomli_w.dumps(_drop_none(to_dict(cfg))))


def _drop_none(d: dict) -> dict:
    return {k: (_drop_none(v) if isinstance(v, dict) else v) for k, v in d.items() if v is not None}
