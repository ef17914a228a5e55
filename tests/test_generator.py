import pytest
import torch

from stccl.edit.engine import EngineOutput, apply_output
from stccl.edit.neural import NeuralEngine
from stccl.errors import WeightsError
from stccl.models.generator import Generator, GeneratorConfig, warp
from stccl.models.io import find_weights, load_generator, read_metadata, save_model

CFG = GeneratorConfig(size=64, base_channels=8, n_down=2, n_res=1)


def _perturbed(cfg=CFG, seed=0):
    torch.manual_seed(seed)
    g = Generator(cfg)
    with torch.no_grad():
        for p in g.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return g.eval()


def _inputs(b=2, s=64):
    return torch.rand(b, 3, s, s), torch.tensor([4, 6][:b]), torch.ones(b)


def test_shapes_and_gradients():
    g = Generator(CFG)
    x, e, a = _inputs()
    out = g(x, e, a)
    assert out["image"].shape == x.shape and out["flow"].shape == (2, 2, 64, 64)
    assert out["mask"].shape == (2, 1, 64, 64)
    g = _perturbed()
    g(x, e, a)["image"].square().mean().backward()
    missing = [n for n, p in g.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, missing


@pytest.mark.parametrize("make", [lambda: Generator(CFG), _perturbed])
def test_zero_intensity_is_identity_by_construction(make):
    g = make()
    x, e, _ = _inputs()
    out = g(x, e, torch.zeros(2))
    assert torch.equal(out["flow"], torch.zeros_like(out["flow"]))
    assert torch.equal(out["mask"], torch.zeros_like(out["mask"]))
    assert (out["image"] - x).abs().max() < 1e-5


def test_intensity_scales_and_emotions_differ():
    g = _perturbed()
    x, _, _ = _inputs()
    e = torch.tensor([4, 4])
    f1 = g(x, e, torch.ones(2))["flow"].abs().mean()
    f2 = g(x, e, torch.full((2,), 2.0))["flow"].abs().mean()
    assert f2 > f1
    happy = g(x, e, torch.ones(2))["image"]
    sad = g(x, torch.tensor([6, 6]), torch.ones(2))["image"]
    assert (happy - sad).abs().max() > 1e-4


def test_warp_matches_engine_apply_output():
    x = torch.rand(2, 3, 32, 32)
    flow = torch.randn(2, 2, 32, 32) * 2
    assert torch.allclose(warp(x, flow), apply_output(x, EngineOutput(flow)), atol=1e-6)


def test_save_load_round_trip_and_errors(tmp_path):
    g = _perturbed()
    path = tmp_path / "generator.safetensors"
    save_model(g, CFG, path, kind="generator", extra={"step": 7})
    meta = read_metadata(path)
    assert meta["kind"] == "generator" and meta["config"]["size"] == 64 and meta["step"] == "7"
    g2, cfg2, _ = load_generator(path)
    assert cfg2 == CFG
    x, e, a = _inputs()
    assert torch.equal(g(x, e, a)["image"], g2(x, e, a)["image"])
    # wrong shape of config -> strict key/shape errors name the keys
    other = GeneratorConfig(size=64, base_channels=8, n_down=2, n_res=2)
    bad = tmp_path / "bad.safetensors"
    save_model(Generator(other), CFG, bad, kind="generator")
    with pytest.raises(WeightsError, match="unexpected keys res.1"):
        load_generator(bad)
    text = tmp_path / "t.safetensors"
    text.write_text("hello")
    with pytest.raises(WeightsError, match="not a safetensors"):
        load_generator(text)
    pickle = tmp_path / "p.safetensors"
    torch.save(g.state_dict(), pickle)
    with pytest.raises(WeightsError):
        load_generator(pickle)
    save_model(g, CFG, tmp_path / "m.safetensors", kind="metric")
    with pytest.raises(WeightsError, match="not a generator"):
        load_generator(tmp_path / "m.safetensors")


def test_neural_engine_matches_generator_and_resizes(tmp_path):
    g = _perturbed()
    path = tmp_path / "generator.safetensors"
    save_model(g, CFG, path, kind="generator")
    eng = NeuralEngine(path, device="cpu")
    x, _, a = _inputs()
    out = eng(x, torch.zeros(2, 68, 2), "happy", a)
    assert out.flow.shape == (2, 2, 64, 64) and out.delta.shape == (2, 3, 64, 64)
    ref = g(x, torch.tensor([4, 4]), a)["image"]
    assert torch.allclose(apply_output(x, out), ref.clamp(0, 1), atol=1e-5)
    big = torch.rand(2, 3, 128, 128)
    out = eng(big, torch.zeros(2, 68, 2), "sad", a)
    assert out.flow.shape == (2, 2, 128, 128) and out.delta.shape == (2, 3, 128, 128)


def test_find_weights_order(tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    (a / "weights").mkdir(parents=True)
    b.mkdir()
    (b / "generator.safetensors").write_bytes(b"x")
    monkeypatch.setenv("STCCL_WEIGHTS", str(b))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    monkeypatch.chdir(a)
    assert find_weights("generator.safetensors") == b / "generator.safetensors"
    (a / "weights" / "generator.safetensors").write_bytes(b"y")
    assert find_weights("generator.safetensors").resolve() == (a / "weights" / "generator.safetensors").resolve()
    assert find_weights("generator.safetensors", tmp_path / "none") is None
