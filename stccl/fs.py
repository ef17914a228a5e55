"""File-system helpers: which files are videos, output folders that are checked up front,
atomic writes that never replace what they did not create, and temp names that say whose
they are, so a later run can remove the leftovers of dead runs (and only those)."""

from __future__ import annotations

import errno
import logging
import os
import re
import secrets
import shutil
import socket
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from .errors import InputError

log = logging.getLogger(__name__)

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


HOST = re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname()) or "host"
_TEMP = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)(-[0-9a-f]{8})?(\.[^.]*)?$")


def temp_path(path: str | Path) -> Path:
    """A hidden temp name beside `path` that carries this host and process id, and keeps the
    suffix (ffmpeg picks the container by it): `.out.mp4.tmp-HOST-PID-RAND.mp4`."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp-{HOST}-{os.getpid()}-{secrets.token_hex(4)}{path.suffix}")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # another user's live process, or cannot tell: keep its files
    return True


def remove_stale_temps(folder: str | Path, names: Iterable[str] | None = None) -> list[Path]:
    """Remove the temp files and folders in `folder` left by dead runs on this host (killed,
    crashed, power lost), for the outputs in `names` (all when None). A live run's temp files,
    and those of another host (a shared network folder), stay. Returns what was removed."""
    folder = Path(folder)
    wanted = None if names is None else set(names)
    removed: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP.match(entry.name)
        if m is None or m["host"] != HOST or _pid_alive(int(m["pid"])):
            continue
        if wanted is not None and m["name"] not in wanted:
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError:
            continue
        removed.append(entry)
        log.info(f"removed {entry.name}, left by an earlier run that did not finish")
    return removed


class OutputExists(InputError):
    """The output path was taken by someone else while this run worked."""


class FolderBusy(InputError):
    """Another live process holds the folder's lock."""


LOCK = ".lock"


@contextmanager
def locked_folder(folder: str | Path, what: str = "run folder") -> Iterator[None]:
    """Hold `folder`'s lock (FOLDER/.lock, an flock that the system drops when the holder dies,
    kill -9 included) while the block runs; FolderBusy, one line naming the holder, when a live
    process has it. Where the platform has no flock the block runs unlocked."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    path = Path(folder) / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~_UMASK)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            raise FolderBusy(f"{folder}: this {what} is in use by {holder}; wait for it to finish, "
                             "or use another folder") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()} on {HOST}".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing drops the lock


def claim(tmp: str | Path, path: str | Path, overwrite: bool = False) -> None:
    """Publish the finished file `tmp` at `path` in one step.

    Without `overwrite`, it never replaces anything: a file that appeared at `path` while the
    run worked (another run's result, say) is kept, `tmp` is removed and OutputExists is
    raised. A hard link is the atomic no-replace rename; where the file system has no hard
    links, an O_EXCL placeholder claims the name first and the rename fills it.
    """
    tmp, path = Path(tmp), Path(path)
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path, follow_symlinks=False)
    except FileExistsError:
        tmp.unlink(missing_ok=True)
        raise OutputExists(f"{path} was created by someone else while this run worked; it is "
                           "kept as it is (pass --overwrite to replace it)") from None
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV,
                           errno.EMLINK, errno.ENOSYS, errno.EACCES):
            raise
        _claim_by_placeholder(tmp, path)
        return
    tmp.unlink()


def _claim_by_placeholder(tmp: Path, path: Path) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        tmp.unlink(missing_ok=True)
        raise OutputExists(f"{path} was created by someone else while this run worked; it is "
                           "kept as it is (pass --overwrite to replace it)") from None
    os.close(fd)
    os.replace(tmp, path)  # replaces only the empty placeholder this run just created


@contextmanager
def atomic_path(path: str | Path, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it becomes `path` in one step, on
    failure it is removed and `path` is left as it was. With `overwrite=False` an existing
    `path` is never replaced (OutputExists), even one that appeared meanwhile."""
    path = Path(path)
    tmp = temp_path(path)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # some writers (safetensors) create files as 0600
        claim(tmp, path, overwrite)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(path: str | Path, data: bytes, overwrite: bool = True) -> None:
    with atomic_path(path, overwrite) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | Path, text: str, overwrite: bool = True) -> None:
    with atomic_path(path, overwrite) as tmp:
        tmp.write_text(text)


def torch_hub_dir() -> Path:
    """torch.hub.get_dir() without importing torch: $TORCH_HOME/hub, else
    $XDG_CACHE_HOME/torch/hub (~/.cache by default); torch's own answer when torch is loaded."""
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "hub"):
        return Path(torch.hub.get_dir())
    if os.environ.get("TORCH_HOME"):
        return Path(os.environ["TORCH_HOME"]).expanduser() / "hub"
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(cache).expanduser() / "torch" / "hub"
