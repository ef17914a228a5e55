"""Paired windows for the metric: T consecutive frames of a neutral take and the frames of the
other take that the DTW path matches to them. RGB float in [0,1], (T,3,S,S) per stream.

Batches are a function of the step (`StepBatches`), so a resumed run sees exactly the batches
it would have seen, with no repeats and no gaps, and each DDP process takes its own slice.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from ..errors import DataError
from ..face.smooth import FACE_MISSING

from .store import PreparedDataset


@dataclass(frozen=True)
class Window:
    pair: int  # index into the dataset's pairs
    neutral: tuple[int, ...]  # frame indices of the neutral take
    other: tuple[int, ...]  # matched frame indices of the other take


def matched_frames(path: list[list[int]]) -> dict[int, int]:
    """neutral frame -> the median frame of the other take that the DTW path matches to it."""
    by_i: dict[int, list[int]] = {}
    for i, j in path:
        by_i.setdefault(int(i), []).append(int(j))
    return {i: js[len(js) // 2] for i, js in by_i.items()}


def pair_windows(pair: dict, pair_index: int, t: int, ok_a: np.ndarray, ok_b: np.ndarray,
                 stride: int = 0) -> list[Window]:
    """Windows of `t` consecutive neutral frames with a face in both takes, starting every
    `stride` frames (0: every `t`, so they do not overlap; 1: at every frame, as the reference)."""
    match = matched_frames(pair["path"])
    out = []
    for start in range(0, max(match) + 2 - t if match else 0, stride or t):
        ia = tuple(range(start, start + t))
        if not all(i in match for i in ia):
            continue
        ib = tuple(match[i] for i in ia)
        if all(i < len(ok_a) and ok_a[i] for i in ia) and all(j < len(ok_b) and ok_b[j] for j in ib):
            out.append(Window(pair_index, ia, ib))
    return out


def crops_to_tensor(crops: np.ndarray, size: int) -> torch.Tensor:
    """(N,H,W,3) uint8 RGB crops -> (N,3,size,size) float32 in [0, 1]."""
    if crops.shape[1] != size:
        crops = np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA) for c in crops])
    return torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).float().div_(255)


def select_pairs(ds: PreparedDataset, emotions=(), levels=(), views=()) -> list[int]:
    """Indices of `ds.pairs` whose other take has one of `emotions`, `levels` (its intensity:
    MEAD's level_k) and `views`; an empty filter keeps everything."""
    records = {r["id"]: r for r in ds.ok}
    keep = []
    for k, pair in enumerate(ds.pairs):
        other = records.get(pair["other"], {})
        if emotions and pair.get("emotion") not in emotions:
            continue
        if levels and other.get("intensity") not in levels:
            continue
        if views and other.get("view") not in views:
            continue
        keep.append(k)
    return keep


def far_frames(ok: np.ndarray, frames: tuple[int, ...], far: int) -> np.ndarray:
    """Frames with a face at least `far` frames from every frame of `frames`."""
    idx = np.flatnonzero(ok)
    lo, hi = min(frames), max(frames)
    return idx[(idx <= lo - far) | (idx >= hi + far)]


class PairWindows(torch.utils.data.Dataset):
    """Item k -> (a, b): (T,3,S,S) float32 RGB windows of the neutral and the other take; with
    `negatives` K > 0, also (na, nb): K frames of each take at least T frames from the window
    (hard negatives in time), drawn by a generator seeded with (seed, k)."""

    def __init__(self, root, pair_indices: list[int], window: int, size: int, stride: int = 0,
                 negatives: int = 0, seed: int = 0):
        self.ds = PreparedDataset(root)
        self.size, self.negatives, self.seed, self.t = size, negatives, seed, window
        self.windows: list[Window] = []
        ok = {}
        for k in pair_indices:
            pair = self.ds.pairs[k]
            for cid in (pair["neutral"], pair["other"]):
                if cid not in ok:
                    ok[cid] = (self.ds.clip(cid).track["flags"] & FACE_MISSING) == 0
            self.windows += pair_windows(pair, k, window, ok[pair["neutral"]], ok[pair["other"]], stride)
        self.ok = ok
        self.frame_pairs = sum(len(self.ds.pairs[k]["path"]) for k in pair_indices)  # aligned (DTW path)

    def __len__(self) -> int:
        return len(self.windows)

    def _frames(self, clip_id: str, idx: tuple[int, ...]) -> torch.Tensor:
        return crops_to_tensor(self.ds.clip(clip_id).crops(idx), self.size)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, ...]:
        w = self.windows[k]
        pair = self.ds.pairs[w.pair]
        a, b = self._frames(pair["neutral"], w.neutral), self._frames(pair["other"], w.other)
        if not self.negatives:
            return a, b
        rng = np.random.default_rng((self.seed, k))
        far = [far_frames(self.ok[cid], frames, self.t)
               for cid, frames in ((pair["neutral"], w.neutral), (pair["other"], w.other))]
        if not all(len(f) for f in far):  # a take too short for frames that far: the window's own
            far = [np.asarray(w.neutral), np.asarray(w.other)]
        picks = [tuple(int(i) for i in rng.choice(f, self.negatives, replace=len(f) < self.negatives))
                 for f in far]
        return a, b, self._frames(pair["neutral"], picks[0]), self._frames(pair["other"], picks[1])


class StepBatches(torch.utils.data.Sampler):
    """Batch sampler: the batch of global step s is a fixed slice of a per-epoch permutation.

    Epoch e's order is `randperm(n)` seeded with seed + e; step s takes positions
    [(s mod E) * B * W + rank * B, ... + B) where E = steps per epoch, W = world size.
    """

    def __init__(self, n: int, batch: int, seed: int = 0, start: int = 0, rank: int = 0, world: int = 1):
        if n < batch * world:
            raise DataError(f"{n} training windows, fewer than one batch of {batch} x {world} process(es); "
                            "lower --batch or the window length, or prepare more clips")
        self.n, self.batch, self.seed, self.start, self.rank, self.world = n, batch, seed, start, rank, world

    @property
    def steps_per_epoch(self) -> int:
        return self.n // (self.batch * self.world)

    def indices(self, step: int) -> list[int]:
        epoch, k = divmod(step, self.steps_per_epoch)
        perm = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed + epoch))
        at = k * self.batch * self.world + self.rank * self.batch
        return perm[at:at + self.batch].tolist()

    def __iter__(self):
        step = self.start
        while True:
            yield self.indices(step)
            step += 1

    def __len__(self) -> int:  # infinite; DataLoader only needs it for len()
        return 2**31
