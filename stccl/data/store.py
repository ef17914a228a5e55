"""The prepared dataset on disk (format version 1, spec in docs/prepared-format.md).

    OUT/index.jsonl            one record per input clip (ok and failed)
    OUT/pairs.jsonl            cross-emotion pairs with their DTW paths
    OUT/prep.toml              the resolved prep config
    OUT/clips/<id>/meta.json   the clip's record; written last, so its presence = clip finished
    OUT/clips/<id>/crops.bin   aligned RGB crops, one JPEG per frame, concatenated
    OUT/clips/<id>/crops.idx.npy   (N+1,) int64 byte offsets into crops.bin
    OUT/clips/<id>/track.npz   landmarks, landmarks_aligned (N,68,2) float32 (NaN = no face),
                               M, Minv (N,2,3) float32 (NaN = no face), flags (N,) uint8
    OUT/clips/<id>/audio.npz   mfcc (N, n_mfcc) float32, one row per video frame (only with audio)
    OUT/failed/<id>.json       the record of a clip that failed

A clip is written into a hidden temporary folder and renamed into place in one step, so a
killed run never leaves a half-written clip that looks finished. Nothing is pickled.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable

import cv2
import numpy as np

from ..errors import DataError
from ..fs import write_text_atomic  # noqa: F401  (also imported from here by callers)

FORMAT_VERSION = 1
INDEX = "index.jsonl"
PAIRS = "pairs.jsonl"


def write_jsonl_atomic(path: Path, records: Iterable[dict]) -> None:
    write_text_atomic(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))


def read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class ClipWriter:
    """Collects one clip's arrays, then publishes the folder atomically with `commit`."""

    def __init__(self, root: Path, clip_id: str, jpeg_quality: int = 95):
        self.final = root / "clips" / clip_id
        self.tmp = root / "clips" / f".{clip_id}.tmp-{socket.gethostname()}-{os.getpid()}"
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True)
        self._crops = open(self.tmp / "crops.bin", "wb")
        self._offsets = [0]
        self._quality = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]

    def add_crop(self, crop_rgb: np.ndarray) -> None:
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(crop_rgb, cv2.COLOR_RGB2BGR), self._quality)
        if not ok:
            raise DataError("JPEG encoding of a crop failed")
        self._crops.write(buf.tobytes())
        self._offsets.append(self._offsets[-1] + len(buf))

    def commit(self, track: dict[str, np.ndarray], audio: dict[str, np.ndarray] | None,
               meta: dict[str, Any]) -> None:
        self._crops.close()
        np.save(self.tmp / "crops.idx.npy", np.asarray(self._offsets, dtype=np.int64))
        np.savez(self.tmp / "track.npz", **track)
        if audio:
            np.savez(self.tmp / "audio.npz", **audio)
        (self.tmp / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
        if self.final.exists():
            shutil.rmtree(self.final)
        os.rename(self.tmp, self.final)

    def abort(self) -> None:
        if not self._crops.closed:
            self._crops.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def is_finished(root: Path, clip_id: str) -> bool:
    return (root / "clips" / clip_id / "meta.json").is_file()


def failed_path(root: Path, clip_id: str) -> Path:
    return root / "failed" / f"{clip_id}.json"


def write_failed(root: Path, record: dict) -> None:
    path = failed_path(root, record["id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(record, indent=1, sort_keys=True))


def collect_records(root: Path) -> list[dict]:
    """Every finished clip's record and every failure, sorted by id (a finished clip wins)."""
    records: dict[str, dict] = {}
    for meta in sorted((root / "failed").glob("*.json")):
        rec = json.loads(meta.read_text())
        records[rec["id"]] = rec
    for meta in sorted((root / "clips").glob("*/meta.json")):
        rec = json.loads(meta.read_text())
        records[rec["id"]] = rec
    return [records[k] for k in sorted(records)]


@dataclass
class PreparedClip:
    """Random access to one prepared clip: `clip.crop(i)` is an RGB (S,S,3) uint8 array."""

    path: Path

    @cached_property
    def meta(self) -> dict:
        meta_file = self.path / "meta.json"
        if not meta_file.is_file():
            raise DataError(f"{self.path}: not a prepared clip (no meta.json)")
        meta = json.loads(meta_file.read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise DataError(f"{self.path}: prepared with format {meta.get('format_version')}, "
                            f"this stccl reads {FORMAT_VERSION}; run `stccl prep` again")
        return meta

    @property
    def id(self) -> str:
        return self.meta["id"]

    def __len__(self) -> int:
        return int(self.meta["frames"])

    @cached_property
    def _offsets(self) -> np.ndarray:
        return np.load(self.path / "crops.idx.npy")

    @cached_property
    def _blob(self) -> np.memmap:
        return np.memmap(self.path / "crops.bin", dtype=np.uint8, mode="r")

    def crop(self, i: int) -> np.ndarray:
        if not -len(self) <= i < len(self):
            raise IndexError(f"frame {i} out of range for {len(self)} frames")
        i %= len(self)
        buf = self._blob[self._offsets[i]:self._offsets[i + 1]]
        return cv2.cvtColor(cv2.imdecode(np.asarray(buf), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)

    def crops(self, indices: Iterable[int]) -> np.ndarray:
        return np.stack([self.crop(int(i)) for i in indices])

    @cached_property
    def track(self) -> dict[str, np.ndarray]:
        with np.load(self.path / "track.npz", allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    @cached_property
    def mfcc(self) -> np.ndarray | None:
        f = self.path / "audio.npz"
        if not f.is_file():
            return None
        with np.load(f, allow_pickle=False) as z:
            return z["mfcc"]


class PreparedDataset:
    """A prepared dataset folder: its index, its clips and its pairs."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not (self.root / INDEX).is_file():
            raise DataError(f"{self.root}: not a prepared dataset (no {INDEX}); run `stccl prep` first")

    @cached_property
    def records(self) -> list[dict]:
        return read_jsonl(self.root / INDEX)

    @cached_property
    def ok(self) -> list[dict]:
        return [r for r in self.records if r.get("status") == "ok"]

    def clip(self, clip_id: str) -> PreparedClip:
        return PreparedClip(self.root / "clips" / clip_id)

    @cached_property
    def pairs(self) -> list[dict]:
        return read_jsonl(self.root / PAIRS)


NO_PAIRS = ("no cross-emotion pairs; pairs arise when an actor says the same sentence as neutral and "
            "in another emotion (MEAD sentences, RAVDESS statements) - prepare both takes")


def require_pairs(root: str | Path) -> PreparedDataset:
    """The prepared dataset at `root`, which must hold cross-emotion pairs (DataError if not)."""
    ds = PreparedDataset(root)
    if not ds.pairs:
        raise DataError(f"{root}: {NO_PAIRS}")
    return ds
