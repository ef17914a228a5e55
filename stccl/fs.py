"""File-system helpers: which files are videos, output folders that are checked up front, and
atomic writes."""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import InputError

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")

_UMASK = os.umask(0)
os.umask(_UMASK)


def is_video(path: str | Path) -> bool:
    """A video file by its name (hidden files are not)."""
    path = Path(path)
    return path.suffix.lower() in VIDEO_EXTENSIONS and not path.name.startswith(".")


def ensure_writable_dir(path: str | Path) -> Path:
    """Create `path` (and parents) if needed; a one-line InputError when that is impossible."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"cannot create the output folder {path}: a file of that name exists")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create the output folder {path}: {e.strerror or e}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise InputError(f"output folder is not writable: {path}")
    return path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` in one step,
    on failure it is removed and `path` is left as it was."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}{path.suffix}")
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # some writers (safetensors) create files as 0600
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
