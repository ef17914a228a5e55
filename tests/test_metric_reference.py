"""The metric as the papers and the released code mean it: the adaptive weight, the temporal
branch (every frame pair, the temporal transformer), PatchNCE as the reference computes it,
the backbone initialisation and the `paper` preset."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from stccl.data.layouts import MEAD_TEST
from stccl.errors import WeightsError
from stccl.models.config import MetricConfig
from stccl.models.correlation import CorrelationMetric, adaptive_weights, patch_nce
from stccl.models.io import load_metric, save_model
from stccl.models.iresnet import IResNet, init_backbone
from stccl.models.temporal import TemporalTransformer, frame_pairs, pair_differences
from stccl.train.presets import metric_preset

TINY = MetricConfig(depth=18, size=64, centers=[6, 4, 2, 1])
STCCL = dataclasses.replace(TINY, temporal="all_pairs", temporal_positions=[8, 6, 4, 2],
                            temporal_transformer=True, transformer_dim=16, transformer_heads=2,
                            transformer_layers=1, spatial_weight=1.0, temporal_weight=0.35)


def reference_patch_nce(f_q, f_k, weight_pos=1.0, tau=0.07):
    """ASCCL spatial_coherent_learning/model_landmarks.py:253-269 (from CUT), f (B, C, S)."""
    B, C, S = f_q.shape
    f_k = f_k.detach()
    l_pos = (f_k * f_q).sum(dim=1)[:, :, None]
    l_neg = torch.bmm(f_q.transpose(1, 2), f_k)
    identity_matrix = torch.eye(S, dtype=torch.bool)[None, :, :]
    l_neg.masked_fill_(identity_matrix, -float("inf"))
    logits = torch.cat((l_pos, l_neg), dim=2) / tau
    predictions = logits.flatten(0, 1)
    targets = torch.zeros(B * S, dtype=torch.long)
    return torch.mean(F.cross_entropy(predictions, targets) * weight_pos)


def test_patch_nce_equals_the_reference_patch_nce_loss():
    g = torch.Generator().manual_seed(7)
    q = F.normalize(torch.randn(3, 16, 40, generator=g, dtype=torch.float64), dim=1)  # (B, C, S)
    k = F.normalize(torch.randn(3, 16, 40, generator=g, dtype=torch.float64), dim=1)
    ours = patch_nce(q.transpose(1, 2), k.transpose(1, 2), tau=0.07).mean()
    assert float(ours) == pytest.approx(float(reference_patch_nce(q, k)), rel=1e-12)


def test_adaptive_weight_rises_smoothly_with_the_disparity():
    levels = (0.5, 1.5, 2.0, 3.0)  # sigmoid: 0.62 (below 0.8: weight 1), 0.82, 0.88, 0.95
    w = adaptive_weights(torch.stack([torch.full((8,), v) for v in levels])[None])[0]
    assert w[0] == 1 and bool((w.diff() > 0).all())
    assert float(w[3]) == pytest.approx(2 * torch.sigmoid(torch.tensor(3.0)).item() ** 2, rel=1e-6)
    half = adaptive_weights(torch.tensor([[[0.0] * 4 + [3.0] * 4]]))[0, 0]
    assert 1 < half < w[3] and float(half) == pytest.approx((1 + float(w[3])) / 2, rel=1e-6)
    assert not adaptive_weights(torch.ones(1, 2, 3, requires_grad=True)).requires_grad  # detached


def test_adaptive_weight_is_the_query_streams_and_changes_the_loss():
    torch.manual_seed(0)
    metric = CorrelationMetric(TINY).train()  # batch statistics: features of unit scale
    da, db = torch.randn(2, 24, 64) * 2, torch.randn(2, 24, 64) * 0.1
    proj = metric.spatial_proj[0]
    expected = (adaptive_weights(da) * patch_nce(proj(da), proj(db))).mean()
    assert torch.allclose(metric._nce(proj, da, db), expected)
    assert not torch.allclose(metric._nce(proj, da, db), patch_nce(proj(da), proj(db)).mean())
    off = CorrelationMetric(dataclasses.replace(TINY, adaptive=False)).train()
    off.load_state_dict(metric.state_dict())
    a, b = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    on_loss = metric(a, b, torch.Generator().manual_seed(1))["loss"]
    off_loss = off(a, b, torch.Generator().manual_seed(1))["loss"]
    assert float(on_loss.detach()) > float(off_loss.detach())  # weights >= 1, some regions weigh more


def test_every_frame_pair_and_their_differences():
    assert frame_pairs(4).tolist() == [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]]
    assert frame_pairs(4, "adjacent").tolist() == [[0, 1], [1, 2], [2, 3]]
    assert len(frame_pairs(9)) == 36
    f = torch.randn(2, 4, 5, 3)  # (B, T, N, C)
    got = pair_differences(f, frame_pairs(4))
    naive = torch.stack([f[b, i] - f[b, j] for b in range(2) for i, j in frame_pairs(4).tolist()])
    assert torch.equal(got, naive)


def test_temporal_transformer_is_registered_trained_and_saved(tmp_path):
    torch.manual_seed(0)
    metric = CorrelationMetric(STCCL)
    encoders = [n for n, _ in metric.named_parameters() if n.startswith("temporal_encoders.")]
    assert {n.split(".")[1] for n in encoders} == {"0", "1", "2", "3"}
    before = {n: p.detach().clone() for n, p in metric.named_parameters() if n in encoders}
    opt = torch.optim.Adam(metric.parameters(), lr=1e-2)
    a, b = torch.rand(2, 4, 3, 64, 64), torch.rand(2, 4, 3, 64, 64)
    out = metric(a, b, torch.Generator().manual_seed(0))
    assert {"temporal/1", "temporal/4"} <= set(out)
    out["loss"].backward()
    opt.step()
    moved = {n.split(".")[1] for n, p in metric.named_parameters()
             if n in before and not torch.equal(p.detach(), before[n])}
    assert moved == {"0", "1", "2", "3"}  # every stage's transformer learned in one step
    path = tmp_path / "metric.safetensors"
    save_model(metric, STCCL, path, kind="metric")
    back, cfg, _ = load_metric(path)
    assert cfg == STCCL and back.state_dict().keys() == metric.state_dict().keys()
    metric.eval()
    x, y = torch.rand(1, 3, 3, 64, 64), torch.rand(1, 3, 3, 64, 64)
    g = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.allclose(metric(x, y, g[0])["loss"], back(x, y, g[1])["loss"])


def test_transformer_runs_per_position():
    enc = TemporalTransformer(6, dim=8, heads=2, layers=1).eval()
    f = torch.randn(2, 5, 3, 6)
    out = enc(f)
    assert out.shape == f.shape
    moved = f.clone()
    moved[:, :, 1] += 1.0  # another position's features: this one's output does not change
    assert torch.allclose(enc(moved)[:, :, 0], out[:, :, 0], atol=1e-6)
    assert not torch.allclose(enc(moved)[:, :, 1], out[:, :, 1])


def test_backbone_init_loads_an_arcface_state_dict_and_refuses_a_wrong_one(tmp_path):
    src = IResNet(18)
    for p in src.parameters():
        torch.nn.init.normal_(p)
    state = {**src.state_dict(), "fc.weight": torch.zeros(512, 8), "features.weight": torch.ones(512)}
    torch.save(state, tmp_path / "backbone.pth")
    model = IResNet(18)
    report = init_backbone(model, tmp_path / "backbone.pth")
    assert "loaded" in report and "fc.weight" in report
    assert all(torch.equal(model.state_dict()[k], v) for k, v in src.state_dict().items())
    torch.save(IResNet(34).state_dict(), tmp_path / "r34.pth")
    with pytest.raises(WeightsError, match="does not fit IResNet-18"):
        init_backbone(IResNet(18), tmp_path / "r34.pth")
    with pytest.raises(WeightsError, match="does not fit IResNet-50: .* missing"):
        init_backbone(IResNet(50), tmp_path / "backbone.pth")
    (tmp_path / "notes.pth").write_text("not weights")
    with pytest.raises(WeightsError, match="cannot read weights"):
        init_backbone(model, tmp_path / "notes.pth")


def test_paper_preset_is_the_reference():
    cfg = metric_preset("paper")
    m, t, d = cfg.model, cfg.train, cfg.data
    assert (m.depth, m.size, m.spatial_weight, m.temporal_weight) == (50, 224, 1.0, 0.35)
    assert m.temporal == "all_pairs" and m.temporal_transformer and m.transformer_layers == 4
    assert (m.transformer_dim, m.transformer_heads, m.tau, m.centers) == (512, 8, 0.07, [32, 16, 8, 4])
    assert m.adaptive and not m.adaptive_temporal
    assert (t.batch, t.lr, t.schedule, t.amp, t.epochs) == (8, 1e-3, "constant", "off", 50)
    assert (d.window, d.stride, d.epoch) == (9, 1, "frame_pairs")
    assert not d.augment and not d.swap  # the reference has no augmentation, and queries with the neutral take
    assert m.temporal_head == "spatial"  # ATCCL's temporal differences go through the spatial MLP
    assert sorted(d.emotions) == ["angry", "disgusted", "fear", "happy", "sad", "surprised"]
    assert d.levels == [3] and d.views == ["front"] and d.val_prefer == ["W021"]
    assert sorted(d.exclude_actors) == sorted(MEAD_TEST)
    assert metric_preset("tiny").train.amp == "off"  # fp32 unless bf16 is asked for


def test_the_papers_data_selection_on_prepared_pairs(paired_prep):
    """paired_prep: M003 happy, M026 disgusted, W015 happy, W036 angry, all level 3, front;
    M003 and W015 are evaluation actors."""
    from stccl.data.split import split_actors
    from stccl.data.store import PreparedDataset
    from stccl.data.windows import select_pairs

    ds = PreparedDataset(paired_prep)
    d = metric_preset("paper").data
    keep = select_pairs(ds, d.emotions, d.levels, d.views)
    pairs = [ds.pairs[k] for k in keep]
    assert sorted(p["actor"] for p in pairs) == ["M003", "M026", "W015", "W036"]
    train, val, held = split_actors(pairs, [], prefer=d.val_prefer, exclude=d.exclude_actors)
    assert held == ["W036"] and [pairs[k]["actor"] for k in train] == ["M026"]  # W021 absent: last actor
    train, val, held = split_actors(pairs, ["M003"], prefer=d.val_prefer, exclude=d.exclude_actors)
    assert held == ["M003"] and sorted(pairs[k]["actor"] for k in train) == ["M026", "W036"]
    assert [ds.pairs[k]["actor"] for k in select_pairs(ds, ["angry"])] == ["W036"]
    assert select_pairs(ds, levels=[1]) == [] and select_pairs(ds, views=["left_30"]) == []


def test_windows_at_every_frame_and_epochs_of_frame_pairs(paired_prep):
    from stccl.data.store import PreparedDataset
    from stccl.data.windows import PairWindows

    pairs = list(range(len(PreparedDataset(paired_prep).pairs)))
    apart, dense = PairWindows(paired_prep, pairs, 9, 64), PairWindows(paired_prep, pairs, 9, 64, stride=1)
    assert len(dense) > 7 * len(apart) > 0
    assert all(w.neutral[1] - w.neutral[0] == 1 for w in dense.windows)
    assert dense.frame_pairs == sum(len(PreparedDataset(paired_prep).pairs[k]["path"]) for k in pairs)


def test_train_with_backbone_init_records_it_and_refuses_a_wrong_file(paired_prep, tmp_path):
    import tomllib

    from typer.testing import CliRunner

    from stccl_cli.main import app

    torch.save({**IResNet(18).state_dict(), "fc.weight": torch.zeros(512, 8)}, tmp_path / "arcface.pth")
    run = tmp_path / "run"
    args = ["train", "--data", str(paired_prep), "--stage", "metric", "--preset", "tiny", "--steps", "1"]
    r = CliRunner().invoke(app, [*args, "-o", str(run), "--backbone-init", str(tmp_path / "arcface.pth")])
    assert r.exit_code == 0, r.output
    assert "backbone initialised from" in r.stderr and "fc.weight" in r.stderr
    saved = tomllib.loads((run / "metric" / "config.toml").read_text())
    assert saved["backbone_init"] == str(tmp_path / "arcface.pth")
    assert load_metric(run / "metric.safetensors")[2]["backbone_init"] == str(tmp_path / "arcface.pth")
    torch.save(IResNet(34).state_dict(), tmp_path / "r34.pth")
    r = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "r2"), "--backbone-init", str(tmp_path / "r34.pth")])
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.exit_code == 1 and len(lines) == 1 and "does not fit IResNet-18" in lines[0]


def test_micro_batches_accumulate_to_the_whole_batch(tmp_path):
    from stccl.train.config import TrainConfig
    from stccl.train.trainer import Runtime, Trainer

    class Task:
        name, items_per_step = "t", 1

        def __init__(self):
            self.model = torch.nn.Linear(3, 1)
            self.opt = torch.optim.SGD(self.model.parameters(), lr=0.1)

        def optimizers(self):
            return {"t": self.opt}

    cfg = TrainConfig(device="cpu")
    x = torch.randn(6, 3)
    whole, split = Task(), Task()
    split.model.load_state_dict(whole.model.state_dict())
    Trainer(whole, cfg, Runtime.create(cfg), tmp_path, 1, cfg, tmp_path / "a").backward(
        whole.model(x).pow(2).mean(), "t")
    trainer = Trainer(split, cfg, Runtime.create(cfg), tmp_path, 1, cfg, tmp_path / "b")
    for part, k in enumerate((0, 2, 4)):
        trainer.backward(split.model(x[k:k + 2]).pow(2).mean() / 3, "t", part=part, parts=3)
    assert torch.allclose(whole.model.weight, split.model.weight, atol=1e-7)
    assert not torch.allclose(whole.model.weight, Task().model.weight)


def test_the_micro_batch_fits_the_memory(monkeypatch):
    import os

    from stccl.train.metric import fitting_micro_batch

    cpu = torch.device("cpu")
    assert fitting_micro_batch(metric_preset("tiny"), cpu) == metric_preset("tiny").train.batch
    pages = {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": 16 * 2**30 // 4096}  # a 16 GiB machine
    monkeypatch.setattr(os, "sysconf", lambda name: pages[name])
    paper = metric_preset("paper")
    m = fitting_micro_batch(paper, cpu)
    assert 1 <= m < paper.train.batch and paper.train.batch % m == 0
