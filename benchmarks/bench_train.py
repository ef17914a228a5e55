"""Training throughput (images/s) per preset, as a ratio to a forward-only pass of the same
network on the same images, measured in the same run.

Metric: an image is one frame of one stream: a step of batch B with T-frame windows puts
2*B*T images through the backbone (both streams counted; the key stream runs without
gradients). The precision is the preset's (fp32 for every metric preset) unless --amp says
otherwise, and the row's name says which.
Generator: an image is one input frame (B*T per step); a step is one D update and one G update
(G runs 4 times: fake for D, fake, cycle, identity; the frozen metric of the same preset scores
output against input). The baseline is one forward pass of G.

    python -m benchmarks.bench_train [--quick] [--presets tiny,paper] [--stages metric,generator] [--device auto]
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from stccl.train.presets import metric_preset
from stccl.train.metric import augmenter
from stccl.train.trainer import Runtime

from .common import Timer, print_rows, row


def measure(preset: str, steps: int, device: str, amp: str | None = None) -> list[dict]:
    cfg = metric_preset(preset)
    cfg.train.device = device
    if amp is not None:  # the metric presets train in fp32 (amp "off"); "bf16" measures autocast
        cfg.train.amp = amp
    rt = Runtime.create(cfg.train)
    from stccl.models.correlation import CorrelationMetric

    model = CorrelationMetric(cfg.model).to(rt.device)
    if rt.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    aug = augmenter().to(rt.device)
    b, t, s = cfg.train.batch, cfg.data.window, cfg.model.size
    a = torch.rand(b, t, 3, s, s, device=rt.device)
    k = torch.rand(b, t, 3, s, s, device=rt.device)
    images = 2 * b * t

    def sync():
        if rt.device.type == "cuda":
            torch.cuda.synchronize()

    def forward_only():
        with torch.no_grad(), rt.autocast():
            model.features(torch.cat([a, k], 1).flatten(0, 1))

    def train_step():
        ab = aug(torch.cat([a, k], 1))
        with rt.autocast():
            loss = model(ab[:, :t], ab[:, t:])["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
        opt.step()

    def timed(fn) -> float:
        fn()  # warm-up
        sync()
        with Timer() as tm:
            for _ in range(steps):
                fn()
            sync()
        return tm.seconds / steps

    model.train()
    train_s = timed(train_step)
    model.eval()
    fwd_s = timed(forward_only)
    name = f"{preset} (IResNet-{cfg.model.depth}, {s}², B={b}, T={t}, {rt.device.type}"
    name += f", {'bf16' if rt.amp_dtype else 'fp32'})"
    return [
        row(f"{name}: forward-only", images / fwd_s, "img/s", "baseline"),
        row(f"{name}: train step", images / train_s, "img/s", f"{train_s * 1000:.0f} ms/step"),
        row(f"{name}: train / forward time", train_s / fwd_s, "×", "ratio"),
    ]


def measure_generator(preset: str, steps: int, device: str) -> list[dict]:
    from stccl.models.correlation import CorrelationMetric
    from stccl.models.discriminator import Discriminator
    from stccl.models.generator import Generator
    from stccl.train.presets import generator_preset
    from stccl.train.generator import adversarial_step

    cfg = generator_preset(preset)
    cfg.train.device = device
    rt = Runtime.create(cfg.train)
    mcfg = metric_preset(preset).model
    G, D = Generator(cfg.model).to(rt.device), Discriminator(cfg.disc).to(rt.device)
    metric = CorrelationMetric(mcfg).to(rt.device).eval().requires_grad_(False)
    if rt.channels_last:
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    opts = {"generator": torch.optim.Adam(G.parameters(), lr=1e-4, betas=(0.5, 0.999)),
            "discriminator": torch.optim.Adam(D.parameters(), lr=1e-4, betas=(0.5, 0.999))}
    b, t, s = cfg.train.batch, cfg.data.window, cfg.model.size
    n = b * t
    x = rt.to_device(torch.rand(n, 3, s, s))
    src = torch.randint(0, 8, (b,)).repeat_interleave(t).to(rt.device)
    tgt = (src + 1) % 8
    a = torch.ones(n, device=rt.device)

    def stccl(y, xx):
        size = mcfg.size
        y = torch.nn.functional.interpolate(y, size=(size, size), mode="bilinear", antialias=True)
        xx = torch.nn.functional.interpolate(xx, size=(size, size), mode="bilinear", antialias=True)
        return metric(y.reshape(b, t, 3, size, size), xx.reshape(b, t, 3, size, size))["loss"]

    def backward(loss, name, logs=None):
        opts[name].zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(G.parameters() if name == "generator" else D.parameters(), 5.0)
        opts[name].step()

    def sync():
        if rt.device.type == "cuda":
            torch.cuda.synchronize()

    def train_step():
        with rt.autocast():
            adversarial_step(G, D, stccl, cfg.loss, x, src, tgt, a, backward)

    def forward_only():
        with torch.no_grad(), rt.autocast():
            G(x, tgt, a)

    def timed(fn) -> float:
        fn()
        sync()
        with Timer() as tm:
            for _ in range(steps):
                fn()
            sync()
        return tm.seconds / steps

    train_s = timed(train_step)
    fwd_s = timed(forward_only)
    name = f"generator {preset} ({s}², B={b}, T={t}, metric IResNet-{mcfg.depth}@{mcfg.size}, {rt.device.type}"
    name += f", {'bf16' if rt.amp_dtype else 'fp32'})"
    return [
        row(f"{name}: G forward-only", n / fwd_s, "img/s", "baseline"),
        row(f"{name}: train step", n / train_s, "img/s", f"{train_s * 1000:.0f} ms/step"),
        row(f"{name}: train / forward time", train_s / fwd_s, "×", "ratio"),
    ]


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="tiny preset only, 2 timed steps")
    ap.add_argument("--presets", default="tiny,paper")
    ap.add_argument("--stages", default="metric,generator")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--amp", choices=("auto", "bf16", "off"), default=None,
                    help="the metric's precision (default: the preset's, fp32 for every metric preset)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    presets = ["tiny"] if args.quick else args.presets.split(",")
    steps = 2 if args.quick else args.steps
    torch.manual_seed(0)
    stages = args.stages.split(",")
    rows = []
    for p in presets:
        if "metric" in stages:
            rows += measure(p, steps, args.device, args.amp)
        if "generator" in stages:
            rows += measure_generator(p, steps, args.device)
    if args.json:
        json.dump(rows, sys.stdout, indent=1)
    else:
        print_rows("training throughput", rows)
    return rows


if __name__ == "__main__":
    main()
