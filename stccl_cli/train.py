"""`stccl train`: training stages (metric, prototypes)."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from stccl.errors import InputError

from .common import CONFIG_OPTION, VERBOSE_OPTION, cli_errors, console, err_console, make_progress, resolve_config

STAGES = ("metric", "prototypes")


@cli_errors
def train(
    data: Path = typer.Option(..., "--data", help="Prepared dataset (from `stccl prep`)."),
    stage: str = typer.Option("metric", "--stage", help="metric | prototypes"),
    out: Path = typer.Option(Path("runs/stccl"), "-o", "--out", help="Run folder (resumed when it exists)."),
    preset: str = typer.Option("base", "--preset", help="tiny | base | paper (metric stage)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Train to this step (a larger value continues a run)."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Train this many passes over the data instead of --steps."),
    batch: Optional[int] = typer.Option(None, "--batch", help="Batch size per process."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Learning rate."),
    variant: Optional[str] = typer.Option(None, "--variant", help="vd | cm: the spatial correlation variant."),
    window: Optional[int] = typer.Option(None, "--window", help="Frames per window (1 = no temporal term)."),
    val_actors: Optional[str] = typer.Option(
        None, "--val-actors", help="Comma-separated held-out actors  [default: the last actor with pairs]"),
    workers: Optional[int] = typer.Option(None, "--workers", help="Data loader processes."),
    device: Optional[str] = typer.Option(None, "--device", help="auto | cpu | cuda | cuda:N | mps"),
    export: Optional[Path] = typer.Option(
        None, "--export", help="Also copy the result into this folder (e.g. weights/)."),
    config: Optional[Path] = CONFIG_OPTION,
    verbose: bool = VERBOSE_OPTION,
) -> None:
    """Train on a prepared dataset. Running the same command again resumes the run.

    metric: the coherent-correlation metric, on windows of cross-emotion pairs along their DTW
    paths; writes RUN/metric/{checkpoint.pt,config.toml,metrics.jsonl} and, at the end,
    RUN/metric.safetensors. Under torchrun it trains data-parallel (gloo on CPU, nccl on GPU).

    prototypes: the warp engine's per-emotion landmark displacements, refit from the pairs.

    Examples:

      stccl train --data prepared/mead --stage metric --preset tiny -o runs/smoke

      stccl train --data prepared/mead --stage metric --preset paper --epochs 50 -o runs/paper

      torchrun --nproc-per-node 4 -m stccl_cli train --data prepared/mead --stage metric -o runs/ddp

      stccl train --data prepared/mead --stage prototypes -o runs/mead --export weights/
    """
    if stage not in STAGES:
        raise InputError(f"unknown stage {stage!r}; available: {', '.join(STAGES)}")
    if stage == "prototypes":
        return _prototypes(data, out, export)
    from stccl.train.config import metric_preset

    given: dict = {}
    tr = {k: v for k, v in dict(steps=steps, epochs=epochs, batch=batch, lr=lr, workers=workers,
                                device=device).items() if v is not None}
    if steps is not None and epochs is None:
        tr["epochs"] = 0
    if tr:
        given["train"] = tr
    dt = {k: v for k, v in dict(window=window).items() if v is not None}
    if val_actors is not None:
        dt["val_actors"] = [a.strip() for a in val_actors.split(",") if a.strip()]
    if dt:
        given["data"] = dt
    if variant is not None:
        given["model"] = {"variant": variant}
    cfg = resolve_config(metric_preset(preset), config, given)
    _metric(data, out, cfg, export)


def _quiet_unless_rank_zero() -> None:
    """Under torchrun only rank 0 shows progress, tables and info logs."""
    if int(os.environ.get("RANK", "0")) > 0:
        console.quiet = err_console.quiet = True
        logging.getLogger("stccl").setLevel(logging.WARNING)


def _metric(data: Path, out: Path, cfg, export: Optional[Path]) -> None:
    from stccl.train.metric import train_metric

    _quiet_unless_rank_zero()
    with make_progress() as progress:
        task = progress.add_task("metric", total=None)

        def on_step(step: int, total: int, logs: dict) -> None:
            loss = f" loss {logs['loss']:.3f}" if "loss" in logs else ""
            progress.update(task, completed=step, total=total, description=f"metric{loss}")

        result = train_metric(data, out, cfg, on_step)
    if result.export is not None and export is not None:
        export.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(result.export, export / result.export.name)
    table = Table(title=f"metric -> {result.export}")
    table.add_column("")
    table.add_column("value", justify="right")
    table.add_row("steps", f"{result.start} -> {result.step}" + (" (already done)" if result.skipped else ""))
    for key in ("loss", "val/loss", "val/pos", "val/neg", "val/pos_shuffled", "val/gap", "images_per_s"):
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
