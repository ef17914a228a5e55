"""The generator stage: G(x, e, a) against a PatchGAN with an emotion head, supervised by the
frozen STCCL metric (the metric's loss between the output and the input window).

Per step, on windows x (B,T,3,S,S) of source emotion e_src, a target e_tgt != e_src and an
intensity a in [alpha_min, 1]:
  D: hinge(D(x), real) + hinge(D(G(x, e_tgt, a)), fake) + cls * CE(D_cls(x), e_src)
  G: adv * -D(y) + cls * CE(D_cls(y), e_tgt) + cycle * |G(y, e_src, a) - x| + identity * |G(x, e_src, 1) - x|
     + stccl * metric(y, x) over the window + mask * mean(m) + mask_tv * TV(m) + flow_tv * TV(flow / S)
with y = G(x, e_tgt, a). Every term is logged on its own.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from ..typed import to_dict
from ..data.frames import EmotionWindows, require_labelled, split_clip_actors
from ..data.windows import StepBatches
from ..emotions import EMOTIONS
from ..errors import DataError, InputError
from ..models.discriminator import Discriminator
from ..models.generator import Generator
from ..loss import STCCLLoss
from ..models.io import save_model
from .config import GeneratorRunConfig
from .samples import sample_grid, save_png
from .trainer import FitResult, Runtime, Trainer, fit_stage

log = logging.getLogger(__name__)
NO_METRIC = ("the STCCL loss needs a trained metric: train one with `stccl train --stage metric` and pass "
             "--metric RUN/metric.safetensors, or set --stccl-weight 0 to train without it (the ablation)")


def tv(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels (B,C,H,W)."""
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


def other_emotions(src: torch.Tensor, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """A random emotion different from each source emotion."""
    shift = torch.randint(1, n, src.shape, generator=generator)
    return (src.cpu() + shift) % n


class GeneratorTask:
    name = "generator"

    def __init__(self, root: Path, cfg: GeneratorRunConfig, rt: Runtime, run_dir: Path):
        _, records = require_labelled(root)
        self.cfg, self.rt, self.dir = cfg, rt, Path(run_dir) / self.name
        if cfg.model.size != cfg.disc.size:
            raise InputError(f"generator size {cfg.model.size} and discriminator size {cfg.disc.size} differ")
        train_rec, val_rec, self.held_out = split_clip_actors(records, cfg.data.val_actors)
        t, size = cfg.data.window, cfg.model.size
        self.train_set = EmotionWindows(root, train_rec, t, size)
        self.val_set = EmotionWindows(root, val_rec, t, size) if val_rec else None
        if self.val_set is None or len(self.val_set) == 0:
            log.warning("no held-out actor with labelled clips: validation uses training windows")
            self.val_set = self.train_set
        if len(set(self.train_set.emotions())) < 2:
            raise DataError(f"{root}: the training clips show fewer than 2 emotions; the generator learns "
                            "emotion changes from clips of several emotions")
        self.sampler = StepBatches(len(self.train_set), cfg.train.batch, cfg.train.seed,
                                   rank=rt.dist.rank, world=rt.dist.world)
        self.G = Generator(cfg.model).to(rt.device)
        self.D = Discriminator(cfg.disc).to(rt.device)
        if rt.channels_last:
            self.G = self.G.to(memory_format=torch.channels_last)
            self.D = self.D.to(memory_format=torch.channels_last)
        betas = tuple(cfg.betas)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.train.lr, betas=betas,
                                      weight_decay=cfg.train.weight_decay)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.train.lr, betas=betas)
        self.metric, self.metric_info = self._load_metric(run_dir)
        self.items_per_step = cfg.train.batch * t

    def _load_metric(self, run_dir: Path):
        if self.cfg.loss.stccl <= 0:
            return None, {"path": None, "steps": 0}
        path = Path(self.cfg.metric) if self.cfg.metric else Path(run_dir) / "metric.safetensors"
        if not path.is_file():
            raise InputError(f"{path} not found; {NO_METRIC}")
        metric = STCCLLoss.from_file(path, self.rt.device)
        t = self.cfg.data.window
        if t > 1 and metric.window not in (None, t):
            raise InputError(f"{path} was trained on windows of {metric.window} frames and the generator's are {t}: "
                             f"train with --window {metric.window}, or give a metric trained on {t}-frame windows")
        if metric.steps == 0:
            log.warning("%s is an untrained metric: the STCCL term will not mean much", path)
        if t < 2:
            log.warning("window 1: the STCCL loss has no temporal term")
        return metric, {"path": str(path), "steps": metric.steps, "size": metric.size}

    @property
    def steps_per_epoch(self) -> int:
        return self.sampler.steps_per_epoch

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"generator": self.G, "discriminator": self.D}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generator": self.opt_g, "discriminator": self.opt_d}

    # -- one step ---------------------------------------------------------------------------------
    def _stccl(self, y: torch.Tensor, x: torch.Tensor, b: int) -> torch.Tensor:
        """STCCLLoss(output, input) over the windows, in fp32; gradients reach y."""
        t = y.shape[0] // b
        if t > 1:
            y, x = y.reshape(b, t, *y.shape[1:]), x.reshape(b, t, *x.shape[1:])
        # in fp32 whatever the step's autocast: at tau 0.07 bf16's logit error blurs the hard
        # negatives (docs/metric.md, rows 16 and 23), in the generator's loss as in the metric's training
        with torch.autocast(y.device.type, enabled=False):
            return self.metric(y.float(), x.float())

    def step(self, batch, trainer: Trainer) -> dict[str, float]:
        x, e_src = batch
        b, t = x.shape[:2]
        if self.cfg.data.flip:
            flip = (torch.rand(b) < 0.5).view(b, 1, 1, 1, 1)
            x = torch.where(flip, x.flip(-1), x)
        e_tgt = other_emotions(e_src, len(EMOTIONS))
        alpha = self.cfg.loss.alpha_min + (1 - self.cfg.loss.alpha_min) * torch.rand(b)
        dev = self.rt.device
        x = self.rt.to_device(x.flatten(0, 1))
        src, tgt, a = (v.repeat_interleave(t).to(dev) for v in (e_src, e_tgt, alpha))
        stccl = (lambda y, x: self._stccl(y, x, b)) if self.metric is not None else None
        return adversarial_step(self.G, self.D, stccl, self.cfg.loss, x, src, tgt, a, trainer.backward)

    # -- validation and samples -------------------------------------------------------------------
    def _val_items(self) -> list[tuple[torch.Tensor, int]]:
        n = len(self.val_set)
        count = min(n, self.cfg.train.val_batches * self.cfg.train.batch)
        picks = torch.linspace(0, n - 1, count).round().long().tolist()
        return [self.val_set[i] for i in picks]

    def validate(self, trainer: Trainer | None = None) -> dict[str, float]:
        """Identity and cycle error, mask and flow size, D's target-emotion accuracy, STCCL, on
        held-out actors with fixed targets; saves the sample grid."""
        items = self._val_items()
        dev = self.rt.device
        sums: dict[str, float] = {}
        gen = torch.Generator().manual_seed(1234)
        bsz = self.cfg.train.batch
        for k in range(0, len(items), bsz):
            chunk = items[k:k + bsz]
            x = torch.stack([it[0] for it in chunk])
            b, t = x.shape[:2]
            e_src = torch.tensor([it[1] for it in chunk])
            e_tgt = other_emotions(e_src, len(EMOTIONS), gen)
            x = x.flatten(0, 1).to(dev)
            src, tgt = (v.repeat_interleave(t).to(dev) for v in (e_src, e_tgt))
            ones = torch.ones(b * t, device=dev)
            out = self.G(x, tgt, ones)
            y = out["image"]
            vals = {"identity": (self.G(x, src, ones)["image"] - x).abs().mean(),
                    "cycle": (self.G(y, src, ones)["image"] - x).abs().mean(),
                    "change": (y - x).abs().mean(),
                    "mask": out["mask"].mean(),
                    "flow_px": out["flow"].norm(dim=1).mean(),
                    "d_acc_target": (self.D(y)[1].argmax(1) == tgt).float().mean()}
            if self.metric is not None:
                vals["stccl"] = self._stccl(y, x, b)
            for key, v in vals.items():
                sums[key] = sums.get(key, 0.0) + float(v)
        n = max(1, -(-len(items) // bsz))
        if trainer is not None:
            self.save_samples(self.dir / "samples" / f"step_{trainer.step:06d}.png", items)
        return {key: v / n for key, v in sums.items()}

    def save_samples(self, path: Path, items: list[tuple[torch.Tensor, int]]) -> None:
        rows = items[:: max(1, len(items) // max(1, self.cfg.data.samples))][: self.cfg.data.samples]
        crops = torch.stack([it[0][0] for it in rows]).to(self.rt.device)
        save_png(sample_grid(self.G, crops, [it[1] for it in rows]), path)

    def export(self, path: Path, step: int) -> None:
        save_model(self.G, self.cfg.model, path, kind="generator",
                   extra={"steps": step, "train": to_dict(self.cfg.train), "data": to_dict(self.cfg.data),
                          "loss": to_dict(self.cfg.loss), "disc": to_dict(self.cfg.disc),
                          "metric": self.metric_info, "held_out": self.held_out})


def adversarial_step(G, D, stccl, w, x, src, tgt, a, backward) -> dict[str, float]:
    """One D update then one G update on frames x (N,3,S,S) with source/target emotions and
    intensities (N,); `stccl(y, x)` is the frozen metric's loss or None; `backward(loss, name, logs)`
    is Trainer.backward."""
    with torch.no_grad():
        fake = G(x, tgt, a)["image"]
    real_logit, real_cls = D(x)
    fake_logit, _ = D(fake)
    d_adv = F.relu(1 - real_logit).mean() + F.relu(1 + fake_logit).mean()
    d_cls = F.cross_entropy(real_cls.float(), src)
    logs = {"d/adv": float(d_adv.detach()), "d/cls": float(d_cls.detach()),
            "d/acc_real": float((real_cls.argmax(1) == src).float().mean())}
    backward(w.adv * d_adv + w.cls * d_cls, "discriminator", logs)

    D.requires_grad_(False)  # G's loss needs gradients through D, not for it
    try:
        out = G(x, tgt, a)
        y = out["image"]
        logit, cls = D(y)
        terms = {"adv": -logit.mean(), "cls": F.cross_entropy(cls.float(), tgt),
                 "cycle": (G(y, src, a)["image"] - x).abs().mean(),
                 "identity": (G(x, src, torch.ones_like(a))["image"] - x).abs().mean()}
        if stccl is not None:
            terms["stccl"] = stccl(y, x)
        terms["mask"] = out["mask"].mean()
        terms["mask_tv"] = tv(out["mask"])
        terms["flow_tv"] = tv(out["flow"] / x.shape[-1])
        g_loss = sum(getattr(w, k) * v for k, v in terms.items())
        logs.update({f"g/{k}": float(v.detach()) for k, v in terms.items()})
        logs["loss"] = float(g_loss.detach())
        backward(g_loss, "generator", logs)
    finally:
        D.requires_grad_(True)
    return logs


def train_generator(root: Path, run_dir: Path, cfg: GeneratorRunConfig,
                    on_step: Callable[[int, int, dict[str, float]], None] | None = None) -> FitResult:
    """Train (or resume, or skip when done) the generator stage; export RUN/generator.safetensors."""
    rt = Runtime.create(cfg.train)
    task = GeneratorTask(root, cfg, rt, run_dir)
    log.info("generator: %d training windows, %d validation windows, held-out actors: %s, STCCL %s, %s",
             len(task.train_set), len(task.val_set), ", ".join(task.held_out) or "none",
             f"weight {cfg.loss.stccl} from {task.metric_info['path']}" if task.metric else "off", rt.device)
    return fit_stage(task, cfg.train, rt, run_dir, cfg, on_step)
