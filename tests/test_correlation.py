"""The coherent-correlation ops against naive loops, gradcheck, and the metric's contract."""

import pytest
import torch
import torch.nn.functional as F

from stccl.models.correlation import (
    NEIGHBOURS,
    CorrelationMetric,
    MetricConfig,
    adaptive_weights,
    neighbour_disparities,
    patch_nce,
    sample_centers,
    temporal_disparities,
)
from stccl.models.iresnet import IResNet, load_backbone_state

TINY = MetricConfig(depth=18, size=64, centers=[6, 4, 2, 1])


def test_disparities_equal_a_naive_loop():
    feat = torch.randn(2, 5, 7, 6)
    centers = sample_centers(7, 6, 9, torch.Generator().manual_seed(0))
    got = neighbour_disparities(feat, centers)
    naive = []
    for b in range(2):
        rows = []
        for y, x in centers.tolist():
            for dy, dx in NEIGHBOURS:
                rows.append(feat[b, :, y, x] - feat[b, :, y + dy, x + dx])
        naive.append(torch.stack(rows))
    assert torch.allclose(got, torch.stack(naive))


def test_no_wrap_around():
    centers = sample_centers(4, 5, 100)
    assert centers[:, 0].min() >= 1 and centers[:, 0].max() <= 2
    assert centers[:, 1].min() >= 1 and centers[:, 1].max() <= 3
    with pytest.raises(ValueError, match="wrap"):
        neighbour_disparities(torch.randn(1, 2, 4, 4), torch.tensor([[0, 1]]))


def test_temporal_disparities_equal_a_naive_loop():
    feat = torch.randn(2, 4, 3, 5, 5)
    centers = torch.tensor([[1, 1], [2, 3], [3, 2]])
    got = temporal_disparities(feat, centers)
    naive = torch.stack([torch.stack([feat[b, t, :, y, x] - feat[b, t + 1, :, y, x]
                                      for t in range(3) for y, x in centers.tolist()]) for b in range(2)])
    assert torch.allclose(got, naive)


@pytest.mark.parametrize("batch_negatives", [False, True])
def test_patch_nce_equals_a_naive_loop(batch_negatives):
    g = torch.Generator().manual_seed(3)
    q = torch.randn(2, 5, 4, generator=g, dtype=torch.float64)
    k = torch.randn(2, 5, 4, generator=g, dtype=torch.float64)
    got = patch_nce(q, k, 0.07, batch_negatives)
    qn, kn = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
    for b in range(2):
        for s in range(5):
            keys = kn.reshape(-1, 4) if batch_negatives else kn[b]
            pos = (b * 5 + s) if batch_negatives else s
            logits = keys @ qn[b, s] / 0.07
            assert float(got[b, s]) == pytest.approx(float(-logits[pos] + torch.logsumexp(logits, 0)), rel=1e-9, abs=1e-12)


def test_adaptive_weights_are_per_region():
    d = torch.zeros(1, 3, 4)
    d[0, 1] = 5.0  # a large disparity: sigmoid ~ 1 > 0.8
    w = adaptive_weights(d)
    assert w.shape == (1, 3) and w[0, 0] == 1 and w[0, 2] == 1 and w[0, 1] > 1.9


def test_gradcheck_float64():
    centers = torch.tensor([[1, 1], [2, 2]])
    feat = torch.randn(1, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    keys = torch.randn(1, 16, 3, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda f: neighbour_disparities(f, centers), (feat,))
    assert torch.autograd.gradcheck(lambda f: patch_nce(neighbour_disparities(f, centers), keys).sum(), (feat,))


@pytest.mark.parametrize("depth", [18, 34, 50])
def test_backbone_stages(depth):
    feats = IResNet(depth).eval()(torch.rand(1, 3, 64, 64))
    assert [tuple(f.shape[1:]) for f in feats] == [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4)]


def test_checkpoint_key_report():
    model = IResNet(18)
    state = dict(model.state_dict())
    state["fc.weight"] = torch.zeros(3)
    del state["conv1.weight"]
    missing, unexpected = load_backbone_state(model, state)
    assert missing == ["conv1.weight"] and unexpected == ["fc.weight"]


@pytest.mark.parametrize("variant", ["vd", "cm"])
def test_metric_images_and_windows_gradient_through_a_only(variant):
    metric = CorrelationMetric(MetricConfig(**{**TINY.__dict__, "variant": variant}))
    a = torch.rand(2, 3, 3, 64, 64, requires_grad=True)
    b = torch.rand(2, 3, 3, 64, 64, requires_grad=True)
    out = metric(a, b, torch.Generator().manual_seed(0))
    assert {"loss", "spatial/1", "spatial/4", "temporal/1", "temporal/4"} <= set(out)
    out["loss"].backward()
    assert a.grad is not None and a.grad.abs().sum() > 0
    assert b.grad is None
    img = metric(torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64))
    assert "temporal/1" not in img and img["loss"].ndim == 0
    with pytest.raises(ValueError):
        metric(torch.rand(2, 3, 64, 64), torch.rand(2, 3, 3, 64, 64))


def test_every_module_is_registered():
    metric = CorrelationMetric(TINY)
    keys = metric.state_dict().keys()
    assert any(k.startswith("temporal_proj.3") for k in keys) and any(k.startswith("spatial_proj.0") for k in keys)
    trainable = {n for n, p in metric.named_parameters() if p.requires_grad}
    assert any(n.startswith("temporal_proj") for n in trainable)


def test_the_temporal_term_can_share_the_spatial_head():
    """temporal_head = "spatial" (the paper preset, as ATCCL): no MLP of its own, and the temporal
    term alone trains the spatial MLP."""
    cfg = MetricConfig(**{**TINY.__dict__, "temporal_head": "spatial", "spatial_weight": 0.0})
    metric = CorrelationMetric(cfg)
    assert not any(k.startswith("temporal_proj") for k in metric.state_dict())
    out = metric(torch.rand(2, 3, 3, 64, 64), torch.rand(2, 3, 3, 64, 64), torch.Generator().manual_seed(0))
    out["loss"].backward()
    assert metric.spatial_proj[0][0].weight.grad.abs().sum() > 0
    own = CorrelationMetric(MetricConfig(**{**TINY.__dict__, "spatial_weight": 0.0}))
    own(torch.rand(2, 3, 3, 64, 64), torch.rand(2, 3, 3, 64, 64), torch.Generator().manual_seed(0))["loss"].backward()
    grad = own.spatial_proj[0][0].weight.grad  # the baseline: with its own head it never reaches them
    assert grad is None or grad.abs().sum() == 0


def test_identical_streams_score_lower_than_unrelated():
    torch.manual_seed(0)
    metric = CorrelationMetric(TINY).eval()
    x = torch.rand(2, 3, 64, 64)
    same = metric(x, x, torch.Generator().manual_seed(1))["loss"]
    other = metric(x, torch.rand(2, 3, 64, 64), torch.Generator().manual_seed(1))["loss"]
    assert same < other
