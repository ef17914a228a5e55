"""Sample grids: each row an input crop, then the generator's output for every emotion."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from ..emotions import EMOTIONS
from ..fs import atomic_path

HEADER = 18
MIN_CELL = 96


@torch.no_grad()
def sample_grid(generator, crops: torch.Tensor, emotions: list[int], intensity: float = 1.0) -> np.ndarray:
    """crops (N,3,S,S) in [0,1], their source emotions -> an RGB uint8 grid with a header row."""
    n = crops.shape[0]
    cols = [crops]
    for e in range(len(EMOTIONS)):
        out = generator(crops, torch.full((n,), e, dtype=torch.long, device=crops.device),
                        torch.full((n,), intensity, device=crops.device))
        cols.append(out["image"].float().clamp(0, 1))
    s = max(crops.shape[-1], MIN_CELL)
    grid = torch.stack(cols, 1).flatten(0, 1)  # (N*(1+E),3,S,S)
    if grid.shape[-1] != s:
        grid = torch.nn.functional.interpolate(grid, size=(s, s), mode="bilinear", align_corners=False)
    grid = (grid.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    ncol = 1 + len(EMOTIONS)
    canvas = np.full((HEADER + n * s, ncol * s, 3), 255, np.uint8)
    for k, cell in enumerate(grid):
        r, c = divmod(k, ncol)
        canvas[HEADER + r * s:HEADER + (r + 1) * s, c * s:(c + 1) * s] = cell
    for c, name in enumerate(("input",) + EMOTIONS):
        cv2.putText(canvas, name, (c * s + 3, HEADER - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    for r, e in enumerate(emotions):  # the source emotion's column gets a frame
        c = 1 + e
        cv2.rectangle(canvas, (c * s, HEADER + r * s), ((c + 1) * s - 1, HEADER + (r + 1) * s - 1), (0, 160, 0), 2)
    return canvas


def save_png(image_rgb: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR)):
            raise OSError(f"cannot write {path}")
