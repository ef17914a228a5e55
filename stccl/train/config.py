"""Training configs. A run's resolved config is saved as RUN/<stage>/config.toml.

Torch-free: the CLI's help and config checks never import torch. The presets are in
stccl.train.presets, the stages that use these configs in stccl.train.stages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from ..config import Device, Emotion
from ..models.config import ClassifierConfig, DiscriminatorConfig, GeneratorConfig, MetricConfig
from ..typed import at_least

Count = Annotated[int, at_least(1)]
Weight = Annotated[float, at_least(0)]


@dataclass
class TrainConfig:
    """Optimisation, shared by every stage."""

    steps: Count = 2000  # train to this step (a larger value continues a run)
    epochs: Annotated[int, at_least(0)] = 0  # > 0: train this many epochs instead of `steps` (the metric counts windows, or frame pairs with data.epoch)
    batch: Count = 8  # batch size per process
    lr: Annotated[float, at_least(0)] = 1e-3  # learning rate
    weight_decay: Weight = 0.0  # Adam weight decay
    schedule: Literal["cosine", "constant"] = "cosine"  # learning rate after the warm-up
    warmup: Annotated[int, at_least(0)] = 0  # linear warm-up steps
    grad_clip: Weight = 5.0  # max gradient norm; 0 = off
    amp: Literal["auto", "bf16", "off"] = "auto"  # mixed precision: auto = bf16 on CUDA, off elsewhere
    channels_last: bool = True  # channels-last memory format on CUDA
    checkpoint_every: Count = 200  # steps between checkpoints
    log_every: Count = 10  # steps between log records
    val_every: Annotated[int, at_least(0)] = 200  # steps between validations; 0 = never
    val_batches: Count = 4  # batches per validation
    seed: int = 0  # random seed
    workers: Annotated[int, at_least(0)] = 2  # data loader processes
    micro_batch: Annotated[int, at_least(0)] = 0  # metric: samples per forward/backward (gradients accumulate); 0 = as many as fit in memory
    device: Device = "auto"  # device to train on


@dataclass
class PairDataConfig:
    """Windows of paired frames along the DTW paths of a prepared dataset."""

    window: Count = 5  # T frames per window (1 = single images, no temporal term)
    stride: Annotated[int, at_least(0)] = 0  # frames between window starts; 0 = the window length (no overlap), 1 = every frame
    val_actors: list[str] = field(default_factory=list)  # held-out actors; empty: val_prefer, else the last actor with pairs
    val_prefer: list[str] = field(default_factory=list)  # held out by default when present (the reference: W021)
    exclude_actors: list[str] = field(default_factory=list)  # never trained on (they may still be val_actors)
    emotions: list[Emotion] = field(default_factory=list)  # emotions of the other take; empty = all
    levels: list[int] = field(default_factory=list)  # intensity levels of the other take (MEAD level_k); empty = all
    views: list[str] = field(default_factory=list)  # MEAD views; empty = all
    val_pairs: Annotated[int, at_least(0)] = 16  # held-out pairs scored for retrieval at each validation, evenly spread; 0 = all
    time_negatives: Annotated[int, at_least(0)] = 0  # frames of the key take at least T frames away, as extra negatives (beyond the papers)
    epoch: Literal["windows", "frame_pairs"] = "windows"  # what --epochs counts: windows, or aligned frame pairs (the reference)
    augment: bool = True  # the same kornia augmentation on both streams and all frames of a window
    swap: bool = True  # randomly swap which take is the query stream


@dataclass
class MetricRunConfig:
    """`stccl train --stage metric`."""

    model: MetricConfig = field(default_factory=MetricConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(amp="off"))  # fp32: bf16 blurs the logits at tau 0.07
    data: PairDataConfig = field(default_factory=PairDataConfig)
    backbone_init: str | None = None  # start the backbone from this IResNet state dict (ArcFace .pth/.pt or .safetensors)


@dataclass
class FrameDataConfig:
    """Emotion-labelled windows of single clips (stccl.data.frames)."""

    window: Count = 3  # T frames per window; the STCCL temporal term needs T >= 2
    val_actors: list[str] = field(default_factory=list)  # held-out actors; empty: the last actor
    flip: bool = True  # random horizontal flip of whole windows
    samples: Count = 4  # rows in the sample grid saved at each validation


@dataclass
class GeneratorLossConfig:
    """Weights of the generator's loss terms (StarGAN/GANimation family + STCCL)."""

    adv: Weight = 1.0  # hinge GAN, both players
    cls: Weight = 1.0  # D's emotion head: real -> source emotion (D), fake -> target emotion (G)
    cycle: Weight = 10.0  # G(G(x, e_tgt), e_src) ~ x
    identity: Weight = 5.0  # G(x, e_src) ~ x
    stccl: Weight = 1.0  # frozen metric(output, input); 0 = off (the ablation)
    mask: Weight = 0.1  # mean attention mask
    mask_tv: Weight = 0.1  # total variation of the mask
    flow_tv: Weight = 1.0  # total variation of the flow, in crop fractions
    alpha_min: Weight = 0.5  # training intensities are drawn from [alpha_min, 1]


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


@dataclass
class ClassifierDataConfig:
    """Single emotion-labelled frames of the prepared clips."""

    val_actors: list[str] = field(default_factory=list)  # held-out actors; empty: the last actor when there are >= 2
    augment: bool = True  # kornia colour jitter, flip and a small affine, per image


@dataclass
class ClassifierRunConfig:
    """`stccl train --stage classifier` (saved as RUN/classifier/config.toml)."""

    model: ClassifierConfig = field(default_factory=ClassifierConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: ClassifierDataConfig = field(default_factory=ClassifierDataConfig)


@dataclass
class PrototypesRunConfig:
    """`stccl train --stage prototypes`: refit the warp engine's prototypes from the pairs."""

    min_pairs: Count = 1  # pairs an emotion needs to be refit; with fewer it keeps its FACS prototype
    exclude_actors: list[str] = field(default_factory=list)  # never fitted on (e.g. the test actors)


@dataclass
class ChainConfig:
    """A `--config` TOML for the whole chain: one table per stage."""

    metric: MetricRunConfig = field(default_factory=MetricRunConfig)
    generator: GeneratorRunConfig = field(default_factory=GeneratorRunConfig)
    classifier: ClassifierRunConfig = field(default_factory=ClassifierRunConfig)
    prototypes: PrototypesRunConfig = field(default_factory=PrototypesRunConfig)
