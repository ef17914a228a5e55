"""The models' configs (torch-free, so that configs and `--help` never import torch).

Each is saved in the metadata of the model's safetensors file, so that the model can be rebuilt
from the file alone (stccl.models.io).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..emotions import EMOTIONS


@dataclass
class MetricConfig:
    """The coherent-correlation metric (stccl.models.correlation). The defaults are those of
    metric files written before the temporal transformer existed, so that they load as they
    were trained; the `paper` preset sets the released STCCL's choices (docs/metric.md)."""

    depth: Literal[18, 34, 50] = 50  # IResNet depth of the backbone
    size: int = 224  # input crop side
    variant: Literal["vd", "cm"] = "vd"  # spatial correlation: vd = visual disparities, cm = correlation matrices
    tau: float = 0.07  # PatchNCE temperature
    centers: list[int] = field(default_factory=lambda: [32, 16, 8, 4])  # sampled centres per stage (spatial)
    spatial_weight: float = 0.3  # weight of the spatial term (the released STCCL: 1)
    temporal_weight: float = 0.3  # weight of the temporal term (the released STCCL: 0.35)
    batch_negatives: bool = False  # also take negatives from the other images of the batch
    adaptive: bool = True  # correlation-aware adaptive weights per region of the spatial term
    adaptive_threshold: float = 0.8  # t = sigmoid(|d|) above which an element weighs 2t^2
    adaptive_temporal: bool = False  # the adaptive weights on the temporal term too
    temporal: Literal["adjacent", "all_pairs"] = "adjacent"  # frame differences: adjacent frames, or every pair i < j
    temporal_positions: list[int] = field(default_factory=lambda: [256, 128, 64, 32])  # positions per stage (all_pairs)
    temporal_transformer: bool = False  # encode each position's features along the window first
    # the MLP the temporal differences go through: their own ("own", every file written before
    # this field), or the spatial term's ("spatial": ATCCL reuses it; STCCL's temporal branch has none)
    temporal_head: Literal["own", "spatial"] = "own"
    transformer_dim: int = 512  # width of the temporal transformer (model and feed-forward)
    transformer_heads: int = 8  # its attention heads
    transformer_layers: int = 4  # its encoder layers


@dataclass
class GeneratorConfig:
    """The expression generator G(x, e, a) (stccl.models.generator)."""

    size: int = 256  # crop size it works at
    base_channels: int = 32  # channels of the first encoder stage
    n_down: int = 3  # stride-2 encoder stages
    n_res: int = 4  # residual blocks at the bottleneck
    n_emotions: int = len(EMOTIONS)  # emotion classes it is conditioned on
    max_flow: float = 0.08  # largest |flow| as a fraction of the crop size


@dataclass
class DiscriminatorConfig:
    """The generator's PatchGAN critic with an emotion head (stccl.models.discriminator)."""

    size: int = 256  # crop size it judges
    base_channels: int = 32  # channels of the first stage
    n_layers: int = 4  # stride-2 stages: patch grid = size / 2^n_layers
    n_emotions: int = len(EMOTIONS)  # classes of the emotion head


@dataclass
class ClassifierConfig:
    """The evaluation-only emotion classifier (stccl.models.classifier)."""

    size: int = 128  # crops are resized to this
    base_channels: int = 32  # channels of the first stage
    n_emotions: int = len(EMOTIONS)  # classes, in the order of stccl.emotions.EMOTIONS
