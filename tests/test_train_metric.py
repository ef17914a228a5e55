"""`stccl train --stage metric` on real-clip pairs: learning, resume, kill, Ctrl-C, torchrun, errors."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from safetensors.torch import load_file
from typer.testing import CliRunner

from stccl.models.io import load_metric, read_metadata
from stccl.train.presets import metric_preset
from stccl_cli.main import app

runner = CliRunner()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _train(data, run, *args):
    return runner.invoke(app, ["train", "--data", str(data), "--stage", "metric", "--preset", "tiny",
                               "-o", str(run), *args])


def _records(run):
    return [json.loads(line) for line in (run / "metric" / "metrics.jsonl").read_text().splitlines()]


def _same_weights(a, b):
    wa, wb = load_file(str(a)), load_file(str(b))
    return wa.keys() == wb.keys() and all((wa[k] == wb[k]).all() for k in wa)


@pytest.fixture(scope="module")
def straight(chain):
    """The tiny preset trained for its 40 steps in one go: the metric stage of the chain run
    (conftest), which trains the metric as `--stage metric --preset tiny` does."""
    return chain[0]


def test_metric_learns_on_real_pairs(straight):
    recs = _records(straight)
    first, last = recs[0], recs[-1]
    assert first["step"] == 0 and last["step"] == 40
    # these pairs are re-timed copies of one take, so even the untrained metric finds most DTW
    # partners; training pulls partners together and pushes far frames apart
    for rec in (first, last):
        assert 0 < rec["val/retrieval_chance"] < 0.1
        assert rec["val/retrieval@1"] > 5 * rec["val/retrieval_chance"]
    assert last["val/pos"] - last["val/neg"] > first["val/pos"] - first["val/neg"] + 0.1
    assert last["val/loss"] < 0.5 * first["val/loss"]
    logged = recs[1]
    for key in ("loss", "spatial/1", "spatial/4", "temporal/1", "temporal/4", "lr", "images_per_s",
                "grad_norm/metric"):
        assert key in logged


def test_export_rebuilds_the_model_without_flags(straight):
    path = straight / "metric.safetensors"
    metric, cfg, meta = load_metric(path)
    assert meta["steps"] == 40 and cfg == metric_preset("tiny").model
    assert json.loads(read_metadata(path)["held_out"]) == ["W036"]
    assert (straight / "metric" / "config.toml").is_file()
    assert list((straight / "metric" / "tb").glob("events.out.tfevents.*"))  # tensorboard is a test extra


# a 12-step run's rhythm, at one pair a step and two held-out pairs scored: what these tests
# check (resume, kill, torchrun) does not depend on the batch, and a CPU run is then 2x shorter
# the resume tests check the bookkeeping of steps and checkpoints: no validation (its retrieval
# embeds whole clips, a third of a short run on a CPU); torchrun keeps one (SHORT_VALIDATED)
SHORT = "[train]\nlog_every = 2\ncheckpoint_every = 4\nval_every = 0\nbatch = 1\n"
SHORT_VALIDATED = "[train]\nlog_every = 2\ncheckpoint_every = 4\nval_every = 12\nbatch = 1\n[data]\nval_pairs = 2\n"


@pytest.fixture(scope="module")
def short(paired_prep, tmp_path_factory):
    """The tiny preset trained for 12 steps in one go, logging every 2 and checkpointing every 4
    (what the resume tests compare with: the same config, uninterrupted)."""
    base = tmp_path_factory.mktemp("short")
    cfg = base / "c.toml"
    cfg.write_text(SHORT)
    r = _train(paired_prep, base / "run", "--steps", "12", "--config", str(cfg))
    assert r.exit_code == 0, r.output
    return base / "run", cfg


def test_a_larger_steps_continues_the_run(paired_prep, tmp_path):
    run = tmp_path / "run"
    cfg = tmp_path / "c.toml"
    cfg.write_text(SHORT)
    r = _train(paired_prep, run, "--steps", "4", "--config", str(cfg))
    assert r.exit_code == 0, r.output
    r = _train(paired_prep, run, "--steps", "8", "--config", str(cfg))
    assert r.exit_code == 0 and "resumed from step 4" in r.output
    steps = [x["step"] for x in _records(run)]
    assert steps == [2, 4, 6, 8]
    assert load_metric(run / "metric.safetensors")[2]["steps"] == 8
    r = _train(paired_prep, run, "--steps", "8", "--config", str(cfg))
    assert r.exit_code == 0 and "already trained to step 8" in r.output


def test_sigkill_then_rerun_neither_repeats_nor_loses_steps(paired_prep, short, tmp_path):
    straight, cfg = short
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "stccl_cli", "train", "--data", str(paired_prep), "--stage", "metric", "--preset", "tiny",
           "-o", str(run), "--steps", "12", "--config", str(cfg)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    metrics = run / "metric" / "metrics.jsonl"
    while proc.poll() is None and not (metrics.is_file() and '"step": 6' in metrics.read_text()):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "training ended before it could be killed"
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "resumed from step 4" in r.stderr or "resumed from step 8" in r.stderr
    steps = [x["step"] for x in _records(run)]
    assert steps == [2, 4, 6, 8, 10, 12]
    assert _same_weights(run / "metric.safetensors", straight / "metric.safetensors")


def test_ctrl_c_writes_a_checkpoint(paired_prep, tmp_path):
    run = tmp_path / "run"
    cfg = tmp_path / "c.toml"
    cfg.write_text("[train]\nval_every = 0\n")
    # steps far beyond what runs before the signal: the run cannot end first, however slow
    cmd = [sys.executable, "-m", "stccl_cli", "train", "--data", str(paired_prep), "--stage", "metric", "--preset", "tiny",
           "-o", str(run), "--steps", "400", "--config", str(cfg)]
    # SIGINT at its default in the child: a test run started as a background job inherits it ignored
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    metrics = run / "metric" / "metrics.jsonl"
    while proc.poll() is None and not (metrics.is_file() and '"step": 5' in metrics.read_text()):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate()
    assert proc.returncode == 130, err
    assert "checkpoint saved at step" in err and "Traceback" not in err
    import torch

    state = torch.load(run / "metric" / "checkpoint.pt", weights_only=True)
    assert 5 <= state["step"] < 400
    assert not [p for p in (run / "metric").iterdir() if ".tmp-" in p.name]


def test_torchrun_two_gloo_processes(paired_prep, tmp_path):
    run = tmp_path / "run"
    cfg = tmp_path / "c.toml"
    cfg.write_text(SHORT_VALIDATED)
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                        "-m", "stccl_cli", "train", "--data", str(paired_prep), "--stage", "metric", "--preset", "tiny",
                        "-o", str(run), "--steps", "4", "--config", str(cfg)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.count("metric ->") == 1  # rank 0 alone reports
    assert load_metric(run / "metric.safetensors")[2]["steps"] == 4
    assert [x["step"] for x in _records(run)] == [0, 2, 4]


def test_cm_variant_single_frames_and_epochs(paired_prep, tmp_path):
    """--epochs counts the windows of the training actors (one actor here, the others left
    out, to keep an epoch short on a CPU)."""
    from stccl.data.store import PreparedDataset
    from stccl.data.split import split_actors
    from stccl.data.windows import PairWindows

    pairs = PreparedDataset(paired_prep).pairs
    actors = sorted({p["actor"] for p in pairs})
    held, trained, left_out = actors[-1], actors[0], actors[1:-1]
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[data]\nexclude_actors = {left_out!r}\nval_actors = [{held!r}]\n".replace("'", '"'))
    r = _train(paired_prep, tmp_path / "run", "--variant", "cm", "--window", "1", "--epochs", "1",
               "--batch", "16", "--config", str(cfg))
    assert r.exit_code == 0, r.output
    recs = _records(tmp_path / "run")
    assert "spatial/1" in recs[1] and "temporal/1" not in recs[1]
    metric, mcfg, meta = load_metric(tmp_path / "run" / "metric.safetensors")
    assert mcfg.variant == "cm"
    train_idx, _, _ = split_actors(pairs, [held], exclude=left_out)
    assert {pairs[i]["actor"] for i in train_idx} == {trained}
    steps = len(PairWindows(paired_prep, train_idx, 1, 16)) // 16
    assert steps >= 2 and meta["steps"] == recs[-1]["step"] == steps


def test_bf16_autocast_trains_on_the_cpu(paired_prep, tmp_path):
    """amp = bf16 runs (autocast on the CPU too) and is what the run records."""
    cfg = tmp_path / "c.toml"
    # no validation, two steps of two pairs: bf16 without native CPU support is slow
    cfg.write_text("[train]\namp = \"bf16\"\nlog_every = 1\nval_every = 0\n")
    r = _train(paired_prep, tmp_path / "run", "--variant", "cm", "--window", "1", "--steps", "2",
               "--batch", "2", "--config", str(cfg))
    assert r.exit_code == 0, r.output
    recs = _records(tmp_path / "run")
    assert [x["step"] for x in recs if "loss" in x] == [1, 2]
    assert all(x["loss"] == x["loss"] for x in recs if "loss" in x)  # finite, not NaN
    saved = (tmp_path / "run" / "metric" / "config.toml").read_text()
    assert 'amp = "bf16"' in saved


def test_another_config_in_the_same_run_is_refused(paired_prep, straight, tmp_path):
    import shutil

    run = tmp_path / "run"  # a copy: the chain run is shared with other tests
    shutil.copytree(straight, run)
    r = _train(paired_prep, run, "--variant", "cm", "--steps", "50")
    assert r.exit_code == 1 and "another model/data config" in r.stderr


def test_bad_inputs_get_one_line(paired_prep, tmp_path):
    from stccl.data import store

    store.write_jsonl_atomic(tmp_path / "index.jsonl", [])
    r = _train(tmp_path, tmp_path / "r")
    assert r.exit_code == 1 and "no cross-emotion pairs" in r.stderr and "neutral" in r.stderr
    r = _train(paired_prep, tmp_path / "r2", "--val-actors", "X999")
    assert r.exit_code == 1 and "X999" in r.stderr
    r = _train(paired_prep, tmp_path / "r3", "--preset", "huge")
    assert r.exit_code == 1 and "unknown preset" in r.stderr
    r = _train(tmp_path / "nothing", tmp_path / "r4")
    assert r.exit_code == 1 and "not a prepared dataset" in r.stderr and "Traceback" not in r.output
