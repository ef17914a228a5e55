"""STCCL as a plug-in loss, the temporal term's sense of order, and a CM that cannot collapse."""

import dataclasses

import numpy as np
import pytest
import torch

from stccl.errors import InputError
from stccl.models.config import MetricConfig
from stccl.models.correlation import CorrelationMetric, gram_rows, patch_nce
from stccl.models.io import save_model

TINY = MetricConfig(depth=18, size=64, centers=[6, 4, 2, 1], temporal="all_pairs",
                    temporal_positions=[16, 8, 8, 4])


def _clip_window(shared_data, t=8, size=64):
    """t consecutive real face crops (MEAD-derived 256x256 crops), (1, t, 3, size, size) in [0, 1]."""
    import cv2

    from stccl.video import VideoReader

    frames = []
    with VideoReader(shared_data / "mead-pairs" / "M030_level_1_neutral_001.mp4", chunk=8) as r:
        for chunk in r:
            frames += [cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in chunk]
            if len(frames) >= 40 + t:
                break
    x = np.stack(frames[40:40 + t])
    return torch.from_numpy(x).permute(0, 3, 1, 2).float().div(255)[None]


def test_the_temporal_loss_rises_when_frames_are_shuffled(shared_data):
    """A few steps on a real window (against a photometric copy of itself) teach the temporal
    term which change between which frames to expect; the same frames in another order then
    cost far more. An untrained metric's terms sit near log(N) for any order, so the training
    is what this test checks."""
    torch.manual_seed(0)
    metric = CorrelationMetric(TINY).train()
    opt = torch.optim.Adam(metric.parameters(), lr=1e-3)
    a = _clip_window(shared_data)
    b = a * 0.8 + 0.1
    for step in range(15):
        out = metric(a, b, torch.Generator().manual_seed(step))
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    metric.eval()
    order = torch.tensor([5, 2, 7, 0, 3, 6, 1, 4])
    with torch.no_grad():
        same = metric(a, b, torch.Generator().manual_seed(99))
        shuffled = metric(a, b[:, order], torch.Generator().manual_seed(99))
    for level in range(1, 5):
        assert float(shuffled[f"temporal/{level}"]) > float(same[f"temporal/{level}"]) + 0.5, level


def test_cm_cannot_collapse():
    n = 12
    parallel = torch.nn.functional.normalize(torch.ones(2, n, 8), dim=-1)
    orthogonal = torch.eye(n)[None].repeat(2, 1, 1)
    for feats in (parallel, orthogonal):  # every degenerate feature set costs log(n), the most
        rows = gram_rows(feats)
        assert float(patch_nce(rows, rows, normalize=False).mean()) == pytest.approx(np.log(n), rel=1e-5)
    informative = torch.nn.functional.normalize(torch.randn(2, n, 8, generator=torch.Generator().manual_seed(0)), dim=-1)
    rows = gram_rows(informative)
    assert float(patch_nce(rows, rows, normalize=False).mean()) < 0.5 * np.log(n)


def test_cm_training_keeps_its_features_apart(shared_data):
    """A few steps of CM on a real window: the loss falls, and the sampled features do not
    collapse to one direction (their mean pairwise cosine stays well below 1)."""
    torch.manual_seed(0)
    cfg = dataclasses.replace(TINY, variant="cm")
    metric = CorrelationMetric(cfg).train()
    opt = torch.optim.Adam(metric.parameters(), lr=1e-3)
    a = _clip_window(shared_data, t=4).repeat(2, 1, 1, 1, 1)
    b = a.flip(-1)  # the same frames mirrored: a stand-in for the other take
    losses = []
    for step in range(8):
        out = metric(a, b, torch.Generator().manual_seed(step))
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(float(out["loss"].detach()))
    assert losses[-1] < losses[0]
    metric.eval()
    with torch.no_grad():
        f = metric.features(a[0])[1]  # (T, C, h, w)
    v = torch.nn.functional.normalize(f.flatten(2).transpose(1, 2), dim=-1)  # (T, hw, C)
    cos = (v @ v.transpose(1, 2)).mean()
    assert float(cos) < 0.9


def _tiny_generator():
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.Tanh(),
                               torch.nn.Conv2d(8, 3, 3, padding=1), torch.nn.Sigmoid())


def test_stccl_loss_trains_a_foreign_generator(tmp_path):
    from stccl import STCCLLoss

    torch.manual_seed(0)
    metric = CorrelationMetric(TINY)
    path = tmp_path / "metric.safetensors"
    save_model(metric, TINY, path, kind="metric", extra={"steps": 3, "data": {"window": 4}})
    loss_fn = STCCLLoss.from_file(path)
    assert loss_fn.window == 4 and loss_fn.steps == 3 and loss_fn.size == 64
    G = _tiny_generator()
    x = torch.rand(2, 4, 3, 96, 96)  # any size: resized to the metric's 64
    y = G(x.flatten(0, 1)).view_as(x)
    loss = loss_fn(y, x)
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters())
    assert all(p.grad is None and not p.requires_grad for p in loss_fn.parameters())
    loss_fn.train()
    assert not loss_fn.metric.training  # stays frozen in eval mode
    frames = loss_fn(y[:, 0], x[:, 0])  # frames: the spatial term only
    assert frames.ndim == 0 and float(frames.detach()) > 0
    with pytest.raises(InputError, match="windows of 4 frames"):
        loss_fn(torch.rand(1, 3, 3, 64, 64), torch.rand(1, 3, 3, 64, 64))
    with pytest.raises(InputError, match="one shape"):
        loss_fn(torch.rand(1, 3, 64, 64), torch.rand(1, 4, 3, 64, 64))


def test_stccl_loss_value_range_and_terms(tmp_path):
    from stccl import STCCLLoss

    torch.manual_seed(0)
    metric = CorrelationMetric(TINY)
    unit = STCCLLoss(metric)
    signed = STCCLLoss(metric, value_range=(-1, 1))
    x, y = torch.rand(1, 4, 3, 64, 64), torch.rand(1, 4, 3, 64, 64)
    g = [torch.Generator().manual_seed(5) for _ in range(2)]
    assert torch.allclose(unit(y, x, g[0]), signed(y * 2 - 1, x * 2 - 1, g[1]), atol=1e-5)
    spatial = STCCLLoss(metric, terms="spatial")(y, x, torch.Generator().manual_seed(5))
    temporal = STCCLLoss(metric, terms="temporal")(y, x, torch.Generator().manual_seed(5))
    total = unit(y, x, torch.Generator().manual_seed(5))
    assert torch.allclose(spatial + temporal, total, atol=1e-5)
    with pytest.raises(InputError, match="value_range"):
        STCCLLoss(metric, value_range=(1, 0))


def test_import_stccl_stays_light():
    import subprocess
    import sys

    code = "import sys, stccl; print('torch' in sys.modules); stccl.STCCLLoss; print('torch' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.stdout.split() == ["False", "True"], r.stderr
    code = ("import sys\nfrom stccl_cli.main import app\ntry:\n    app(['--version'])\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.stdout.split()[-1] == "False", r.stdout + r.stderr
