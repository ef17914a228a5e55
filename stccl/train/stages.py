"""The training stages, in one table: each stage's config, presets (stccl.train.presets), the
function that trains it and the file it exports. Adding a stage is one entry here.

Torch-free: the trainer of a stage is imported only when the stage runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any, Callable

from .config import ClassifierRunConfig, GeneratorRunConfig, MetricRunConfig, PrototypesRunConfig


@dataclass(frozen=True)
class Stage:
    name: str
    config: type  # the run config dataclass
    trainer: str  # "module:function" in stccl.train: fn(data, run_dir, cfg, on_step) -> result
    export: str  # the file it writes in RUN/ (and copies to --export)
    summary: str  # one line for `stccl train --help`
    shown: tuple[str, ...] = ()  # the logs `stccl train`'s result table shows

    def fit(self, data: Path, run_dir: Path, cfg: Any,
            on_step: Callable[[int, int, dict[str, float]], None] | None = None):
        module, name = self.trainer.split(":")
        return getattr(import_module(f"{__package__}.{module}"), name)(data, run_dir, cfg, on_step)


STAGES: dict[str, Stage] = {s.name: s for s in [
    Stage("metric", MetricRunConfig, "metric:train_metric", "metric.safetensors",
          "the coherent-correlation metric, on windows of cross-emotion pairs along their DTW paths",
          ("loss", "val/loss", "val/pos", "val/neg", "val/retrieval@1", "val/retrieval@1_centred",
           "val/retrieval_chance")),
    Stage("generator", GeneratorRunConfig, "generator:train_generator", "generator.safetensors",
          "G(x, emotion, intensity) against a PatchGAN with an emotion head, supervised by the "
          "frozen metric (the STCCL loss)",
          ("loss", "g/adv", "g/cls", "g/cycle", "g/identity", "g/stccl", "val/identity", "val/change",
           "val/mask", "val/stccl")),
    Stage("classifier", ClassifierRunConfig, "classifier:train_classifier", "classifier.safetensors",
          "the emotion classifier that `stccl eval` uses", ("loss", "acc", "val/loss", "val/acc")),
    Stage("prototypes", PrototypesRunConfig, "prototypes:fit_prototypes", "prototypes.json",
          "the warp engine's per-emotion landmark displacements, refit from the pairs"),
]}
CHAIN = ("metric", "generator", "classifier")  # what `stccl train` runs with no --stage
