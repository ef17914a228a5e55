"""`stccl.train.run`: the stage chain as a library call (what `stccl train` calls)."""

import tomllib

import pytest

from stccl.errors import InputError
from stccl.train import run
from stccl.train.trainer import FitResult
from stccl.typed import ConfigError

QUICK = {"train.steps": 4, "train.log_every": 2, "train.val_every": 0, "train.checkpoint_every": 2}


def test_run_trains_logs_exports_and_skips(paired_prep, tmp_path):
    out, export, seen = tmp_path / "run", tmp_path / "weights", []
    kw = dict(stage="metric", preset="tiny", export=export,
              overrides={**QUICK, "metric.train.lr": 5e-4, "data.window": 2, "train.micro_batch": 2})
    results = run(paired_prep, out, on_step=lambda stage, step, total, logs: seen.append((stage, step, total)),
                  **kw)
    (r,) = results
    assert isinstance(r, FitResult) and (r.stage, r.start, r.step, r.skipped) == ("metric", 0, 4, False)
    assert seen[-1] == ("metric", 4, 4)
    saved = tomllib.loads((out / "metric" / "config.toml").read_text())
    assert saved["train"]["lr"] == 5e-4 and saved["train"]["steps"] == 4 and saved["data"]["window"] == 2
    assert saved["model"]["size"] == 64  # the tiny preset under the overrides
    assert (export / "metric.safetensors").read_bytes() == (out / "metric.safetensors").read_bytes()
    (again,) = run(paired_prep, out, **kw)
    assert again.skipped and again.step == 4


def test_run_config_tables_and_the_prototypes_stage(paired_prep, tmp_path):
    out = tmp_path / "run"
    (r,) = run(paired_prep, out, stage="classifier", preset="tiny",
               config={"classifier": {"train": {"steps": 3, "val_every": 0, "log_every": 1}},
                       "metric": {"train": {"steps": 999}}})
    assert r.step == 3 and (out / "classifier.safetensors").is_file()
    (p,) = run(paired_prep, out, stage="prototypes")
    assert p.stage == "prototypes" and p.export == out / "prototypes.json" and p.export.is_file()
    assert p.prototypes["source"] == "refit"


def test_run_errors_name_what_is_wrong(paired_prep, tmp_path):
    with pytest.raises(InputError, match="unknown stage 'render'"):
        run(paired_prep, tmp_path, stage="render")
    with pytest.raises(InputError, match="unknown preset 'huge'"):
        run(paired_prep, tmp_path, preset="huge")
    with pytest.raises(InputError, match="not a prepared dataset"):
        run(tmp_path / "missing", tmp_path, stage="metric")
    with pytest.raises(InputError, match="unknown key train.speed"):
        run(paired_prep, tmp_path, stage="metric", overrides={"train.speed": 1})
    with pytest.raises(InputError, match="unknown key metric.model.colour"):
        run(paired_prep, tmp_path, stage="metric", overrides={"metric.model.colour": 1})
    with pytest.raises(ConfigError, match='train.lr must be a number, got "fast"'):
        run(paired_prep, tmp_path, stage="metric", preset="tiny", overrides={"train.lr": "fast"})
    with pytest.raises(ConfigError, match="config: metric.train.amp must be one of auto, bf16, off"):
        run(paired_prep, tmp_path, stage="metric", preset="tiny", config={"metric": {"train": {"amp": "fp16"}}})
    assert not (tmp_path / "metric").exists()  # nothing started
