"""Emotion-labelled windows of single clips, for the generator and the emotion classifier.

Item k -> (frames (T,3,S,S) float32 RGB in [0,1], emotion index in stccl.emotions.EMOTIONS).
Only clips whose emotion is one of the 8 MEAD emotions are used ("unknown" and RAVDESS "calm"
are not). Windows are non-overlapping runs of T frames that all have a face.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from ..emotions import EMOTIONS
from ..errors import DataError
from ..face.smooth import FACE_MISSING
from .split import split_actors
from .store import PreparedDataset


@dataclass(frozen=True)
class ClipWindow:
    clip: str
    frames: tuple[int, ...]
    emotion: int


def labelled_records(ds: PreparedDataset) -> list[dict]:
    """The ok clips whose emotion is one of EMOTIONS."""
    return [r for r in ds.ok if r.get("emotion") in EMOTIONS]


def split_clip_actors(records: list[dict], val_actors: list[str]) -> tuple[list[dict], list[dict], list[str]]:
    """(training records, validation records, held-out actors): stccl.data.split on clips."""
    train, val, held = split_actors(records, val_actors, "labelled clips")
    return [records[k] for k in train], [records[k] for k in val], held


def clip_windows(clip_id: str, ok: np.ndarray, t: int, emotion: int) -> list[ClipWindow]:
    out = []
    for start in range(0, len(ok) - t + 1, t):
        if ok[start:start + t].all():
            out.append(ClipWindow(clip_id, tuple(range(start, start + t)), emotion))
    return out


class EmotionWindows(torch.utils.data.Dataset):
    def __init__(self, root, records: list[dict], window: int, size: int):
        if window < 1:
            raise DataError(f"window must be at least 1 frame, got {window}")
        self.ds = PreparedDataset(root)
        self.size = size
        self.windows: list[ClipWindow] = []
        for r in records:
            clip = self.ds.clip(r["id"])
            ok = (clip.track["flags"] & FACE_MISSING) == 0
            self.windows += clip_windows(r["id"], ok, window, EMOTIONS.index(r["emotion"]))

    def __len__(self) -> int:
        return len(self.windows)

    def emotions(self) -> list[int]:
        return [w.emotion for w in self.windows]

    def __getitem__(self, k: int) -> tuple[torch.Tensor, int]:
        w = self.windows[k]
        crops = self.ds.clip(w.clip).crops(w.frames)
        if crops.shape[1] != self.size:
            crops = np.stack([cv2.resize(c, (self.size, self.size), interpolation=cv2.INTER_AREA) for c in crops])
        return torch.from_numpy(crops).permute(0, 3, 1, 2).float().div_(255), w.emotion


def require_labelled(root) -> tuple[PreparedDataset, list[dict]]:
    ds = PreparedDataset(root)
    records = labelled_records(ds)
    if not records:
        raise DataError(f"{root}: no clip has an emotion label ({', '.join(EMOTIONS)}); prepare a MEAD or "
                        "RAVDESS tree, or a folder whose sub-folders are named after emotions")
    ds.check([r["id"] for r in records])  # a damaged clip fails now, not mid-training
    return ds, records
