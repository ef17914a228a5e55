"""Training configs and presets. A run's resolved config is saved as RUN/<stage>/config.toml."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config import overlay
from ..errors import InputError
from ..models.correlation import MetricConfig


@dataclass
class TrainConfig:
    """Optimisation, shared by every stage."""

    steps: int = 2000
    epochs: int = 0  # > 0: train this many passes over the training windows instead of `steps`
    batch: int = 8  # per process
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "cosine"  # cosine | constant (after `warmup` linear steps)
    warmup: int = 0
    grad_clip: float = 5.0  # max gradient norm; 0 = off
    amp: str = "auto"  # auto (bf16 on CUDA, off elsewhere) | bf16 | off
    channels_last: bool = True  # on CUDA
    checkpoint_every: int = 200
    log_every: int = 10
    val_every: int = 200
    val_batches: int = 4
    seed: int = 0
    workers: int = 2  # data loader processes
    device: str = "auto"


@dataclass
class PairDataConfig:
    """Windows of paired frames along the DTW paths of a prepared dataset."""

    window: int = 5  # T frames per window (1 = single images, no temporal term)
    val_actors: list[str] = field(default_factory=list)  # empty: hold out the last actor when there are >= 2
    augment: bool = True  # the same kornia augmentation on both streams and all frames of a window
    swap: bool = True  # randomly swap which take is the query stream


@dataclass
class MetricRunConfig:
    """`stccl train --stage metric`."""

    model: MetricConfig = field(default_factory=MetricConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: PairDataConfig = field(default_factory=PairDataConfig)


METRIC_PRESETS: dict[str, dict] = {
    # seconds on a CPU: smoke tests and the learning test
    "tiny": {"model": {"depth": 18, "size": 64, "centers": [16, 8, 4, 2]},
             "train": {"steps": 40, "batch": 4, "lr": 1e-3, "checkpoint_every": 20,
                       "log_every": 5, "val_every": 20, "val_batches": 2, "workers": 0},
             "data": {"window": 3}},
    # a small real run on one GPU
    "base": {"model": {"depth": 18, "size": 128},
             "train": {"steps": 5000, "batch": 16, "lr": 1e-3, "warmup": 200},
             "data": {"window": 5}},
    # the reference: IResNet-50 at 224, batch 8, Adam 1e-3 (constant), 5-frame windows
    "paper": {"model": {"depth": 50, "size": 224},
              "train": {"steps": 20000, "batch": 8, "lr": 1e-3, "schedule": "constant"},
              "data": {"window": 5}},
}


def metric_preset(name: str) -> MetricRunConfig:
    if name not in METRIC_PRESETS:
        raise InputError(f"unknown preset {name!r}; available: {', '.join(METRIC_PRESETS)}")
    return overlay(MetricRunConfig(), METRIC_PRESETS[name], f"preset {name}")

