"""Training configs and presets. A run's resolved config is saved as RUN/<stage>/config.toml."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config import overlay
from ..errors import InputError
from ..models.correlation import MetricConfig
from ..models.discriminator import DiscriminatorConfig
from ..models.generator import GeneratorConfig


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



@dataclass
class FrameDataConfig:
    """Emotion-labelled windows of single clips (stccl.data.frames)."""

    window: int = 3  # T frames per window; the STCCL temporal term needs T >= 2
    val_actors: list[str] = field(default_factory=list)  # empty: hold out the last actor
    flip: bool = True  # random horizontal flip of whole windows
    samples: int = 4  # rows in the sample grid saved at each validation


@dataclass
class GeneratorLossConfig:
    """Weights of the generator's loss terms (StarGAN/GANimation family + STCCL)."""

    adv: float = 1.0  # hinge GAN, both players
    cls: float = 1.0  # D's emotion head: real -> source emotion (D), fake -> target emotion (G)
    cycle: float = 10.0  # G(G(x, e_tgt), e_src) ~ x
    identity: float = 5.0  # G(x, e_src) ~ x
    stccl: float = 1.0  # frozen metric(output, input); 0 = off (the ablation)
    mask: float = 0.1  # mean attention mask
    mask_tv: float = 0.1  # total variation of the mask
    flow_tv: float = 1.0  # total variation of the flow, in crop fractions
    alpha_min: float = 0.5  # training intensities are drawn from [alpha_min, 1]


@dataclass
class GeneratorRunConfig:
    """`stccl train --stage generator`."""

    model: GeneratorConfig = field(default_factory=GeneratorConfig)
    disc: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    loss: GeneratorLossConfig = field(default_factory=GeneratorLossConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(lr=2e-4))
    data: FrameDataConfig = field(default_factory=FrameDataConfig)
    betas: list[float] = field(default_factory=lambda: [0.5, 0.999])  # Adam, both players
    metric: str = ""  # the frozen metric's safetensors; empty: RUN/metric.safetensors


GENERATOR_PRESETS: dict[str, dict] = {
    # seconds on a CPU: smoke tests
    "tiny": {"model": {"size": 64, "base_channels": 8, "n_down": 2, "n_res": 1},
             "disc": {"size": 64, "base_channels": 8, "n_layers": 3},
             "train": {"steps": 40, "batch": 2, "checkpoint_every": 20, "log_every": 5,
                       "val_every": 20, "val_batches": 2, "workers": 0},
             "data": {"window": 3}},
    # a real run on one GPU
    "base": {"model": {"size": 128, "base_channels": 32},
             "disc": {"size": 128, "base_channels": 32, "n_layers": 4},
             "train": {"steps": 20000, "batch": 8, "warmup": 500, "val_every": 1000,
                       "checkpoint_every": 1000},
             "data": {"window": 3}},
    # ours at full size (the reference trains NED's per-actor renderer instead; see docs/generator.md)
    "paper": {"model": {"size": 256, "base_channels": 32},
              "disc": {"size": 256, "base_channels": 32, "n_layers": 5},
              "train": {"steps": 100000, "batch": 8, "warmup": 1000, "val_every": 2000,
                        "checkpoint_every": 2000},
              "data": {"window": 5}},
}


def generator_preset(name: str) -> GeneratorRunConfig:
    if name not in GENERATOR_PRESETS:
        raise InputError(f"unknown preset {name!r}; available: {', '.join(GENERATOR_PRESETS)}")
    return overlay(GeneratorRunConfig(), GENERATOR_PRESETS[name], f"preset {name}")
