"""Find the clips of a dataset and read their labels from its layout.

Three layouts:

- ``mead``: ``<actor>/video/<view>/<emotion>/level_<k>/<NNN>.mp4``;
- ``ravdess``: ``Actor_XX/MM-VV-EE-II-SS-RR-AA.mp4`` (anywhere below the root);
- ``folder``: any tree of video files, the emotion taken from the nearest parent folder
  named after one; or a CSV manifest (``path,emotion[,actor,sentence]``).
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from ..emotions import EMOTIONS
from ..errors import DataError, InputError
from ..fs import is_video

LAYOUTS = ("mead", "ravdess", "folder")
# The evaluation actors of the papers' protocols: metric training with `--preset paper` leaves
# MEAD's out, and `stccl eval --protocol` tests on them.
MEAD_TEST = ("M003", "M009", "W029", "M012", "M030", "W015")
RAVDESS_TEST = tuple(f"Actor_{i:02d}" for i in range(1, 7))
MEAD_VALIDATION = "W021"  # the reference's held-out actor for the metric
MANIFEST = "manifest.csv"

SYNONYMS = {
    "fearful": "fear",
    "disgust": "disgusted",
    "surprise": "surprised",
    "anger": "angry",
    "happiness": "happy",
    "sadness": "sad",
}

RAVDESS_EMOTIONS = {
    "01": "neutral",
    "02": "calm",
    "03": "happy",
    "04": "sad",
    "05": "angry",
    "06": "fear",
    "07": "disgusted",
    "08": "surprised",
}
RAVDESS_CHANNELS = {"01": "speech", "02": "song"}
RAVDESS_NAME = re.compile(r"^(0[123])-(0[12])-(0[1-8])-(0[12])-(0[12])-(0[12])-(\d\d)$")
LEVEL_DIR = re.compile(r"^level_(\d+)$")
MEAD_NAME = re.compile(r"^(\d{3})$")


@dataclass
class ClipItem:
    path: Path  # kept as found: symlinks are not resolved
    id: str  # unique, filesystem-safe, stable across scans
    layout: str  # mead | ravdess | folder
    actor: str | None = None
    emotion: str = "unknown"  # an EMOTIONS name, "calm" (RAVDESS) or "unknown"
    intensity: int | None = None  # MEAD level k; RAVDESS 1 normal / 2 strong
    sentence: str | None = None  # MEAD "001"; RAVDESS statement "01"/"02"
    view: str | None = None  # MEAD only
    repetition: int | None = None  # RAVDESS only
    channel: str | None = None  # RAVDESS only: speech | song

    def labels(self) -> dict:
        """The fields as a JSON-ready dict (path as a string)."""
        d = asdict(self)
        d["path"] = str(self.path)
        return d


def canonical_emotion(name: str) -> str | None:
    """The canonical name for an emotion word (case-insensitive, synonyms accepted), or None."""
    key = name.strip().lower()
    if key in EMOTIONS:
        return key
    return SYNONYMS.get(key)


def detect_layout(root: str | Path) -> str:
    """``mead``, ``ravdess`` or ``folder``, from what lies under `root`."""
    root = _existing(root)
    if root.is_file():
        return "folder"
    if _mead_actor_dirs(root):
        return "mead"
    if any(True for _ in _ravdess_files(root)):
        return "ravdess"
    return "folder"


def scan(root: str | Path, layout: str = "auto", views=("front",), levels=()) -> list[ClipItem]:
    """Every clip under `root`, sorted by id.

    `views` and `levels` filter MEAD clips; empty means all. Raises DataError when nothing
    is found.
    """
    root = _existing(root)
    if layout not in ("auto", *LAYOUTS):
        raise InputError(f"unknown layout {layout!r}; use auto, {', '.join(LAYOUTS)}")
    if layout == "auto":
        layout = detect_layout(root)
    if layout == "mead":
        items = _scan_mead(root, set(views or ()), {int(k) for k in levels or ()})
    elif layout == "ravdess":
        items = _scan_ravdess(root)
    else:
        items = _scan_folder(root)
    if not items:
        where = f"layout {layout}{_filters(layout, views, levels)}"
        raise DataError(f"no video clips found under {root} ({where})")
    items.sort(key=lambda it: it.id)
    return items


def _existing(root: str | Path) -> Path:
    root = Path(root)
    if not root.exists():
        raise InputError(f"input not found: {root}")
    return root


def _filters(layout: str, views, levels) -> str:
    if layout != "mead":
        return ""
    v = ",".join(views) if views else "all"
    lv = ",".join(str(k) for k in levels) if levels else "all"
    return f", views {v}, levels {lv}"


def _sorted_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir())


# ---- MEAD


def _mead_actor_dirs(root: Path) -> list[Path]:
    """Actor folders: the root's subfolders with a video/ folder, or the root itself."""
    if (root / "video").is_dir() and _has_mead_clip(root):
        return [root]
    return [d for d in _sorted_dirs(root) if (d / "video").is_dir() and _has_mead_clip(d)]


def _has_mead_clip(actor_dir: Path) -> bool:
    return any(True for _ in actor_dir.glob("video/*/*/level_*/*.mp4"))


def _scan_mead(root: Path, views: set[str], levels: set[int]) -> list[ClipItem]:
    items = []
    for actor_dir in _mead_actor_dirs(root):
        actor = actor_dir.name
        for view_dir in _sorted_dirs(actor_dir / "video"):
            if views and view_dir.name not in views:
                continue
            for emo_dir in _sorted_dirs(view_dir):
                emotion = canonical_emotion(emo_dir.name)
                if emotion is None:
                    continue
                for level_dir in _sorted_dirs(emo_dir):
                    m = LEVEL_DIR.match(level_dir.name)
                    if not m or (levels and int(m.group(1)) not in levels):
                        continue
                    items += _mead_level(level_dir, actor, view_dir.name, emotion, int(m.group(1)))
    return items


def _mead_level(level_dir: Path, actor: str, view: str, emotion: str, level: int) -> list[ClipItem]:
    items = []
    for f in sorted(level_dir.iterdir()):
        m = MEAD_NAME.match(f.stem)
        if not (m and f.suffix.lower() == ".mp4" and f.is_file()):
            continue
        sentence = m.group(1)
        items.append(ClipItem(
            path=f, id=f"{actor}_{view}_{emotion}_{level}_{sentence}", layout="mead",
            actor=actor, emotion=emotion, intensity=level, sentence=sentence, view=view,
        ))
    return items


# ---- RAVDESS


def _walk_files(root: Path):
    """Every file below `root`, following directory symlinks (each real folder once)."""
    seen = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs.sort()
        for name in sorted(files):
            yield Path(folder) / name


def _ravdess_files(root: Path):
    """(path, match) for files named like RAVDESS under an ``Actor_*`` folder."""
    for f in _walk_files(root):
        if not f.parent.name.startswith("Actor_") or not is_video(f):
            continue
        m = RAVDESS_NAME.match(f.stem)
        if m:
            yield f, m


def _scan_ravdess(root: Path) -> list[ClipItem]:
    found = {}
    for f, m in _ravdess_files(root):
        modality, channel, emo, intensity, statement, rep, actor = m.groups()
        if modality == "03":
            continue  # audio-only
        found[f.stem] = (f, channel, emo, intensity, statement, rep, actor)
    items = []
    for stem, (f, channel, emo, intensity, statement, rep, actor) in found.items():
        if stem.startswith("02-") and "01-" + stem[3:] in found:
            continue  # the video-only copy of a take that also comes with audio
        items.append(ClipItem(
            path=f, id=f"ravdess_{stem}", layout="ravdess", actor=f"Actor_{actor}",
            emotion=RAVDESS_EMOTIONS[emo], intensity=int(intensity), sentence=statement,
            repetition=int(rep), channel=RAVDESS_CHANNELS[channel],
        ))
    return items


# ---- folder and manifest


def _scan_folder(root: Path) -> list[ClipItem]:
    if root.is_file():
        if root.suffix.lower() == ".csv":
            return _scan_manifest(root)
        if not is_video(root):
            raise InputError(f"not a video file or CSV manifest: {root}")
        return [ClipItem(path=root, id=_safe_id(root.stem), layout="folder",
                         emotion=_emotion_from_path(root, root.parent))]
    if (root / MANIFEST).is_file():
        return _scan_manifest(root / MANIFEST)
    files = [f for f in _walk_files(root) if is_video(f)]
    ids = _unique_ids([_path_id(f.relative_to(root)) for f in files])
    return [
        ClipItem(path=f, id=i, layout="folder", emotion=_emotion_from_path(f, root))
        for f, i in zip(files, ids)
    ]


def _emotion_from_path(f: Path, root: Path) -> str:
    """The nearest parent folder (up to and including `root`) named after an emotion,
    else the file name itself, else "unknown"."""
    parents = f.relative_to(root).parent.parts[::-1] + (root.name,)
    for name in parents + (f.stem,):
        emotion = canonical_emotion(name)
        if emotion:
            return emotion
    return "unknown"


def _scan_manifest(csv_path: Path) -> list[ClipItem]:
    base = csv_path.parent
    with open(csv_path, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    header = [h.strip().lower() for h in rows[0]] if rows else []
    if "path" not in header or "emotion" not in header:
        raise DataError(f"{csv_path}: first row must be a header with path and emotion columns")
    col = {name: header.index(name) for name in ("path", "emotion", "actor", "sentence")
           if name in header}
    items = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        items.append(_manifest_item(csv_path, base, line, row, col))
    ids = _unique_ids([it.id for it in items])
    for it, i in zip(items, ids):
        it.id = i
    return items


def _manifest_item(csv_path: Path, base: Path, line: int, row: list[str], col: dict) -> ClipItem:
    def cell(name: str) -> str:
        i = col.get(name)
        return row[i].strip() if i is not None and i < len(row) else ""

    where = f"{csv_path.name} line {line}"
    rel = cell("path")
    if not rel:
        raise DataError(f"{where}: empty path")
    emotion_name = cell("emotion")
    if emotion_name.lower() in ("", "unknown"):
        emotion = "unknown"
    elif emotion_name.lower() == "calm":
        emotion = "calm"
    else:
        emotion = canonical_emotion(emotion_name)
    if emotion is None:
        known = ", ".join(EMOTIONS)
        raise DataError(f"{where}: unknown emotion {emotion_name!r} (use one of {known})")
    path = base / rel
    if not path.is_file():
        raise DataError(f"{where}: file not found: {path}")
    return ClipItem(path=path, id=_path_id(Path(rel)), layout="folder",
                    actor=cell("actor") or None, emotion=emotion,
                    sentence=cell("sentence") or None)


def _path_id(rel: Path) -> str:
    """A relative path as an id: its parts joined by "__", without the extension."""
    parts = [p for p in rel.with_suffix("").parts if p not in ("", ".", "/")]
    return "__".join(_safe_id(p.replace("..", "up")) for p in parts)


def _safe_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "clip"


def _unique_ids(ids: list[str]) -> list[str]:
    """`ids`, with later duplicates given a -2, -3, ... suffix."""
    seen: dict[str, int] = {}
    out = []
    for i in ids:
        n = seen.get(i, 0) + 1
        seen[i] = n
        out.append(i if n == 1 else f"{i}-{n}")
    return out
