"""`stccl.train.run`: the stage chain (or one stage) as a library call; `stccl train` calls it."""

from __future__ import annotations

import filecmp
import logging
import os
import shutil
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable

from ..config import load_toml
from ..errors import InputError
from ..fs import atomic_path, ensure_writable_dir, locked_folder, remove_stale_temps
from ..typed import has_key, nest, overlay
from .config import ChainConfig
from .presets import PRESET_NAMES, preset as stage_preset
from .stages import CHAIN, STAGES

log = logging.getLogger(__name__)

StepHook = Callable[[str, int, int, dict[str, float]], None]  # (stage, step, total, last logs)


def run(data: str | Path, out: str | Path, *, stage: str | None = None, preset: str = "base",
        config: str | Path | dict | None = None, overrides: dict[str, Any] | None = None,
        export: str | Path | None = None, on_step: StepHook | None = None,
        on_result: Callable[[Any], None] | None = None, overwrite: bool = False) -> list:
    """Train `stage` (or the chain metric -> generator -> classifier) on the prepared dataset
    `data` into the run folder `out`; a finished stage is skipped, an unfinished one resumes.

    config: a TOML file or dict, with one table per stage ([metric], [generator], ...) or the
        stage's own keys at top level; `overrides` beat it, and it beats the preset.
    overrides: dotted keys as in the TOML: {"metric.train.lr": 1e-4}; a key without a stage
        ("train.lr") applies to every stage run that has it.
    export: a folder that receives a copy of each stage's result (e.g. weights/). A file there
        that this run did not export (another run's weights) is never replaced, unless
        `overwrite`: that is an InputError before any training.
    The run folder is locked while it trains: a second run on it is a one-line FolderBusy.
    Temp files that dead runs on this host left in it are removed.
    Returns each stage's result (stccl.train.trainer.FitResult, or PrototypesResult).
    """
    names = _stages(stage)
    if preset not in PRESET_NAMES:
        raise InputError(f"unknown preset {preset!r}; available: {', '.join(PRESET_NAMES)}")
    data, out = Path(data), Path(out)
    if not data.exists():
        raise InputError(f"{data}: not a prepared dataset (no such folder); run `stccl prep` first")
    tables, where = _config(config)
    per_stage = _split_overrides(overrides or {}, names)
    split = any(k in tables for k in STAGES)
    configs = {}  # every stage's config is checked before the first one starts
    for name in names:
        section = tables.get(name, {}) if split else tables
        cfg = overlay(stage_preset(name, preset), section, where, prefix=f"{name}." if split else "")
        configs[name] = overlay(cfg, nest(per_stage[name]), "overrides")
    _check_data(data)
    main = int(os.environ.get("RANK", "0")) == 0  # under torchrun, rank 0 holds the folder
    if main and export is not None:
        for name in names:
            _check_export(out / STAGES[name].export, Path(export), overwrite)
    results = []
    with locked_folder(ensure_writable_dir(out)) if main else nullcontext():
        if main:
            for folder in (out, *(out / n for n in names)):
                remove_stale_temps(folder)
        for name, cfg in configs.items():
            hook = (lambda step, total, logs, name=name: on_step(name, step, total, logs)) if on_step else None
            result = STAGES[name].fit(data, out, cfg, hook)
            if main and export is not None and result.export is not None:
                _export(Path(result.export), Path(export), overwrite)
            results.append(result)
            if on_result is not None:
                on_result(result)
    return results


def _check_data(data: Path) -> None:
    """Every prepared clip is checked before the first stage starts (cheap: sizes, offsets,
    headers), so that a damaged clip that only a later stage reads fails now, not hours in."""
    from ..data.store import PreparedDataset

    PreparedDataset(data).check()


def _stages(stage: str | None) -> tuple[str, ...]:
    if stage is None:
        return CHAIN
    if stage not in STAGES:
        raise InputError(f"unknown stage {stage!r}; available: {', '.join(STAGES)}")
    return (stage,)


def _config(config: str | Path | dict | None) -> tuple[dict, str]:
    if config is None:
        return {}, "config"
    if isinstance(config, dict):
        return config, "config"
    return load_toml(config), f"--config {config}"


def _split_overrides(overrides: dict[str, Any], names: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Each stage's own overrides (dotted keys without the stage), checked against the configs."""
    out: dict[str, dict[str, Any]] = {n: {} for n in names}
    for key, value in overrides.items():
        head, _, rest = key.partition(".")
        if head in STAGES:
            if not has_key(ChainConfig, key):
                raise InputError(f"overrides: unknown key {key}")
            if head in out:
                out[head][rest] = value
            continue
        fits = [n for n in STAGES if has_key(STAGES[n].config, key)]
        if not fits:
            raise InputError(f"overrides: unknown key {key}; give a stage's key such as metric.{key}")
        for n in names:
            if n in fits:
                out[n][key] = value
    return out


def _check_export(result: Path, folder: Path, overwrite: bool) -> None:
    """Before any training: the export's name in `folder` is free, or holds this run's own
    result (the same bytes: a rerun), or `overwrite` allows replacing it."""
    target = folder / result.name
    if target.exists() and not overwrite and not _same(result, target):
        raise InputError(f"{target} exists and is not this run's {result.name}; pass --overwrite "
                         "to replace it, or export into another folder")


def _export(path: Path, folder: Path, overwrite: bool) -> None:
    """Copy `path` into `folder`, claimed as edit claims its outputs (stccl.fs.atomic_path)."""
    target = ensure_writable_dir(folder) / path.name
    if _same(path, target):
        return
    with atomic_path(target, overwrite=overwrite) as tmp:
        shutil.copyfile(path, tmp)
    log.info("copied %s to %s", path, target)


def _same(a: Path, b: Path) -> bool:
    return a.is_file() and b.is_file() and filecmp.cmp(a, b, shallow=False)
