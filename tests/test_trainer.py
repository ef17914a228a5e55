"""The generic Trainer with a toy task (no data), the step-indexed batches and the pair windows."""

import abc
import json
import os
import signal
from contextlib import contextmanager

import numpy as np
import pytest
import torch

from stccl.data.split import split_actors
from stccl.data.windows import StepBatches, matched_frames, pair_windows
from stccl.errors import DataError, Terminated, TrainingError
from stccl.interrupts import terminate_like_interrupt
from stccl.train.config import TrainConfig
from stccl.train.metric import augmenter
from stccl.train.trainer import Runtime, Trainer, learning_rate


class Toy:
    """Linear regression; `nan_at` makes the loss NaN from that step on."""

    name = "toy"
    items_per_step = 4

    def __init__(self, nan_at=None):
        self.model = torch.nn.Linear(3, 1)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.1)
        self.nan_at, self.exported = nan_at, None

    def modules(self):
        return {"toy": self.model}

    def optimizers(self):
        return {"toy": self.opt}

    def batches(self, start):
        step = start
        while True:
            g = torch.Generator().manual_seed(step)
            x = torch.randn(4, 3, generator=g)
            yield x, x.sum(1, keepdim=True)
            step += 1

    def step(self, batch, trainer):
        x, y = batch
        loss = (self.model(x) - y).pow(2).mean()
        if self.nan_at is not None and trainer.step + 1 >= self.nan_at:
            loss = loss * float("nan")
        trainer.backward(loss, "toy", {"mse": loss.item()})
        return {"loss": loss.item()}

    def validate(self, trainer):
        return {"w": float(self.model.weight.sum())}

    def export(self, path, step):
        self.exported = step
        path.write_text(str(step))


def _fit(tmp_path, total, task=None, **cfg):
    cfg = TrainConfig(**{"lr": 0.1, "log_every": 1, "val_every": 5, "checkpoint_every": 5, "device": "cpu", **cfg})
    task = task or Toy()
    trainer = Trainer(task, cfg, Runtime.create(cfg), tmp_path, total, cfg, tmp_path / "toy.out")
    return trainer.fit(), task


def test_trains_logs_and_exports(tmp_path):
    result, task = _fit(tmp_path, 30)
    recs = [json.loads(x) for x in (tmp_path / "toy" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs] == list(range(31))
    assert recs[-1]["loss"] < 0.05 * recs[1]["loss"]
    assert "val/w" in recs[5] and "val/w" not in recs[4] and "lr" in recs[1]
    assert task.exported == 30 and result.step == 30 and not result.skipped


class NoisyToy(Toy):
    """Toy whose steps use the global RNG (as augmentation does) and whose validation does too."""

    def step(self, batch, trainer):
        x, y = batch
        x = x + 0.1 * torch.randn_like(x) + float(np.random.rand()) * 0.01
        loss = (self.model(x) - y).pow(2).mean()
        trainer.backward(loss, "toy", {"mse": loss.item()})
        return {"loss": loss.item()}

    def validate(self, trainer):
        torch.rand(100), np.random.rand(100)
        return super().validate(trainer)


def test_how_often_it_validates_does_not_change_training(tmp_path):
    weights = []
    for k, every in enumerate((1, 7, 0)):
        torch.manual_seed(0)
        np.random.seed(0)
        _, task = _fit(tmp_path / str(k), 20, NoisyToy(), val_every=every)
        weights.append(task.model.weight.detach().clone())
    assert torch.equal(weights[0], weights[1]) and torch.equal(weights[0], weights[2])


def test_nan_guard_stops_with_a_clear_message_and_keeps_the_checkpoint(tmp_path):
    with pytest.raises(TrainingError, match=r"step 8: the toy loss is not finite \(nan; mse=nan\)"):
        _fit(tmp_path, 20, Toy(nan_at=8))
    state = torch.load(tmp_path / "toy" / "checkpoint.pt", weights_only=True)
    assert state["step"] == 5
    assert all(torch.isfinite(v).all() for v in state["modules"]["toy"].values())


@contextmanager
def _signal_inside_numpy(signum):
    """The next `isinstance(x, os.PathLike)` of a new type raises `signum`'s handler inside the
    ABC hook, where numpy's fromfile ignores the failure (what Ctrl-C hit in CI)."""
    class Fresh(abc.ABC):
        pass

    Fresh.register(Toy)  # a registration anywhere resets every ABC's negative cache
    hook = os.PathLike.__dict__["__subclasshook__"]

    def raise_signal(cls, sub):
        os.PathLike.__subclasshook__ = hook
        signal.raise_signal(signum)
        return NotImplemented

    os.PathLike.__subclasshook__ = classmethod(raise_signal)
    try:
        yield
    finally:
        os.PathLike.__subclasshook__ = hook


class SignalInNumpy(Toy):
    """Toy whose step 8 loads an .npy while `signum` arrives inside numpy."""

    def __init__(self, path, signum):
        super().__init__()
        self.path, self.signum = path, signum

    def step(self, batch, trainer):
        if trainer.step + 1 == 8:
            with _signal_inside_numpy(self.signum):
                np.load(self.path)
        return super().step(batch, trainer)


@pytest.fixture
def default_sigint():
    """Python's own SIGINT handler, also when the test run was started with SIGINT ignored."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_that_numpy_turns_into_another_error_still_saves_the_checkpoint(tmp_path, signum,
                                                                                default_sigint):
    np.save(tmp_path / "x.npy", np.arange(4))
    with pytest.raises(KeyboardInterrupt) as info:
        _fit(tmp_path, 20, SignalInNumpy(tmp_path / "x.npy", signum))
    if signum == signal.SIGTERM:
        assert isinstance(info.value, Terminated) and info.value.signum == signal.SIGTERM
    else:
        assert type(info.value) is KeyboardInterrupt
    assert torch.load(tmp_path / "toy" / "checkpoint.pt", weights_only=True)["step"] == 7


def test_an_error_without_a_signal_stays_that_error(default_sigint):
    with pytest.raises(TypeError, match="not a signal"), terminate_like_interrupt():
        raise TypeError("not a signal")
    with pytest.raises(KeyboardInterrupt), terminate_like_interrupt():
        signal.raise_signal(signal.SIGINT)
    with pytest.raises(ValueError), terminate_like_interrupt():  # the signal came in an earlier block
        raise ValueError


def test_resume_equals_an_uninterrupted_run(tmp_path):
    (a := tmp_path / "a").mkdir()
    (b := tmp_path / "b").mkdir()
    _, straight = _fit(a, 12, schedule="constant")
    _fit(b, 7, schedule="constant")
    result, resumed = _fit(b, 12, schedule="constant")
    assert result.start == 7
    assert torch.equal(straight.model.weight, resumed.model.weight)


def test_gradient_clipping_bounds_the_update(tmp_path):
    task = Toy()
    before = torch.cat([p.detach().clone().reshape(-1) for p in task.model.parameters()])
    _fit(tmp_path, 1, task, grad_clip=1e-3)
    after = torch.cat([p.detach().reshape(-1) for p in task.model.parameters()])
    # one SGD step of lr 0.1 with the gradient norm clipped to 1e-3 moves the weights by <= 1e-4
    assert 0 < float((after - before).norm()) <= 1e-4 + 1e-9


def test_learning_rate_schedule():
    cfg = TrainConfig(lr=1.0, warmup=10, schedule="cosine")
    assert learning_rate(cfg, 0, 100) == pytest.approx(0.1)
    assert learning_rate(cfg, 10, 100) == pytest.approx(1.0)
    assert learning_rate(cfg, 100, 100) == pytest.approx(0.05)
    assert learning_rate(TrainConfig(lr=0.5, schedule="constant"), 77, 100) == 0.5


def test_step_batches_partition_each_epoch_across_processes():
    n, b, world = 23, 3, 2
    ranks = [StepBatches(n, b, seed=4, rank=r, world=world) for r in range(world)]
    per_epoch = ranks[0].steps_per_epoch
    assert per_epoch == n // (b * world)
    seen = [i for s in range(per_epoch) for r in ranks for i in r.indices(s)]
    assert len(seen) == len(set(seen)) == per_epoch * b * world
    later = StepBatches(n, b, seed=4, start=5, rank=1, world=world)
    assert next(iter(later)) == ranks[1].indices(5)
    with pytest.raises(DataError, match="fewer than one batch"):
        StepBatches(5, 3, world=2)


def test_windows_follow_the_dtw_path_and_skip_missing_faces():
    path = [[0, 0], [0, 1], [1, 2], [2, 2], [3, 3], [3, 4], [3, 5], [4, 6], [5, 7]]
    assert matched_frames(path) == {0: 1, 1: 2, 2: 2, 3: 4, 4: 6, 5: 7}
    ok_a, ok_b = np.ones(6, bool), np.ones(8, bool)
    ws = pair_windows({"path": path}, 0, 3, ok_a, ok_b)
    assert [(w.neutral, w.other) for w in ws] == [((0, 1, 2), (1, 2, 2)), ((3, 4, 5), (4, 6, 7))]
    ok_b[6] = False
    assert [w.neutral for w in pair_windows({"path": path}, 0, 3, ok_a, ok_b)] == [(0, 1, 2)]


def test_held_out_actors():
    pairs = [{"actor": a} for a in ("M003", "W015", "M003", "W036")]
    assert split_actors(pairs, []) == ([0, 1, 2], [3], ["W036"])
    assert split_actors(pairs, ["M003"]) == ([1, 3], [0, 2], ["M003"])
    assert split_actors(pairs[:1], []) == ([0], [], [])
    with pytest.raises(DataError, match="X1"):
        split_actors(pairs, ["X1"])
    with pytest.raises(DataError, match="leave at least one"):
        split_actors(pairs, ["M003", "W015", "W036"])


def test_augmentation_is_the_same_on_both_streams_and_all_frames():
    torch.manual_seed(3)
    x = torch.rand(4, 3, 3, 32, 32)
    out = augmenter()(torch.cat([x, x], 1))
    assert torch.allclose(out[:, :3], out[:, 3:])
    assert not torch.allclose(out, torch.cat([x, x], 1))


def test_atomic_writes_get_the_usual_permissions(tmp_path):
    import os

    from stccl.models.correlation import CorrelationMetric, MetricConfig
    from stccl.models.io import save_model

    cfg = MetricConfig(depth=18, size=32)
    save_model(CorrelationMetric(cfg), cfg, tmp_path / "m.safetensors", kind="metric")
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(tmp_path / "m.safetensors").st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]
