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

Cheap checks (stccl.data.integrity): index.jsonl parses when the dataset is opened and
pairs.jsonl when first read; each part of a clip (meta, offsets against crops.bin's size,
array shapes) is checked when first read, and `check()` checks whole clips up front (training
does, before its first stage). A damaged file is a DataError that names it and says how to redo
the clip.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable

import cv2
import numpy as np

from ..errors import DataError
from ..fs import temp_path, write_text_atomic  # noqa: F401  (also imported from here by callers)
from .integrity import (AUDIO, FORMAT_VERSION, INDEX, PAIRS, TRACK, TRACK_OPTIONAL, check_clip, check_offsets, check_shapes,
                        damaged, parse_jsonl, rebuild_error, redo_clip)


def write_jsonl_atomic(path: Path, records: Iterable[dict]) -> None:
    write_text_atomic(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))


def read_jsonl(path: Path) -> list[dict]:
    """The records of a JSON-lines file ([] when absent); DataError naming the line that does
    not parse (a cut or hand-edited file), with how to rebuild it."""
    return parse_jsonl(path) if path.is_file() else []


class ClipWriter:
    """Collects one clip's arrays, then publishes the folder atomically with `commit`."""

    def __init__(self, root: Path, clip_id: str, jpeg_quality: int = 95):
        self.final = root / "clips" / clip_id
        # .ID.tmp-HOST-PID-RAND: stccl.fs.remove_stale_temps knows it, and removes it once
        # this process is gone (a kill -9), never while it runs
        self.tmp = temp_path(self.final)
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
        rec = _read_record(meta, f"delete {meta} and run again")
        records[rec["id"]] = rec
    for meta in sorted((root / "clips").glob("*/meta.json")):
        rec = _read_record(meta, redo_clip(meta.parent))
        records[rec["id"]] = rec
    return [records[k] for k in sorted(records)]


def _read_record(path: Path, fix: str) -> dict:
    try:
        rec = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError):
        rec = None
    if not isinstance(rec, dict) or not isinstance(rec.get("id"), str):
        raise DataError(f"{path} is not a clip record (cut or damaged); {fix}")
    return rec


_CHECKED: set[tuple] = set()  # the _stamp of each clip checked whole in this process


def _stamp(clip: Path) -> tuple:
    """A clip folder and the size and time of each of its files: what changes when it does."""
    stats = []
    for name in ("meta.json", "crops.bin", "crops.idx.npy", "track.npz", "audio.npz"):
        try:
            st = (clip / name).stat()
            stats.append((st.st_size, st.st_mtime_ns, st.st_ino))
        except OSError:
            stats.append(None)
    return (str(clip.absolute()), *stats)


@dataclass
class PreparedClip:
    """Random access to one prepared clip: `clip.crop(i)` is an RGB (S,S,3) uint8 array.

    Each part (offsets against crops.bin, track.npz, audio.npz) is checked when first read, and
    `check()` checks them all (stccl.data.integrity): a damaged file is a DataError naming it."""

    path: Path

    @cached_property
    def meta(self) -> dict:
        meta_file = self.path / "meta.json"
        if not meta_file.is_file():
            raise DataError(f"{self.path}: not a prepared clip (no meta.json); {redo_clip(self.path)}")
        try:
            meta = json.loads(meta_file.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError):
            meta = None
        if not isinstance(meta, dict):
            raise damaged(self.path, "meta.json", "is not a JSON object (cut or damaged)")
        if meta.get("format_version") != FORMAT_VERSION:
            raise DataError(f"{self.path}: prepared with format {meta.get('format_version')}, "
                            f"this stccl reads {FORMAT_VERSION}; run `stccl prep` again into a new folder")
        if not isinstance(meta.get("frames"), int) or meta["frames"] < 0:
            raise damaged(self.path, "meta.json", f"has no frame count (frames: {meta.get('frames')!r})")
        return meta

    def check(self) -> PreparedClip:
        """Check all of the clip's files (cheap: sizes, offsets, array headers); DataError
        naming the file that is damaged. Reading a part checks that part on its own."""
        n = len(self)  # meta.json first
        key = _stamp(self.path)
        if key not in _CHECKED:  # once per process, unless a file changed
            check_clip(self.path, n, has_audio=bool(self.meta.get("has_audio")))
            _CHECKED.add(key)
        return self

    @property
    def id(self) -> str:
        return self.meta.get("id", self.path.name)

    def __len__(self) -> int:
        return int(self.meta["frames"])

    @cached_property
    def _offsets(self) -> np.ndarray:
        return check_offsets(self.path, len(self))

    @cached_property
    def _blob(self) -> np.memmap:
        _ = self._offsets  # checked against crops.bin's size first
        return np.memmap(self.path / "crops.bin", dtype=np.uint8, mode="r")

    def crop(self, i: int) -> np.ndarray:
        if not -len(self) <= i < len(self):
            raise IndexError(f"frame {i} out of range for {len(self)} frames")
        i %= len(self)
        buf = self._blob[self._offsets[i]:self._offsets[i + 1]]
        img = cv2.imdecode(np.asarray(buf), cv2.IMREAD_COLOR)
        if img is None:
            raise damaged(self.path, "crops.bin", f"holds no readable JPEG for frame {i}")
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)

    def crops(self, indices: Iterable[int]) -> np.ndarray:
        return np.stack([self.crop(int(i)) for i in indices])

    @cached_property
    def track(self) -> dict[str, np.ndarray]:
        return self._arrays("track.npz", {**TRACK, **TRACK_OPTIONAL})

    @cached_property
    def mfcc(self) -> np.ndarray | None:
        if not (self.path / "audio.npz").is_file():
            if self.meta.get("has_audio"):
                raise damaged(self.path, "audio.npz", "is missing (meta.json says the clip has audio)")
            return None
        return self._arrays("audio.npz", AUDIO)["mfcc"]

    def _arrays(self, name: str, spec: dict) -> dict[str, np.ndarray]:
        try:
            with np.load(self.path / name, allow_pickle=False) as z:
                arrays = _Arrays({k: z[k] for k in z.files}, where=(self.path, name))
        except FileNotFoundError:
            raise damaged(self.path, name, "is missing") from None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:  # cut, bad CRC, not a zip
            raise damaged(self.path, name, f"cannot be read ({type(e).__name__})") from None
        check_shapes(self.path, name, {k: v.shape for k, v in arrays.items()}, len(self), spec,
                     require=False)
        return arrays


class _Arrays(dict):
    """The arrays of an .npz; a missing one is a DataError naming the file, not a KeyError."""

    def __init__(self, arrays: dict[str, np.ndarray], where: tuple[Path, str]):
        super().__init__(arrays)
        self.where = where

    def __missing__(self, key: str):
        raise damaged(*self.where, f"has no {key!r} array")


class PreparedDataset:
    """A prepared dataset folder: its index, its clips and its pairs."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not (self.root / INDEX).is_file():
            raise DataError(f"{self.root}: not a prepared dataset (no {INDEX}); run `stccl prep` first")
        self.records = read_jsonl(self.root / INDEX)  # read now: a cut index fails at the start
        for n, r in enumerate(self.records, 1):
            if not isinstance(r.get("id"), str) or "status" not in r:
                raise rebuild_error(self.root / INDEX, f"line {n} is not a clip record")

    @cached_property
    def ok(self) -> list[dict]:
        return [r for r in self.records if r.get("status") == "ok"]

    def clip(self, clip_id: str) -> PreparedClip:
        return PreparedClip(self.root / "clips" / clip_id)

    @cached_property
    def pairs(self) -> list[dict]:
        return read_jsonl(self.root / PAIRS)

    def check(self, clip_ids: Iterable[str] | None = None) -> None:
        """Check the clips `clip_ids` (every ok clip when None) up front: DataError for the
        first damaged one. Cheap: stat, small .npy loads and zip headers, about 1.5 ms a clip,
        once per process (a chain of stages checks each clip once)."""
        for cid in (r["id"] for r in self.ok) if clip_ids is None else clip_ids:
            self.clip(cid).check()


NO_PAIRS = ("no cross-emotion pairs; pairs arise when an actor says the same sentence as neutral and "
            "in another emotion (MEAD sentences, RAVDESS statements) - prepare both takes")


def require_pairs(root: str | Path) -> PreparedDataset:
    """The prepared dataset at `root`, which must hold cross-emotion pairs (DataError if not)."""
    ds = PreparedDataset(root)
    if not ds.pairs:
        raise DataError(f"{root}: {NO_PAIRS}")
    ds.check(sorted({p[k] for p in ds.pairs for k in ("neutral", "other")}))
    return ds
