"""`stccl train`: training stages. Today: `prototypes` (the warp engine's displacements)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from stccl.data.store import PreparedDataset
from stccl.errors import DataError, InputError

from .common import VERBOSE_OPTION, cli_errors, console

STAGES = ("prototypes",)


@cli_errors
def train(
    data: Path = typer.Option(..., "--data", help="Prepared dataset (from `stccl prep`)."),
    stage: str = typer.Option("prototypes", "--stage", help="Stage to run: prototypes."),
    out: Path = typer.Option(Path("runs/stccl"), "-o", "--out", help="Run folder."),
    export: Optional[Path] = typer.Option(
        None, "--export", help="Also copy the result into this folder (e.g. weights/)."),
    verbose: bool = VERBOSE_OPTION,
) -> None:
    """Fit models on a prepared dataset.

    The prototypes stage refits the warp engine's per-emotion landmark displacements from
    the cross-emotion pairs of a prepared dataset (mean displacement along the DTW paths, with
    the speech component removed). Emotions without pairs keep their FACS prototype.

    Examples:

      stccl train --data prepared/mead --stage prototypes -o runs/mead --export weights/
    """
    from stccl.edit.warp import refit_prototypes, save_prototypes

    if stage not in STAGES:
        raise InputError(f"unknown stage {stage!r}; available: {', '.join(STAGES)}")
    ds = PreparedDataset(data)
    if not ds.pairs:
        raise DataError(
            f"{data}: no cross-emotion pairs; pairs arise when an actor says the same sentence "
            "as neutral and in another emotion (MEAD sentences, RAVDESS statements) - prepare both takes")
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
