"""Every stage's presets, in one place: `tiny` (CPU smoke tests, seconds), `base` (a small real
run on one GPU) and `paper` (the reference's settings where it has them). A preset is a partial
config that overlays the stage's defaults."""

from __future__ import annotations

from typing import Any

from ..data.layouts import MEAD_TEST, MEAD_VALIDATION
from ..emotions import EMOTIONS
from ..errors import InputError
from ..typed import overlay

PRESETS: dict[str, dict[str, dict]] = {
    "metric": {
        # seconds on a CPU: smoke tests and the learning test
        "tiny": {"model": {"depth": 18, "size": 64, "centers": [16, 8, 4, 2]},
                 "train": {"steps": 40, "batch": 4, "lr": 1e-3, "checkpoint_every": 20,
                           "log_every": 5, "val_every": 20, "val_batches": 2, "workers": 0},
                 "data": {"window": 3}},
        # a small real run on one GPU: the released STCCL's temporal branch, at a smaller size
        "base": {"model": {"depth": 18, "size": 128, "spatial_weight": 1.0, "temporal_weight": 0.35,
                           "temporal": "all_pairs", "temporal_transformer": True, "transformer_dim": 256,
                           "transformer_layers": 2},
                 "train": {"steps": 5000, "batch": 16, "lr": 1e-3, "warmup": 200},
                 "data": {"window": 5}},
        # the released STCCL (docs/metric.md): IResNet-50 at 224, spatial x 1 + temporal x 0.35
        # over every frame pair of 9-frame windows with the temporal transformer, the temporal
        # differences through the spatial term's MLP (ATCCL); Adam 1e-3 (constant), batch 8,
        # fp32, 50 epochs of aligned frame pairs, no augmentation, the neutral take always the
        # query; MEAD front view, level-3 emotions against level-1 neutral, no contempt, the six
        # evaluation actors left out, W021 held out when present
        "paper": {"model": {"depth": 50, "size": 224, "spatial_weight": 1.0, "temporal_weight": 0.35,
                            "temporal": "all_pairs", "temporal_transformer": True,
                            "temporal_head": "spatial"},
                  "train": {"epochs": 50, "batch": 8, "lr": 1e-3, "schedule": "constant", "amp": "off",
                            "grad_clip": 0.0, "val_every": 2000, "checkpoint_every": 2000},
                  "data": {"window": 9, "stride": 1, "epoch": "frame_pairs", "augment": False, "swap": False,
                           "emotions": [e for e in EMOTIONS if e not in ("neutral", "contempt")],
                           "levels": [3], "views": ["front"], "exclude_actors": list(MEAD_TEST),
                           "val_prefer": [MEAD_VALIDATION]}},
    },
    "generator": {
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
                 "data": {"window": 5}},  # the base metric's window
        # ours at full size (the reference trains NED's per-actor renderer instead; see docs/generator.md)
        "paper": {"model": {"size": 256, "base_channels": 32},
                  "disc": {"size": 256, "base_channels": 32, "n_layers": 5},
                  "train": {"steps": 100000, "batch": 8, "warmup": 1000, "val_every": 2000,
                            "checkpoint_every": 2000},
                  "data": {"window": 9}},  # the paper metric's window
    },
    "classifier": {
        # seconds on a CPU: smoke tests and the learning test
        "tiny": {"model": {"size": 64, "base_channels": 8},
                 "train": {"steps": 60, "batch": 16, "lr": 1e-3, "checkpoint_every": 20,
                           "log_every": 5, "val_every": 20, "val_batches": 2, "workers": 0}},
        # a real run on one GPU
        "base": {"model": {"size": 128, "base_channels": 32},
                 "train": {"steps": 5000, "batch": 32, "lr": 1e-3, "warmup": 200, "val_every": 250,
                           "val_batches": 8}},
        # The reference has no classifier stage to follow (its evaluation uses third-party
        # expression recognisers, which cannot be downloaded here): "base" trained for longer.
        "paper": {"model": {"size": 128, "base_channels": 32},
                  "train": {"steps": 20000, "batch": 32, "lr": 1e-3, "warmup": 200, "val_every": 500,
                            "val_batches": 8}},
    },
    "prototypes": {"tiny": {}, "base": {}, "paper": {}},
}
PRESET_NAMES = ("tiny", "base", "paper")


def preset(stage: str, name: str) -> Any:
    """The stage's run config with preset `name` applied."""
    from .stages import STAGES

    if name not in PRESETS[stage]:
        raise InputError(f"unknown preset {name!r}; available: {', '.join(PRESETS[stage])}")
    return overlay(STAGES[stage].config(), PRESETS[stage][name], f"preset {name}")


def metric_preset(name: str):
    return preset("metric", name)


def generator_preset(name: str):
    return preset("generator", name)


def classifier_preset(name: str):
    return preset("classifier", name)
