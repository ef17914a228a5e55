"""The metric stage: train the coherent-correlation metric on cross-emotion pairs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import torch

from ..data.store import require_pairs
from ..data.split import split_actors
from ..data.windows import PairWindows, StepBatches
from ..errors import DataError
from ..models.correlation import CorrelationMetric
from ..models.io import save_model
from ..typed import to_dict
from .config import MetricRunConfig
from .trainer import FitResult, Runtime, SingleModelTask, Trainer, fit_stage

log = logging.getLogger(__name__)

def augmenter():
    """The same photometric + small geometric change on both streams and every frame of a window."""
    import kornia.augmentation as K

    return K.VideoSequential(
        K.ColorJiggle(0.2, 0.2, 0.2, 0.02, p=0.8),
        K.RandomHorizontalFlip(),
        K.RandomAffine(degrees=4, translate=(0.03, 0.03), scale=(0.95, 1.05), p=0.8),
        data_format="BTCHW", same_on_frame=True)


class MetricTask(SingleModelTask):
    name = "metric"

    def __init__(self, root: Path, cfg: MetricRunConfig, rt: Runtime):
        ds = require_pairs(root)
        self.cfg, self.rt, self.root = cfg, rt, Path(root)
        train_idx, val_idx, self.held_out = split_actors(ds.pairs, cfg.data.val_actors)
        t, size = cfg.data.window, cfg.model.size
        if t < 1:
            raise DataError(f"window must be at least 1 frame, got {t}")
        self.train_set = PairWindows(root, train_idx, t, size)
        self.val_set = PairWindows(root, val_idx, t, size) if val_idx else None
        if self.val_set is None or len(self.val_set) == 0:
            log.warning("no held-out actor with pairs: validation uses training windows")
            self.val_set = self.train_set
        self.sampler = StepBatches(len(self.train_set), cfg.train.batch, cfg.train.seed,
                                   rank=rt.dist.rank, world=rt.dist.world)
        self.model = CorrelationMetric(cfg.model).to(rt.device)
        if rt.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.train.lr,
                                    weight_decay=cfg.train.weight_decay)
        self.aug = augmenter().to(rt.device) if cfg.data.augment else None
        self.items_per_step = 2 * cfg.train.batch * t  # both streams go through the backbone

    def step(self, batch, trainer: Trainer) -> dict[str, float]:
        a, b = (self.rt.to_device(x) for x in batch)  # (B,T,3,S,S)
        t = a.shape[1]
        if self.aug is not None:
            with torch.autocast(self.rt.device.type, enabled=False):
                ab = self.aug(torch.cat([a, b], 1))
            a, b = ab[:, :t], ab[:, t:]
        if self.cfg.data.swap:
            flip = (torch.rand(a.shape[0], device=a.device) < 0.5).view(-1, 1, 1, 1, 1)
            a, b = torch.where(flip, b, a), torch.where(flip, a, b)
        if t == 1:
            a, b = a[:, 0], b[:, 0]
        out = self.model(a, b)
        logs = {k: float(v.detach()) for k, v in out.items()}
        trainer.backward(out["loss"], "metric", logs)
        return logs

    def validation_batches(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.val_set)
        bsz = min(self.cfg.train.batch, n)
        count = min(self.cfg.train.val_batches, max(1, n // bsz))
        picks = torch.linspace(0, n - 1, count * bsz).round().long().tolist()
        items = [self.val_set[i] for i in picks]
        return [tuple(torch.stack([it[s] for it in items[k:k + bsz]]) for s in (0, 1))
                for k in range(0, len(items), bsz)]

    def validate(self, trainer: Trainer | None = None) -> dict[str, float]:
        """Mean loss and the pos/neg cosine diagnostics on held-out pairs (fixed windows and positions)."""
        gen = torch.Generator().manual_seed(1234)
        sums: dict[str, float] = {}
        batches = self.validation_batches()
        for a, b in batches:
            a, b = a.to(self.rt.device), b.to(self.rt.device)
            if a.shape[1] == 1:
                a, b = a[:, 0], b[:, 0]
            vals = {"loss": float(self.model(a, b, generator=gen)["loss"])}
            vals.update(self.model.diagnostics(a.flatten(0, 1) if a.dim() == 5 else a,
                                               b.flatten(0, 1) if b.dim() == 5 else b, gen))
            for k, v in vals.items():
                sums[k] = sums.get(k, 0.0) + v
        return {k: v / len(batches) for k, v in sums.items()}

    def export(self, path: Path, step: int) -> None:
        save_model(self.model, self.cfg.model, path, kind="metric",
                   extra={"steps": step, "train": to_dict(self.cfg.train), "data": to_dict(self.cfg.data),
                          "held_out": self.held_out})


def train_metric(root: Path, run_dir: Path, cfg: MetricRunConfig,
                 on_step: Callable[[int, int, dict[str, float]], None] | None = None) -> FitResult:
    """Train (or resume, or skip when done) the metric stage; export RUN/metric.safetensors."""
    rt = Runtime.create(cfg.train)
    task = MetricTask(root, cfg, rt)
    log.info("metric: %d training windows (%d per epoch of steps), %d validation windows, held-out actors: %s, %s",
             len(task.train_set), task.steps_per_epoch, len(task.val_set),
             ", ".join(task.held_out) or "none", rt.device)
    return fit_stage(task, cfg.train, rt, run_dir, cfg, on_step)
