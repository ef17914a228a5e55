"""The expression generator G(x, e, a): a motion field, a colour, and an attention mask.

x (B,3,S,S) RGB in [0,1], an aligned face crop of any identity; e (B,) emotion indices in the
order of stccl.emotions.EMOTIONS; a (B,) intensity (0 = unchanged, 1 = full, > 1 more).

    image = (1 - mask) * warp(x, flow) + mask * color

flow and mask are multiplied by the intensity (the mask by min(a, 1)), so a = 0 returns x
exactly, whatever the weights. Conditioning is FiLM at every decoder stage from an emotion
embedding and the intensity. The flow and mask heads start at zero, so an untrained model
makes no change.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import GeneratorConfig

MEAN = 0.5


def flow_grid(flow: torch.Tensor) -> torch.Tensor:
    """(B,2,H,W) backward offsets in pixels -> grid_sample grid (B,H,W,2), align_corners=True."""
    b, _, h, w = flow.shape
    ys = torch.arange(h, dtype=flow.dtype, device=flow.device).view(1, h, 1)
    xs = torch.arange(w, dtype=flow.dtype, device=flow.device).view(1, 1, w)
    gx = (xs + flow[:, 0]) * (2.0 / (w - 1)) - 1.0
    gy = (ys + flow[:, 1]) * (2.0 / (h - 1)) - 1.0
    return torch.stack([gx, gy], dim=-1)


def warp(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """out(p) = x(p + flow(p)), bilinear, border padding (as stccl.edit.engine.apply_output)."""
    return F.grid_sample(x, flow_grid(flow.to(x.dtype)), mode="bilinear", padding_mode="border",
                         align_corners=True)


def _norm(c: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, c), c)


class ResBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), _norm(c), nn.SiLU(),
                                  nn.Conv2d(c, c, 3, padding=1), _norm(c))

    def forward(self, x):
        return F.silu(x + self.body(x))


class Film(nn.Module):
    """Scale and shift of features from the condition vector."""

    def __init__(self, cond: int, c: int):
        super().__init__()
        self.proj = nn.Linear(cond, 2 * c)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x, cond):
        gamma, beta = self.proj(cond)[:, :, None, None].chunk(2, dim=1)
        return x * (1 + gamma) + beta


class Up(nn.Module):
    def __init__(self, cin: int, cout: int, cond: int):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(cin + cout, cout, 3, padding=1), _norm(cout), nn.SiLU())
        self.film = Film(cond, cout)

    def forward(self, x, skip, cond):
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.film(self.conv(torch.cat([x, skip], 1)), cond)


class Generator(nn.Module):
    def __init__(self, cfg: GeneratorConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or GeneratorConfig()
        c = cfg.base_channels
        chans = [c * 2 ** i for i in range(cfg.n_down + 1)]
        cond = 4 * c
        self.embed = nn.Embedding(cfg.n_emotions, cond)
        self.cond = nn.Sequential(nn.Linear(cond + 1, cond), nn.SiLU(), nn.Linear(cond, cond))
        self.stem = nn.Sequential(nn.Conv2d(3, c, 5, padding=2), _norm(c), nn.SiLU())
        self.down = nn.ModuleList(
            nn.Sequential(nn.Conv2d(chans[i], chans[i + 1], 4, stride=2, padding=1),
                          _norm(chans[i + 1]), nn.SiLU()) for i in range(cfg.n_down))
        self.res = nn.ModuleList(ResBlock(chans[-1]) for _ in range(cfg.n_res))
        self.res_film = Film(cond, chans[-1])
        self.up = nn.ModuleList(Up(chans[i + 1], chans[i], cond) for i in reversed(range(cfg.n_down)))
        self.flow_head = nn.Conv2d(c, 2, 3, padding=1)
        self.mask_head = nn.Conv2d(c, 1, 3, padding=1)
        self.color_head = nn.Conv2d(c, 3, 3, padding=1)
        for head in (self.flow_head, self.mask_head):
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)
        nn.init.constant_(self.mask_head.bias, -4.0)

    def forward(self, x: torch.Tensor, emotion: torch.Tensor, intensity: torch.Tensor) -> dict:
        b, _, h, w = x.shape
        if h != self.cfg.size or w != self.cfg.size:
            raise ValueError(f"generator expects {self.cfg.size}x{self.cfg.size} crops, got {h}x{w}")
        a = intensity.to(x.dtype).view(b)
        cond = self.cond(torch.cat([self.embed(emotion), a[:, None]], 1))
        feats = [self.stem(x - MEAN)]
        for down in self.down:
            feats.append(down(feats[-1]))
        y = feats[-1]
        for block in self.res:
            y = block(y)
        y = self.res_film(y, cond)
        for up, skip in zip(self.up, reversed(feats[:-1])):
            y = up(y, skip, cond)
        flow = torch.tanh(self.flow_head(y)) * (self.cfg.max_flow * h) * a.view(b, 1, 1, 1)
        mask = torch.sigmoid(self.mask_head(y)) * a.clamp(max=1.0).view(b, 1, 1, 1)
        color = torch.sigmoid(self.color_head(y))
        warped = warp(x, flow)
        image = warped + mask * (color - warped)
        return {"flow": flow, "mask": mask, "color": color, "image": image, "warped": warped}
