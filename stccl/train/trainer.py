"""One Trainer for every stage (minGPT-style): the stage supplies a `Task`, the Trainer does the rest.

RUN/<stage>/checkpoint.pt   modules, optimizers, step and RNG (tensors and plain values only:
                            loaded with weights_only=True), written atomically every
                            `checkpoint_every` steps, at the end, and on Ctrl-C/SIGTERM
RUN/<stage>/config.toml     the resolved config of the run
RUN/<stage>/metrics.jsonl   one JSON record per log/validation step (rank 0)
RUN/<stage>/tb/             TensorBoard events, when tensorboard is installed

Running again on the same RUN resumes from the checkpoint; a larger step count continues.
The learning rate is a function of the step (linear warm-up, then cosine or constant), so the
schedule needs no state of its own.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

import torch

from ..typed import to_dict
from ..errors import DataError, StcclError, TrainingError
from ..fs import atomic_path, ensure_writable_dir, write_text_atomic
from ..interrupts import terminate_like_interrupt
from . import dist
from .config import TrainConfig

log = logging.getLogger(__name__)
CHECKPOINT = "checkpoint.pt"


class Task(Protocol):
    """What a stage supplies. `step` calls `trainer.backward(loss, name)` once per optimizer.

    Training batches come from `batches(start)` when the task has it; otherwise the Trainer
    builds a DataLoader over `train_set` with the step-indexed `sampler` (stccl.data.windows).
    """

    name: str
    items_per_step: int  # images per step and process, for the throughput figure

    def modules(self) -> dict[str, torch.nn.Module]: ...
    def optimizers(self) -> dict[str, torch.optim.Optimizer]: ...
    def step(self, batch: Any, trainer: "Trainer") -> dict[str, float]: ...
    def validate(self, trainer: "Trainer") -> dict[str, float]: ...
    def export(self, path: Path, step: int) -> None: ...


class SingleModelTask:
    """Shared by the tasks that train one `model` with one optimizer `opt` on `train_set`."""

    name: str
    model: torch.nn.Module
    opt: torch.optim.Optimizer
    sampler: Any  # stccl.data.windows.StepBatches

    @property
    def steps_per_epoch(self) -> int:
        return self.sampler.steps_per_epoch

    def modules(self) -> dict[str, torch.nn.Module]:
        return {self.name: self.model}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {self.name: self.opt}


@dataclass
class Runtime:
    """Device, process group and precision of a run."""

    device: torch.device
    dist: dist.DistInfo
    amp_dtype: torch.dtype | None
    channels_last: bool

    @classmethod
    def create(cls, cfg: TrainConfig) -> "Runtime":
        from ..devices import resolve_device

        device = torch.device(resolve_device(cfg.device))
        info = dist.init(device)
        device = dist.local_device(device, info)
        use_amp = cfg.amp == "bf16" or (cfg.amp == "auto" and device.type == "cuda")
        seed_all(cfg.seed + 1_000_003 * info.rank)  # before the task builds its models
        return cls(device, info, torch.bfloat16 if use_amp else None,
                   cfg.channels_last and device.type == "cuda")

    def autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def to_device(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x


def learning_rate(cfg: TrainConfig, step: int, total: int) -> float:
    if cfg.warmup and step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    if cfg.schedule == "constant":
        return cfg.lr
    t = (step - cfg.warmup) / max(1, total - cfg.warmup)
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


@dataclass
class FitResult:
    stage: str
    start: int  # the step it started from (0, or the resumed step)
    step: int  # the step it reached
    export: Path | None
    skipped: bool  # the stage was already done
    last: dict[str, float]  # the last logged values


class Trainer:
    def __init__(self, task: Task, cfg: TrainConfig, runtime: Runtime, run_dir: Path,
                 total_steps: int, config: Any, export_path: Path,
                 on_step: Callable[[int, int, dict[str, float]], None] | None = None):
        self.task, self.cfg, self.rt = task, cfg, runtime
        self.dir = Path(run_dir) / task.name
        self.total = total_steps
        self.config = to_dict(config)
        self.export_path = export_path
        self.on_step = on_step
        self.step = 0
        self.grad_norm: dict[str, float] = {}
        self._tb = None

    # -- what a task's step calls ---------------------------------------------------------------
    def backward(self, loss: torch.Tensor, optimizer: str, terms: dict[str, float] | None = None, *,
                 part: int = 0, parts: int = 1) -> None:
        """NaN guard, backward, gradient averaging (DDP), clipping, optimizer step. A batch
        whose loss comes in `parts` pieces (micro-batches, each already weighted by its share)
        accumulates their gradients; the step follows the last piece."""
        value = float(loss.detach())
        if dist.any_true(not math.isfinite(value), self.rt.device, self.rt.dist):
            shown = ", ".join(f"{k}={v:.4g}" for k, v in (terms or {}).items())
            raise TrainingError(
                f"step {self.step + 1}: the {optimizer} loss is not finite ({value}{'; ' + shown if shown else ''}); "
                f"stopped, the last good checkpoint is kept in {self.dir}; lower --lr or check the data")
        opt = self.task.optimizers()[optimizer]
        if part == 0:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        if part < parts - 1:
            return
        params = [p for g in opt.param_groups for p in g["params"]]
        dist.average_gradients(params, self.rt.dist)
        if self.cfg.grad_clip > 0:
            norm = float(torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip))
            if not math.isfinite(norm):
                raise TrainingError(f"step {self.step + 1}: the {optimizer} gradient norm is not finite; stopped, "
                                    f"the last good checkpoint is kept in {self.dir}; lower --lr")
            self.grad_norm[optimizer] = norm
        opt.step()

    # -- the loop -------------------------------------------------------------------------------
    def fit(self) -> FitResult:
        main = self.rt.dist.main
        if main:
            ensure_writable_dir(self.dir)
        start = self._resume()
        if start >= self.total and self.export_path.is_file():
            log.info("%s: already trained to step %d (%s); skipped", self.task.name, start, self.export_path)
            return FitResult(self.task.name, start, start, self.export_path, True, {})
        if main:
            write_text_atomic(self.dir / "config.toml", _toml(self.config))
            self._trim_metrics(start)
            self._tb = _tensorboard(self.dir / "tb")
        self.step = start
        last: dict[str, float] = {}
        window: dict[str, list[float]] = {}
        if start == 0 and self.cfg.val_every > 0:
            self._log(self._validate())  # the untrained model's diagnostics, for comparison
        t0, n0 = time.perf_counter(), start
        batches = self._batches(start)
        try:
            with terminate_like_interrupt():
                while self.step < self.total:
                    if self.step % max(1, self.cfg.checkpoint_every) == 0 and self.step != start:
                        self._save()
                    lr = learning_rate(self.cfg, self.step, self.total)
                    for opt in self.task.optimizers().values():
                        for g in opt.param_groups:
                            g["lr"] = lr
                    batch = next(batches)
                    with self.rt.autocast():
                        logs = self.task.step(batch, self)
                    self.step += 1
                    for k, v in logs.items():
                        window.setdefault(k, []).append(float(v))
                    if self.step % self.cfg.log_every == 0 or self.step == self.total:
                        now = time.perf_counter()
                        rec = dist.mean({k: sum(v) / len(v) for k, v in window.items()}, self.rt.device, self.rt.dist)
                        rec["lr"] = lr
                        rec.update({f"grad_norm/{k}": v for k, v in self.grad_norm.items()})
                        rec["images_per_s"] = (self.step - n0) * self.task.items_per_step * self.rt.dist.world / max(now - t0, 1e-9)
                        t0, n0, window = now, self.step, {}
                        if self.cfg.val_every > 0 and (self.step % self.cfg.val_every == 0 or self.step == self.total):
                            rec.update(self._validate())
                        last = rec
                        self._log(rec)
                    if self.on_step and main:
                        self.on_step(self.step, self.total, last)
        except KeyboardInterrupt:
            self._save()
            if main:
                log.warning("interrupted: checkpoint saved at step %d; run the same command to resume", self.step)
            raise
        finally:
            if self._tb is not None:
                self._tb.close()
        self._save()
        if main:
            self.task.export(self.export_path, self.step)
        dist.barrier(self.rt.dist)
        return FitResult(self.task.name, start, self.step, self.export_path, False, last)

    def _batches(self, start: int) -> Iterator[Any]:
        if hasattr(self.task, "batches"):
            return self.task.batches(start)
        sampler = self.task.sampler
        sampler.start = start
        workers = self.cfg.workers
        loader = torch.utils.data.DataLoader(
            self.task.train_set, batch_sampler=sampler, num_workers=workers,
            pin_memory=self.rt.device.type == "cuda", persistent_workers=workers > 0,
            generator=torch.Generator().manual_seed(self.cfg.seed + start))  # not the global RNG
        return _worker_errors(iter(loader)) if workers else iter(loader)

    def _validate(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.rt.dist.main:
            for m in self.task.modules().values():
                m.eval()
            try:
                with _rng_untouched(self.rt.device), torch.no_grad(), self.rt.autocast():
                    out = {f"val/{k}": v for k, v in self.task.validate(self).items()}
            finally:
                for m in self.task.modules().values():
                    m.train()
        dist.barrier(self.rt.dist)
        return out

    def _log(self, rec: dict[str, float]) -> None:
        if not self.rt.dist.main:
            return
        rec = {"step": self.step, **{k: round(v, 6) for k, v in rec.items()}}
        with open(self.dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(rec) + "\n")
        if self._tb is not None:
            for k, v in rec.items():
                if k != "step":
                    self._tb.add_scalar(k, v, self.step)

    # -- checkpoints ----------------------------------------------------------------------------
    def _save(self) -> None:
        if not self.rt.dist.main:
            return
        state = {
            "step": self.step,
            "stage": self.task.name,
            "config": json.dumps(self.config),
            "modules": {k: m.state_dict() for k, m in self.task.modules().items()},
            "optimizers": {k: o.state_dict() for k, o in self.task.optimizers().items()},
            "rng": {"torch": torch.get_rng_state(), "python": list(random.getstate()[1]),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
        }
        with atomic_path(self.dir / CHECKPOINT) as tmp:
            torch.save(state, tmp)

    def _resume(self) -> int:
        path = self.dir / CHECKPOINT
        if not path.is_file():
            for m in self.task.modules().values():
                dist.broadcast_module(m, self.rt.dist)
            return 0
        try:
            state = torch.load(path, map_location=self.rt.device, weights_only=True)
        except Exception as e:  # a truncated or foreign file
            raise TrainingError(f"{path}: cannot read the checkpoint ({type(e).__name__}); "
                                "delete it to start this stage again") from None
        saved = json.loads(state["config"])
        if any(saved.get(k) != self.config.get(k) for k in ("model", "data", "disc", "loss")):
            raise TrainingError(f"{self.dir}: holds a run with another model/data config; "
                                "use a new -o folder, or the same preset and config")
        for k, m in self.task.modules().items():
            m.load_state_dict(state["modules"][k])
        for k, o in self.task.optimizers().items():
            o.load_state_dict(state["optimizers"][k])
        step = int(state["step"])
        if self.rt.dist.main:
            torch.set_rng_state(state["rng"]["torch"].cpu())
            random.setstate((3, tuple(state["rng"]["python"]), None))
            if state["rng"]["cuda"] and torch.cuda.is_available():
                torch.cuda.set_rng_state_all([s.cpu() for s in state["rng"]["cuda"]])
        else:
            seed_all(self.cfg.seed + 1_000_003 * self.rt.dist.rank + step)
        log.info("%s: resumed from step %d", self.task.name, step)
        return step

    def _trim_metrics(self, start: int) -> None:
        """Drop log records past the checkpoint (a killed run logged steps it did not save)."""
        path = self.dir / "metrics.jsonl"
        if path.is_file():
            keep = [ln for ln in path.read_text().splitlines() if ln.strip() and json.loads(ln)["step"] <= start]
            write_text_atomic(path, "".join(ln + "\n" for ln in keep))


def fit_stage(task: Any, cfg: TrainConfig, runtime: Runtime, run_dir: Path, config: Any,
              on_step: Callable[[int, int, dict[str, float]], None] | None = None) -> FitResult:
    """Train `task` for `cfg.steps` (or `cfg.epochs` passes), resuming or skipping as the run
    folder says, and export RUN/<task.name>.safetensors."""
    total = cfg.epochs * task.steps_per_epoch if cfg.epochs > 0 else cfg.steps
    if total < 1:
        raise DataError("nothing to train: steps (or epochs) must be at least 1")
    export = Path(run_dir) / f"{task.name}.safetensors"
    return Trainer(task, cfg, runtime, run_dir, total, config, export, on_step).fit()


def seed_all(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:
        pass


def _toml(config: dict) -> str:
    import tomli_w

    return tomli_w.dumps({k: v for k, v in config.items() if v is not None})


def _tensorboard(path: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(path))


@contextmanager
def _rng_untouched(device: torch.device):
    """Random states as they were on entry, so that training does not depend on how often it
    validates (torch, its CUDA device, numpy and Python's random)."""
    import numpy as np

    py, npy = random.getstate(), np.random.get_state()
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        try:
            yield
        finally:
            random.setstate(py)
            np.random.set_state(npy)


def _worker_errors(batches: Iterator[Any]) -> Iterator[Any]:
    """A loader worker's StcclError (a damaged JPEG in a prepared clip, say) comes back from
    torch as "Caught DataError in DataLoader worker ... Original Traceback ...": raise it again
    with its own one-line message, so that the CLI prints that line and no traceback."""
    try:
        yield from batches
    except StcclError as e:
        text = str(e)
        if not text.startswith("Caught "):
            raise
        last = text.rstrip().splitlines()[-1]
        raise type(e)(last.split(": ", 1)[-1]) from None
