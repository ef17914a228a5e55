"""The GPU figures of docs/benchmarks.md in one prepared script, for a lent device:

- the neural engine on 256² crops in bf16 (frames/s; goal >= 300 on one GPU);
- the metric's paper preset, one training step (images/s);
- the generator's base preset, one training step (steps/s).

    python -m benchmarks.gpu [--device auto] [--tiny] [--json]

Without CUDA (or with --tiny) every figure is measured at tiny sizes on the CPU, so that the
script is checked in CI's time; those rows say "tiny, cpu" and are not the docs' figures.
Random-init weights throughout: speed only.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

from .common import Timer


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def neural_engine_fps(device: str, tiny: bool, reps: int) -> dict:
    """Frames/s of NeuralEngine (the generator behind the edit interface, bf16 autocast on CUDA)
    on random 256² crops (tiny: 64², batch 2)."""
    from stccl.edit.neural import NeuralEngine
    from stccl.models.generator import Generator, GeneratorConfig
    from stccl.models.io import save_model

    cfg = GeneratorConfig(size=64, base_channels=8, n_down=2, n_res=1) if tiny else GeneratorConfig()
    batch = 2 if tiny else 64
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "generator.safetensors"
        save_model(Generator(cfg), cfg, path, kind="generator")
        eng = NeuralEngine(path, device=device)
    x = torch.rand(batch, 3, cfg.size, cfg.size, device=eng.device)
    lmk = torch.zeros(batch, 68, 2, device=eng.device)
    a = torch.ones(batch, device=eng.device)
    eng(x, lmk, "happy", a)  # warm-up
    _sync(eng.device)
    with Timer() as t:
        for _ in range(reps):
            eng(x, lmk, "happy", a)
        _sync(eng.device)
    fps = reps * batch / t.seconds
    precision = "bf16" if eng.device.type == "cuda" else "fp32"
    return {"name": f"neural engine, {cfg.size}² crops, batch {batch}, {precision}", "value": fps,
            "unit": "frames/s", "device": eng.device.type, "note": "goal >= 300 on one GPU"}


def metric_images_per_s(device: str, tiny: bool, steps: int) -> dict:
    from . import bench_train

    rows = bench_train.measure("tiny" if tiny else "paper", steps, device)
    step = next(r for r in rows if r["name"].endswith(": train step"))
    return {"name": f"metric {step['name']}", "value": step["value"], "unit": "img/s",
            "device": _device_of(device), "note": step["note"]}


def generator_steps_per_s(device: str, tiny: bool, steps: int) -> dict:
    from . import bench_train

    rows = bench_train.measure_generator("tiny" if tiny else "base", steps, device)
    step = next(r for r in rows if r["name"].endswith(": train step"))
    ms = float(step["note"].split()[0])
    return {"name": step["name"], "value": 1000 / ms, "unit": "steps/s",
            "device": _device_of(device), "note": step["note"]}


def _device_of(device: str) -> str:
    from stccl.devices import resolve_device

    return torch.device(resolve_device(device)).type


def run(device: str = "auto", tiny: bool = False) -> dict:
    from stccl.devices import resolve_device

    dev = torch.device(resolve_device(device))
    tiny = tiny or dev.type != "cuda"
    gpu = torch.cuda.get_device_name(dev) if dev.type == "cuda" else None
    reps, steps = (2, 1) if tiny else (20, 10)
    rows = [neural_engine_fps(device, tiny, reps), metric_images_per_s(device, tiny, steps),
            generator_steps_per_s(device, tiny, steps)]
    for r in rows:
        r["tiny"] = tiny
    return {"command": "python -m benchmarks.gpu " + " ".join(sys.argv[1:]), "device": dev.type,
            "gpu": gpu, "torch": torch.__version__, "tiny": tiny, "rows": rows}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--tiny", action="store_true", help="tiny sizes (always without CUDA)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    result = run(args.device, args.tiny)
    if args.json:
        json.dump(result, sys.stdout, indent=1)
        print()
        return result
    where = result["gpu"] or "CPU (tiny sizes: not the GPU figures)"
    print(f"\n# GPU benchmarks on {where}, torch {result['torch']}\n")
    print("| measure | value | unit | note |\n|---|---:|---|---|")
    for r in result["rows"]:
        print(f"| {r['name']} | {r['value']:.3g} | {r['unit']} | {r['note']} |")
    return result


if __name__ == "__main__":
    main()
