"""`stccl train`: training stages (metric, generator, classifier, prototypes)."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from stccl.errors import InputError

from stccl.config import load_toml, overlay
from stccl.fs import ensure_writable_dir

from .common import CONFIG_OPTION, VERBOSE_OPTION, cli_errors, console, err_console, make_progress

STAGES = ("metric", "generator", "classifier", "prototypes")
CHAIN = ("metric", "generator", "classifier")
SHOWN = {
    "metric": ("loss", "val/loss", "val/pos", "val/neg", "val/pos_shuffled", "val/gap"),
    "generator": ("loss", "g/adv", "g/cls", "g/cycle", "g/identity", "g/stccl", "val/identity", "val/change",
                  "val/mask", "val/stccl"),
    "classifier": ("loss", "acc", "val/loss", "val/acc"),
}


@cli_errors
def train(
    data: Path = typer.Option(..., "--data", help="Prepared dataset (from `stccl prep`)."),
    stage: Optional[str] = typer.Option(
        None, "--stage", help="metric | generator | classifier | prototypes  [default: metric, generator, classifier in turn]"),
    out: Path = typer.Option(Path("runs/stccl"), "-o", "--out", help="Run folder (resumed when it exists)."),
    preset: str = typer.Option("base", "--preset", help="tiny | base | paper (for every stage)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Train to this step (a larger value continues a run)."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Train this many passes over the data instead of --steps."),
    batch: Optional[int] = typer.Option(None, "--batch", help="Batch size per process."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Learning rate."),
    variant: Optional[str] = typer.Option(None, "--variant", help="vd | cm: the metric's spatial correlation variant."),
    window: Optional[int] = typer.Option(None, "--window", help="Frames per window, metric and generator (1 = no temporal term)."),
    metric: Optional[Path] = typer.Option(
        None, "--metric", help="Frozen metric for the generator's STCCL loss  [default: RUN/metric.safetensors]"),
    stccl_weight: Optional[float] = typer.Option(
        None, "--stccl-weight", help="Weight of the generator's STCCL loss; 0 switches it off (the ablation)."),
    val_actors: Optional[str] = typer.Option(
        None, "--val-actors", help="Comma-separated held-out actors  [default: the last actor]"),
    workers: Optional[int] = typer.Option(None, "--workers", help="Data loader processes."),
    device: Optional[str] = typer.Option(None, "--device", help="auto | cpu | cuda | cuda:N | mps"),
    export: Optional[Path] = typer.Option(
        None, "--export", help="Also copy each result into this folder (e.g. weights/, where edit finds it)."),
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

    prototypes: the warp engine's per-emotion landmark displacements, refit from the pairs.

    Each stage keeps RUN/<stage>/{checkpoint.pt,config.toml,metrics.jsonl}. Under torchrun it
    trains data-parallel (gloo on CPU, nccl on GPU). A --config TOML holds [metric],
    [generator] and [classifier] tables (or, with --stage, the stage's fields at top level).

    Examples:

      stccl train --data prepared/mead --preset tiny -o runs/smoke

      stccl train --data prepared/mead --stage metric --preset paper --epochs 50 -o runs/paper

      stccl train --data prepared/mead --stage generator --metric runs/paper/metric.safetensors -o runs/paper

      stccl train --data prepared/mead --stage generator --stccl-weight 0 -o runs/ablation

      torchrun --nproc-per-node 4 -m stccl_cli train --data prepared/mead -o runs/ddp

      stccl train --data prepared/mead --stage prototypes -o runs/mead --export weights/
    """
    if stage is not None and stage not in STAGES:
        raise InputError(f"unknown stage {stage!r}; available: {', '.join(STAGES)}")
    if stage == "prototypes":
        return _prototypes(data, out, export)
    if not data.exists():
        raise InputError(f"{data}: not a prepared dataset (no such folder); run `stccl prep` first")
    file_cfg = load_toml(config) if config is not None else {}
    tr = {k: v for k, v in dict(steps=steps, epochs=epochs, batch=batch, lr=lr, workers=workers,
                                device=device).items() if v is not None}
    if steps is not None and epochs is None:
        tr["epochs"] = 0
    dt: dict = {k: v for k, v in dict(window=window).items() if v is not None}
    if val_actors is not None:
        dt["val_actors"] = [a.strip() for a in val_actors.split(",") if a.strip()]
    _quiet_unless_rank_zero()
    for name in ([stage] if stage else CHAIN):
        given: dict = {"train": dict(tr), "data": dict(dt)}
        if name == "metric" and variant is not None:
            given["model"] = {"variant": variant}
        if name == "generator":
            if metric is not None:
                given["metric"] = str(metric)
            if stccl_weight is not None:
                given["loss"] = {"stccl": stccl_weight}
        if name == "classifier":
            given["data"].pop("window", None)
        section = file_cfg.get(name, {}) if any(k in file_cfg for k in CHAIN) else file_cfg
        cfg = overlay(overlay(_preset(name, preset), section, str(config)), given, "option")
        _run_stage(name, data, out, cfg, export)


def _preset(stage: str, name: str):
    if stage == "metric":
        from stccl.train.config import metric_preset
        return metric_preset(name)
    if stage == "generator":
        from stccl.train.config import generator_preset
        return generator_preset(name)
    from stccl.train.classifier import classifier_preset
    return classifier_preset(name)


def _trainer(stage: str):
    if stage == "metric":
        from stccl.train.metric import train_metric
        return train_metric
    if stage == "generator":
        from stccl.train.generator import train_generator
        return train_generator
    from stccl.train.classifier import train_classifier
    return train_classifier


def _quiet_unless_rank_zero() -> None:
    """Under torchrun only rank 0 shows progress, tables and info logs."""
    if int(os.environ.get("RANK", "0")) > 0:
        console.quiet = err_console.quiet = True
        logging.getLogger("stccl").setLevel(logging.WARNING)


def _run_stage(stage: str, data: Path, out: Path, cfg, export: Optional[Path]) -> None:
    fit = _trainer(stage)
    with make_progress() as progress:
        task = progress.add_task(stage, total=None)

        def on_step(step: int, total: int, logs: dict) -> None:
            loss = f" loss {logs['loss']:.3f}" if "loss" in logs else ""
            progress.update(task, completed=step, total=total, description=f"{stage}{loss}")

        result = fit(data, out, cfg, on_step)
    if result.export is not None and export is not None and int(os.environ.get("RANK", "0")) == 0:
        ensure_writable_dir(export)
        shutil.copyfile(result.export, export / result.export.name)
    table = Table(title=f"{stage} -> {result.export}")
    table.add_column("")
    table.add_column("value", justify="right")
    table.add_row("steps", f"{result.start} -> {result.step}" + (" (already done)" if result.skipped else ""))
    for key in SHOWN[stage] + ("images_per_s",):
        if key in result.last:
            table.add_row(key, f"{result.last[key]:.3f}" if key != "images_per_s" else f"{result.last[key]:.1f}")
    console.print(table)


def _prototypes(data: Path, out: Path, export: Optional[Path]) -> None:
    from stccl.edit.warp import refit_prototypes, save_prototypes
    from stccl.train.metric import require_pairs

    require_pairs(data)
    protos = refit_prototypes(data)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "prototypes.json"
    save_prototypes(protos, path)
    if export is not None:
        export.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, export / "prototypes.json")
    table = Table(title=f"prototypes -> {path}")
    table.add_column("emotion")
    table.add_column("pairs", justify="right")
    table.add_column("source")
    kept = set(protos.get("kept_facs", []))
    for emotion in protos["emotions"]:
        n = protos.get("pairs", {}).get(emotion, 0)
        table.add_row(emotion, str(n), "FACS (no pairs)" if emotion in kept else "refit")
    console.print(table)
