"""Cheap checks of a prepared dataset (docs/prepared-format.md), so that a damaged file is
found when the store is opened, named, and the way to redo it said, instead of a library error
deep in training.

Checked without reading the data: the JSON lines parse; per clip, meta.json parses and has
this format's version; crops.idx.npy loads, starts at 0, grows, has one offset per frame plus
one, and ends at crops.bin's size; track.npz and audio.npz open as zip files and hold the
arrays with one row per frame (read from the .npy headers). A JPEG that does not decode, or a
zip member whose data is bad, is found when it is read (stccl.data.store.PreparedClip).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from ..errors import DataError

FORMAT_VERSION = 1
INDEX = "index.jsonl"
PAIRS = "pairs.jsonl"

# file -> array -> its shape after the frame axis (None: any)
TRACK = {"landmarks": (68, 2), "landmarks_aligned": (68, 2), "M": (2, 3), "Minv": (2, 3), "flags": ()}
TRACK_OPTIONAL = {"mesh": (468, 3)}  # a dense tracker's raw points; folders prepared by dlib have none
AUDIO = {"mfcc": None}


def redo_clip(clip: Path) -> str:
    """How to prepare the clip in folder `clip` again (prep skips finished clips, so the
    damaged one is deleted first; the rerun prepares only what is missing)."""
    return (f"delete {clip} and run the same `stccl prep INPUT -o {clip.parent.parent}` again "
            "(it prepares only the missing clips)")


def damaged(clip: Path, name: str, what: str) -> DataError:
    """`clip/name what: the clip is damaged; <how to redo it>` as one line."""
    return DataError(f"{clip / name} {what}: the clip is damaged; {redo_clip(clip)}")


def parse_jsonl(path: Path) -> list[dict]:
    """The JSON objects of a JSON-lines file; DataError naming the first line that is not one."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise rebuild_error(path, "is not UTF-8 text") from None
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            rec = None
        if not isinstance(rec, dict):
            raise rebuild_error(path, f"line {n} is not a JSON object")
        out.append(rec)
    return out


def rebuild_error(path: Path, what: str) -> DataError:
    return DataError(f"{path} {what} (the file is cut or damaged); run the same `stccl prep "
                     f"INPUT -o {path.parent}` again: it rebuilds {path.name} from the finished clips")


def check_offsets(clip: Path, frames: int) -> np.ndarray:
    """crops.idx.npy, checked against `frames` and crops.bin's size."""
    idx_file, blob = clip / "crops.idx.npy", clip / "crops.bin"
    for f in (idx_file, blob):
        if not f.is_file():
            raise damaged(clip, f.name, "is missing")
    try:
        idx = np.load(idx_file, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise damaged(clip, idx_file.name, f"cannot be read ({type(e).__name__})") from None
    if idx.ndim != 1 or idx.dtype.kind not in "iu":
        raise damaged(clip, idx_file.name, f"holds {idx.dtype} {idx.shape}, not (N+1,) integer offsets")
    if len(idx) != frames + 1:
        raise damaged(clip, idx_file.name, f"has {len(idx)} offsets, not {frames + 1} "
                      f"(meta.json says {frames} frames)")
    if idx[0] != 0 or np.any(np.diff(idx) <= 0):
        raise damaged(clip, idx_file.name, "does not start at 0 and grow at every frame")
    size = blob.stat().st_size
    if size != idx[-1]:
        raise damaged(clip, blob.name, f"is {size} bytes, its index ({idx_file.name}) says {int(idx[-1])}")
    return idx


def npz_shapes(clip: Path, name: str) -> dict[str, tuple[int, ...]]:
    """The shape of each array in an .npz, from the .npy headers (the data is not read)."""
    shapes = {}
    try:
        with zipfile.ZipFile(clip / name) as zf:
            for member in zf.namelist():
                with zf.open(member) as f:
                    version = np.lib.format.read_magic(f)
                    read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                            else np.lib.format.read_array_header_2_0)
                    shapes[member.removesuffix(".npy")] = read(f)[0]
    except FileNotFoundError:
        raise damaged(clip, name, "is missing") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile) as e:
        raise damaged(clip, name, f"is not a readable .npz ({type(e).__name__})") from None
    return shapes


def check_shapes(clip: Path, name: str, shapes: dict[str, tuple[int, ...]], frames: int,
                 spec: dict[str, tuple[int, ...] | None], require: bool = True) -> None:
    """Each array of `spec` has `frames` rows and the shape after them that `spec` says;
    with `require`, each one is there."""
    for key, rest in spec.items():
        if key not in shapes:
            if require:
                raise damaged(clip, name, f"has no {key!r} array")
            continue
        shape = tuple(shapes[key])
        if not shape or shape[0] != frames or (rest is not None and shape[1:] != rest):
            want = f"({frames}, {', '.join(map(str, rest))})" if rest else f"{frames} rows"
            raise damaged(clip, name, f"holds {key!r} of shape {shape}, not {want}")


def check_clip(clip: Path, frames: int, has_audio: bool) -> None:
    """Every file of a clip whose meta.json says `frames` frames (and `has_audio`)."""
    check_offsets(clip, frames)
    shapes = npz_shapes(clip, "track.npz")
    check_shapes(clip, "track.npz", shapes, frames, TRACK)
    check_shapes(clip, "track.npz", shapes, frames, TRACK_OPTIONAL, require=False)
    if has_audio or (clip / "audio.npz").exists():
        check_shapes(clip, "audio.npz", npz_shapes(clip, "audio.npz"), frames, AUDIO)
