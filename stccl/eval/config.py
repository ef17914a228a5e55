"""`stccl eval`'s config: one edit (INPUT EDITED) or the papers' protocol on a prepared dataset.
Torch-free, like every config (stccl.typed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from ..config import Device, Emotion
from ..registry import ENGINES, TRACKERS
from ..typed import Check, OneOf, at_least
from .protocols import check_protocol

Count = Annotated[int, at_least(1)]
EngineColumn = Annotated[str, OneOf(ENGINES.names, ENGINES.names_help)]
ReaderName = Annotated[str, OneOf(TRACKERS.choices, TRACKERS.names_help)]  # a TrackerName whose auto is eval's own


@dataclass
class ScoringWeights:
    """User-given weights of the scoring networks; not given = that metric is skipped (the
    project's classifier is also looked for as classifier.safetensors)."""

    classifier: str | None = None  # the project's emotion classifier (stccl train --stage classifier): emotion accuracy
    arcface: str | None = None  # ArcFace IResNet-50, insightface layout: identity cosine
    arcface18: str | None = None  # arcface-pytorch resnet_face18 (resnet18_110.pth): FAD
    expression: str | None = None  # EmoNet (emonet_8.pth / emonet_5.pth): expression similarity (the papers' CSIM)
    syncnet: str | None = None  # syncnet_python syncnet_v2.model: LSE-D / LSE-C


@dataclass
class EvalConfig:
    """`stccl eval`: metrics of one edit, or the protocol with engines side by side."""

    tracker: ReaderName = "auto"  # landmark tracker that reads both videos; auto = not the one that drove the edit (EDITED's stccl_tracker tag; PREP's tracker for --data): dlib after the mesh or an untagged edit, the mesh after dlib or fan
    device: Device = "cpu"  # device of the scoring networks (and the protocol's neural engines)
    prototypes: str | None = None  # warp prototypes for the expression shift (and the protocol's warp engine)
    max_frames: Annotated[int, at_least(0)] = 0  # use only the first N frames of each clip; 0 = all
    batch: Count = 16  # frames per network batch
    scoring: ScoringWeights = field(default_factory=ScoringWeights)
    # one edit
    emotion: Emotion | None = None  # target emotion of the edit; default: from EDITED's name, <stem>.<emotion>.mp4
    reference: str | None = None  # real footage of the target emotion for FAD and expression similarity (default: INPUT)
    # the protocol (--data)
    protocol: Annotated[str, Check(check_protocol, "a protocol name")] = "mead-intra"  # mead-intra, mead-cross, ravdess-intra or ravdess-cross: test actors and reference map
    engines: list[EngineColumn] = field(default_factory=list)  # engines to compare, by name; empty: every engine that needs no weights (warp), then those whose weights are given (neural, --weights)
    weights: str | None = None  # generator trained with the STCCL loss (engine "neural")
    weights_no_stccl: str | None = None  # the same generator trained without it ("neural-no-stccl")
    emotions: list[Emotion] = field(default_factory=list)  # target emotions; empty: the protocol's 7 (MEAD) or 6 (RAVDESS)
    clips_per_actor: Annotated[int, at_least(0)] = 0  # neutral clips edited per actor; 0 = all
    real_frames: Count = 300  # real-set frames per reference actor and emotion
    intensity: Annotated[float, at_least(0)] = 1.0  # intensity of every protocol edit
    overwrite: bool = False  # replace the reports of an earlier protocol run in the output folder
