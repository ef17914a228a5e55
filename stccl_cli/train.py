"""`stccl train`: training stages (metric, generator, classifier, prototypes)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from stccl.devices import require_device
from stccl.train import run
from stccl.train.config import ChainConfig, MetricRunConfig
from stccl.train.stages import STAGES

from .common import CONFIG_OPTION, VERBOSE_OPTION, ConfigOptions, cli_errors, console, csv, err_console, make_progress

opt = ConfigOptions(MetricRunConfig, ChainConfig, show_defaults=False)  # defaults: the preset's


@cli_errors
def train(
    data: Path = typer.Option(..., "--data", help="Prepared dataset (from `stccl prep`)."),
    stage: Optional[str] = typer.Option(
        None, "--stage", help=f"{' | '.join(STAGES)} (default: metric, generator, classifier in turn)."),
    out: Path = typer.Option(Path("runs/stccl"), "-o", "--out", help="Run folder (resumed when it exists)."),
    preset: str = typer.Option("base", "--preset", help="tiny | base | paper, for every stage; the "
                               "options below default to the preset's values."),
    steps: Optional[int] = opt("train.steps", "--steps"),
    epochs: Optional[int] = opt("train.epochs", "--epochs"),
    batch: Optional[int] = opt("train.batch", "--batch"),
    lr: Optional[float] = opt("train.lr", "--lr"),
    variant: Optional[str] = opt("metric.model.variant", "--variant"),
    backbone_init: Optional[Path] = opt("metric.backbone_init", "--backbone-init",
                                        help="Start the metric's backbone from this ArcFace IResNet state dict (.pth or .safetensors)."),
    window: Optional[int] = opt("data.window", "--window", help="Frames per window (1 = no temporal term)."),
    metric: Optional[Path] = opt("generator.metric", "--metric", help="Frozen metric for the generator's STCCL loss."),
    stccl_weight: Optional[float] = opt("generator.loss.stccl", "--stccl-weight",
                                        help="Weight of the generator's STCCL loss; 0 switches it off (the ablation)."),
    val_actors: Optional[str] = opt("data.val_actors", "--val-actors", parse=csv,
                                    help="Comma-separated held-out actors (default: the last actor)."),
    workers: Optional[int] = opt("train.workers", "--workers"),
    device: Optional[str] = opt("train.device", "--device"),
    export: Optional[Path] = typer.Option(
        None, "--export", help="Also copy each result into this folder (e.g. weights/, where edit finds it)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Let --export replace files this run did not write."),
    config: Optional[Path] = CONFIG_OPTION,
    verbose: bool = VERBOSE_OPTION,
) -> None:
    """Train on a prepared dataset. Running the same command again resumes the run.

    With no --stage it trains metric, generator and classifier in turn; a stage that is done
    is skipped and an unfinished one resumes.

    metric: the coherent-correlation metric, on windows of cross-emotion pairs along their DTW
    paths -> RUN/metric.safetensors.

    generator: G(x, emotion, intensity) against a PatchGAN with an emotion head, supervised by
    the frozen metric (STCCL loss) -> RUN/generator.safetensors, which `stccl edit --engine
    neural --weights` loads; sample grids in RUN/generator/samples/.

    classifier: the emotion classifier that `stccl eval` uses -> RUN/classifier.safetensors.

    prototypes: the warp engine's landmark displacements, refit from the pairs -> RUN/prototypes.json.

    Each stage keeps RUN/<stage>/{checkpoint.pt,config.toml,metrics.jsonl}. Under torchrun it
    trains data-parallel (gloo on CPU, nccl on GPU). A --config TOML holds [metric],
    [generator] and [classifier] tables (or, with --stage, the stage's fields at top level).

    Examples:

      stccl train --data prep/ --preset tiny -o runs/smoke

      stccl train --data prep/ --stage metric --preset paper --epochs 50 -o runs/p

      stccl train --data prep/ --stage generator --metric runs/p/metric.safetensors -o runs/g

      stccl train --data prep/ --stage generator --stccl-weight 0 -o runs/ablation

      torchrun --nproc-per-node 4 -m stccl_cli train --data prep/ -o runs/ddp

      stccl train --data prep/ --stage prototypes -o runs/mead --export weights/
    """
    overrides = opt.given(locals())
    if "train.device" in overrides:  # a missing GPU is one line, before any data is read
        require_device(overrides["train.device"])
    if steps is not None and epochs is None:
        overrides["train.epochs"] = 0  # --steps counts, whatever epochs the preset or file set
    _quiet_unless_rank_zero()
    with make_progress() as progress:
        tasks: dict[str, int] = {}  # stage -> its bar

        def on_step(name: str, step: int, total: int, logs: dict) -> None:
            if name not in tasks:
                tasks[name] = progress.add_task(name, total=total)
            loss = f" loss {logs['loss']:.3f}" if "loss" in logs else ""
            progress.update(tasks[name], completed=step, total=total, description=f"{name}{loss}")

        run(data, out, stage=stage, preset=preset, config=config, overrides=overrides, export=export,
            on_step=on_step, on_result=lambda r: console.print(_table(r)), overwrite=overwrite)


def _quiet_unless_rank_zero() -> None:
    """Under torchrun only rank 0 shows progress, tables and info logs."""
    if int(os.environ.get("RANK", "0")) > 0:
        console.quiet = err_console.quiet = True
        logging.getLogger("stccl").setLevel(logging.WARNING)


def _table(result) -> Table:
    table = Table(title=f"{result.stage} -> {result.export}")
    if result.stage == "prototypes":
        for col in ("emotion", "pairs", "source"):
            table.add_column(col, justify="right" if col == "pairs" else "left")
        p = result.prototypes
        for emotion in p["emotions"]:
            table.add_row(emotion, str(p.get("pairs", {}).get(emotion, 0)),
                          "FACS (no pairs)" if emotion in p.get("kept_facs", []) else "refit")
        return table
    table.add_column("")
    table.add_column("value", justify="right")
    table.add_row("steps", f"{result.start} -> {result.step}" + (" (already done)" if result.skipped else ""))
    for key in STAGES[result.stage].shown + ("images_per_s",):
        if key in result.last:
            table.add_row(key, f"{result.last[key]:.1f}" if key == "images_per_s" else f"{result.last[key]:.3f}")
    return table
