"""The classifier stage: train the emotion classifier that evaluation uses to score edits.

It learns to name the emotion of one aligned face crop (EMOTIONS). Evaluation only: it must
never be a training signal for the generator (the generator has its own discriminator with an
emotion head), or the evaluation would score what the generator was optimised against.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Callable

import torch
from torch.nn import functional as F

from ..data.frames import EmotionWindows, require_labelled, split_clip_actors
from ..data.windows import StepBatches
from ..emotions import EMOTIONS
from ..errors import InputError
from ..models.classifier import EmotionClassifier
from ..models.io import save_model
from ..typed import to_dict
from .config import ClassifierRunConfig
from .trainer import FitResult, Runtime, SingleModelTask, Trainer, fit_stage

log = logging.getLogger(__name__)
CALIBRATION_FRAMES = 512  # training frames that re-estimate BatchNorm statistics for validation and export


def augmenter():
    """Photometric + small geometric change, drawn per image."""
    import kornia.augmentation as K

    return K.AugmentationSequential(
        K.ColorJiggle(0.2, 0.2, 0.2, 0.02, p=0.8),
        K.RandomHorizontalFlip(),
        K.RandomAffine(degrees=6, translate=(0.04, 0.04), scale=(0.93, 1.07), p=0.8))


def class_weights(labels: list[int], n: int) -> torch.Tensor:
    """Inverse class frequency, normalised so a balanced set has weight 1; 0 for absent classes."""
    counts = torch.bincount(torch.tensor(labels, dtype=torch.long), minlength=n).float()
    present = counts > 0
    w = torch.zeros(n)
    w[present] = counts.sum() / (present.sum() * counts[present])
    return w


def _frames(batch) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = batch  # (B,1,3,S,S), (B,)
    return x[:, 0], torch.as_tensor(y, dtype=torch.long)


def _fixed_frames(dataset: EmotionWindows, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` frames spread evenly over `dataset`: (count,3,S,S) uint8, (count,) labels."""
    picks = torch.linspace(0, len(dataset) - 1, count).round().long().tolist()
    items = [dataset[i] for i in picks]
    x = torch.stack([it[0][0] for it in items]).mul_(255).round_().to(torch.uint8)
    return x, torch.tensor([it[1] for it in items], dtype=torch.long)


@torch.no_grad()
def recalibrate_batchnorm(model: torch.nn.Module, frames: torch.Tensor, batch: int,
                          prepare: Callable[[torch.Tensor], torch.Tensor]) -> torch.nn.Module:
    """Re-estimate every BatchNorm's running statistics as exact averages over `frames` with the
    current weights (precise BN). The running averages kept during training lag the weights; in
    short runs the lag alone can turn a model that is right in training mode wrong in eval mode."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return model
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    was_training = model.training
    model.eval()  # dropout off: no random numbers drawn, so validating does not change training
    for m in bns:
        m.train()
    try:
        for k in range(0, len(frames), batch):
            model(prepare(frames[k:k + batch]))
    finally:
        for m, mom in zip(bns, momenta):
            m.momentum = mom
        model.train(was_training)
    return model


class ClassifierTask(SingleModelTask):
    name = "classifier"

    def __init__(self, root: Path, cfg: ClassifierRunConfig, rt: Runtime):
        if cfg.model.n_emotions != len(EMOTIONS):
            raise InputError(f"model.n_emotions must be {len(EMOTIONS)} (the emotions {', '.join(EMOTIONS)}), "
                             f"got {cfg.model.n_emotions}")
        _, records = require_labelled(root)
        self.cfg, self.rt, self.root = cfg, rt, Path(root)
        train_rec, val_rec, self.held_out = split_clip_actors(records, cfg.data.val_actors)
        size = cfg.model.size
        self.train_set = EmotionWindows(root, train_rec, 1, size)
        self.val_set = EmotionWindows(root, val_rec, 1, size) if val_rec else None
        if self.val_set is None or len(self.val_set) == 0:
            log.warning("no held-out actor with labelled frames: validation uses training frames")
            self.val_set = self.train_set
        self.sampler = StepBatches(len(self.train_set), cfg.train.batch, cfg.train.seed,
                                   rank=rt.dist.rank, world=rt.dist.world)
        self.weights = class_weights(self.train_set.emotions(), len(EMOTIONS)).to(rt.device)
        self.model = EmotionClassifier(cfg.model).to(rt.device)
        if rt.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.train.lr,
                                    weight_decay=cfg.train.weight_decay)
        self.aug = augmenter().to(rt.device) if cfg.data.augment else None
        self.items_per_step = cfg.train.batch
        self._val: list[tuple[torch.Tensor, torch.Tensor]] | None = None
        self._calibration: torch.Tensor | None = None

    def counts(self, dataset: EmotionWindows) -> dict[str, int]:
        out: dict[str, int] = {}
        for e in dataset.emotions():
            out[EMOTIONS[e]] = out.get(EMOTIONS[e], 0) + 1
        return dict(sorted(out.items()))

    def step(self, batch, trainer: Trainer) -> dict[str, float]:
        x, y = _frames(batch)
        x, y = self.rt.to_device(x), y.to(self.rt.device)
        if self.aug is not None:
            with torch.autocast(self.rt.device.type, enabled=False):
                x = self.aug(x)
            if self.rt.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
        logits = self.model(x).float()
        loss = F.cross_entropy(logits, y, weight=self.weights)
        acc = float((logits.detach().argmax(1) == y).float().mean())
        logs = {"loss": float(loss.detach()), "acc": acc}
        trainer.backward(loss, "classifier", logs)
        return logs

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        return self.rt.to_device(x).float().div_(255)

    def validation_batches(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Fixed frames spread evenly over the validation set, decoded once: (uint8 frames, labels)."""
        if self._val is None:
            n = len(self.val_set)
            bsz = min(self.cfg.train.batch, n)
            count = min(self.cfg.train.val_batches, max(1, n // bsz))
            x, y = _fixed_frames(self.val_set, count * bsz)
            self._val = [(x[k:k + bsz], y[k:k + bsz]) for k in range(0, len(y), bsz)]
        return self._val

    def calibrated(self) -> EmotionClassifier:
        """A copy of the model in eval mode with BatchNorm statistics re-estimated on fixed,
        unaugmented training frames; the training model itself is left untouched (exact resume)."""
        if self._calibration is None:
            self._calibration = _fixed_frames(self.train_set, min(CALIBRATION_FRAMES, len(self.train_set)))[0]
        model = copy.deepcopy(self.model)
        with torch.autocast(self.rt.device.type, enabled=False):
            recalibrate_batchnorm(model, self._calibration, self.cfg.train.batch, self._input)
        return model.eval()

    @torch.no_grad()
    def validate(self, trainer: Trainer | None = None) -> dict[str, float]:
        """Plain (unweighted) cross-entropy, accuracy, per-emotion accuracy of the emotions present,
        and their mean (balanced accuracy), on frames of the held-out actors."""
        model = self.calibrated()
        loss_sum, labels, preds = 0.0, [], []
        for x, y in self.validation_batches():
            y = y.to(self.rt.device)
            logits = model(self._input(x)).float()
            loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
            labels.append(y.cpu())
            preds.append(logits.argmax(1).cpu())
        y, p = torch.cat(labels), torch.cat(preds)
        hit = (p == y).float()
        out = {"loss": loss_sum / len(y), "acc": float(hit.mean())}
        per = {EMOTIONS[e]: float(hit[y == e].mean()) for e in sorted(set(y.tolist()))}
        out.update({f"acc/{k}": v for k, v in per.items()})
        out["balanced_acc"] = sum(per.values()) / len(per)
        return out

    def export(self, path: Path, step: int) -> None:
        save_model(self.calibrated(), self.cfg.model, path, kind="classifier",
                   extra={"steps": step, "emotions": list(EMOTIONS), "train": to_dict(self.cfg.train),
                          "data": to_dict(self.cfg.data), "held_out": self.held_out})


def train_classifier(root: Path, run_dir: Path, cfg: ClassifierRunConfig,
                     on_step: Callable[[int, int, dict[str, float]], None] | None = None) -> FitResult:
    """Train (or resume, or skip when done) the classifier stage; export RUN/classifier.safetensors."""
    rt = Runtime.create(cfg.train)
    task = ClassifierTask(root, cfg, rt)
    log.info("classifier: %d training frames %s (%d steps per epoch), %d validation frames %s, "
             "held-out actors: %s, %s", len(task.train_set), task.counts(task.train_set), task.steps_per_epoch,
             len(task.val_set), task.counts(task.val_set), ", ".join(task.held_out) or "none", rt.device)
    unseen = sorted(set(task.counts(task.val_set)) - set(task.counts(task.train_set)))
    if unseen:
        log.warning("validation emotion(s) %s never appear in training: their accuracy can only be 0; "
                    "hold out another actor (data.val_actors) to measure them", ", ".join(unseen))
    return fit_stage(task, cfg.train, rt, run_dir, cfg, on_step)
