"""The metric stage: train the coherent-correlation metric on cross-emotion pairs."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable

import torch

from ..data.store import require_pairs
from ..data.split import split_actors
from ..data.windows import PairWindows, StepBatches, select_pairs
from ..errors import DataError
from ..models.correlation import CorrelationMetric
from ..models.io import save_model
from ..models.iresnet import init_backbone
from ..typed import to_dict
from .config import MetricRunConfig
from ..data.retrieval import retrieval_scores
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
        data = cfg.data
        keep = select_pairs(ds, data.emotions, data.levels, data.views)
        if not keep:
            raise DataError(f"{root}: no pair is left after the data selection (emotions {data.emotions or 'all'}, "
                            f"levels {data.levels or 'all'}, views {data.views or 'all'})")
        pairs = [ds.pairs[k] for k in keep]
        train, val, self.held_out = split_actors(pairs, data.val_actors, prefer=data.val_prefer,
                                                 exclude=data.exclude_actors)
        if data.val_prefer and not data.val_actors and not set(data.val_prefer) & set(self.held_out):
            log.info("validation actor %s is not in the data: validating on %s (choose with --val-actors)",
                     " ".join(data.val_prefer), ", ".join(self.held_out) or "the training windows")
        train_idx, val_idx = [keep[k] for k in train], [keep[k] for k in val]
        t, size = data.window, cfg.model.size
        self.train_set = PairWindows(root, train_idx, t, size, data.stride, data.time_negatives,
                                     cfg.train.seed)
        self.val_set = PairWindows(root, val_idx, t, size, data.stride) if val_idx else None
        if self.val_set is None or len(self.val_set) == 0:
            log.warning("no held-out actor with pairs: validation uses training windows")
            self.val_set = self.train_set
        self.sampler = StepBatches(len(self.train_set), cfg.train.batch, cfg.train.seed,
                                   rank=rt.dist.rank, world=rt.dist.world)
        self.model = CorrelationMetric(cfg.model)
        if cfg.backbone_init:
            log.info("%s", init_backbone(self.model.backbone, cfg.backbone_init))
        self.model = self.model.to(rt.device)
        if rt.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.train.lr,
                                    weight_decay=cfg.train.weight_decay)
        self.aug = augmenter().to(rt.device) if cfg.data.augment else None
        self.items_per_step = 2 * cfg.train.batch * t  # both streams go through the backbone
        self.micro_batch = cfg.train.micro_batch or fitting_micro_batch(cfg, rt.device)
        if self.micro_batch < cfg.train.batch:
            log.info("metric: %d sample(s) per forward pass, %d passes per step, to fit in memory "
                     "(gradients accumulate; BatchNorm sees one pass at a time)", self.micro_batch,
                     -(-cfg.train.batch // self.micro_batch))

    @property
    def steps_per_epoch(self) -> int:
        """Windows per epoch, or aligned frame pairs as the reference counts an epoch."""
        if self.cfg.data.epoch == "frame_pairs":
            return max(1, self.train_set.frame_pairs // (self.cfg.train.batch * self.rt.dist.world))
        return self.sampler.steps_per_epoch

    def step(self, batch, trainer: Trainer) -> dict[str, float]:
        streams = [self.rt.to_device(x) for x in batch]  # a, b (B,T,3,S,S) [, na, nb (B,K,3,S,S)]
        t = streams[0].shape[1]
        if self.aug is not None:  # one draw for every frame of the sample, negatives included
            with torch.autocast(self.rt.device.type, enabled=False):
                both = self.aug(torch.cat(streams, 1))
            streams = list(both.split([s.shape[1] for s in streams], 1))
        if self.cfg.data.swap:
            flip = (torch.rand(streams[0].shape[0], device=streams[0].device) < 0.5).view(-1, 1, 1, 1, 1)
            for i in range(0, len(streams), 2):  # (a, b) and (na, nb) swap together
                streams[i], streams[i + 1] = (torch.where(flip, streams[i + 1], streams[i]),
                                              torch.where(flip, streams[i], streams[i + 1]))
        a, b = streams[:2]
        neg = streams[3] if len(streams) == 4 else None  # the key take's frames at other moments
        if t == 1:
            a, b = a[:, 0], b[:, 0]
        n, m = len(a), self.micro_batch
        starts = range(0, n, m)
        logs: dict[str, float] = {}
        for part, k in enumerate(starts):  # micro-batches: the loss is a mean over samples
            out = self.model(a[k:k + m], b[k:k + m], negatives=None if neg is None else neg[k:k + m])
            share = len(a[k:k + m]) / n
            for key, v in out.items():
                logs[key] = logs.get(key, 0.0) + share * float(v.detach())
            trainer.backward(out["loss"] * share, "metric", logs, part=part, parts=len(starts))
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
        """The mean loss on fixed held-out windows, and the retrieval diagnostics on the
        held-out pairs (stccl.data.retrieval): pos, neg, retrieval@1, retrieval_chance and
        retrieval@1_centred."""
        gen = torch.Generator().manual_seed(1234)
        batches = self.validation_batches()
        loss = 0.0
        for a, b in batches:
            a, b = a.to(self.rt.device), b.to(self.rt.device)
            if a.shape[1] == 1:
                a, b = a[:, 0], b[:, 0]
            loss += float(self.model(a, b, generator=gen)["loss"])
        out = {"loss": loss / len(batches)}
        pairs = sorted({w.pair for w in self.val_set.windows})
        k = self.cfg.data.val_pairs
        if k and len(pairs) > k:  # evenly spread, the same ones at every validation
            pairs = [pairs[i] for i in torch.linspace(0, len(pairs) - 1, k).round().long().tolist()]
        out.update(retrieval_scores(self.model, self.root, pairs, self.cfg.model.size, self.rt.device,
                                    far=max(2, self.cfg.data.window)))
        return out

    def export(self, path: Path, step: int) -> None:
        save_model(self.model, self.cfg.model, path, kind="metric",
                   extra={"steps": step, "train": to_dict(self.cfg.train), "data": to_dict(self.cfg.data),
                          "held_out": self.held_out, "backbone_init": self.cfg.backbone_init})


ACTIVATION_BYTES = {18: 6e3, 34: 7e3, 50: 8e3}  # fp32 backbone activations with gradients, per pixel


def fitting_micro_batch(cfg: MetricRunConfig, device: torch.device) -> int:
    """The most samples per forward/backward whose activations fit in a share of the memory
    (of the GPU's free memory, else of the machine's RAM); the whole batch when it fits."""
    if device.type == "cuda":
        budget = 0.6 * torch.cuda.mem_get_info(device)[0]
    else:
        budget = 0.4 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    per_sample = 1.3 * ACTIVATION_BYTES[cfg.model.depth] * cfg.data.window * cfg.model.size ** 2
    most = max(1, min(cfg.train.batch, int(budget // per_sample)))
    passes = -(-cfg.train.batch // most)
    return -(-cfg.train.batch // passes)  # passes of equal size


def train_metric(root: Path, run_dir: Path, cfg: MetricRunConfig,
                 on_step: Callable[[int, int, dict[str, float]], None] | None = None) -> FitResult:
    """Train (or resume, or skip when done) the metric stage; export RUN/metric.safetensors."""
    rt = Runtime.create(cfg.train)
    task = MetricTask(root, cfg, rt)
    log.info("metric: %d training windows of %d pairs (%d steps per epoch of %s), %d validation windows, "
             "held-out actors: %s, %s", len(task.train_set), len({w.pair for w in task.train_set.windows}),
             task.steps_per_epoch, cfg.data.epoch.replace("_", " "), len(task.val_set),
             ", ".join(task.held_out) or "none", rt.device)
    return fit_stage(task, cfg.train, rt, run_dir, cfg, on_step)
