"""The generator's critics: shapes, gradients, and a save/load round trip."""

import torch

from stccl.models.classifier import EmotionClassifier
from stccl.models.config import ClassifierConfig, DiscriminatorConfig
from stccl.models.discriminator import Discriminator
from stccl.models.io import load_state, save_model


def test_discriminator_shapes_and_gradients():
    d = Discriminator(DiscriminatorConfig(size=64, base_channels=8, n_layers=3))
    x = torch.rand(2, 3, 64, 64, requires_grad=True)
    patch, emo = d(x)
    assert patch.shape == (2, 1, 8, 8) and emo.shape == (2, 8)
    (patch.mean() + emo.logsumexp(1).mean()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is not None for p in d.parameters())


def test_classifier_resizes_and_round_trips(tmp_path):
    cfg = ClassifierConfig(size=32, base_channels=8)
    c = EmotionClassifier(cfg).eval()
    x = torch.rand(3, 3, 64, 64)
    logits = c(x)
    assert logits.shape == (3, 8)
    save_model(c, cfg, tmp_path / "c.safetensors", kind="classifier")
    c2 = EmotionClassifier(cfg).eval()
    load_state(tmp_path / "c.safetensors", c2)
    assert torch.equal(c2(x), logits)


def test_classifier_learns_to_separate_two_colours():
    torch.manual_seed(0)
    c = EmotionClassifier(ClassifierConfig(size=16, base_channels=4, n_emotions=2))
    opt = torch.optim.Adam(c.parameters(), 1e-2)
    x = torch.cat([torch.rand(8, 3, 16, 16) * 0.3, 0.7 + torch.rand(8, 3, 16, 16) * 0.3])
    y = torch.tensor([0] * 8 + [1] * 8)
    for _ in range(30):
        loss = torch.nn.functional.cross_entropy(c(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    c.eval()
    assert (c(x).argmax(1) == y).all()
