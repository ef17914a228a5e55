"""A PNG to glance at an edit: frames of the input (top row) above the same frames edited."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..fs import atomic_path
from ..video import VideoReader, probe


def _frames_at(path: Path, indices: list[int]) -> list[np.ndarray]:
    wanted, got = set(indices), {}
    with VideoReader(path, chunk=8) as reader:
        for i, frame in enumerate(reader.frames()):
            if i in wanted:
                got[i] = frame.copy()
            if len(got) == len(wanted):
                break
    return [got[i] for i in indices if i in got]


def write_preview(src: str | Path, edited: str | Path, png: str | Path, n: int = 4,
                  height: int = 256, overwrite: bool = False) -> Path:
    info = probe(src)
    count = min(info.frames, probe(edited).frames)
    indices = sorted({int(i) for i in np.linspace(0, count - 1, n + 2)[1:-1]})
    rows = []
    for path in (src, edited):
        tiles = [cv2.resize(f, (round(f.shape[1] * height / f.shape[0]), height),
                            interpolation=cv2.INTER_AREA) for f in _frames_at(Path(path), indices)]
        rows.append(np.concatenate(tiles, axis=1))
    png = Path(png)
    with atomic_path(png, overwrite) as tmp:
        cv2.imwrite(str(tmp), cv2.cvtColor(np.concatenate(rows, axis=0), cv2.COLOR_RGB2BGR))
    return png
