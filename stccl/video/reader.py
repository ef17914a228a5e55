"""Streaming decode and audio reading through the ffmpeg binary."""

from __future__ import annotations

import logging
import queue
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import InputError, VideoError
from .probe import VideoInfo, _last_error, _tail_of, ffmpeg_exe, probe

log = logging.getLogger("stccl.video")

class VideoReader:
    """Streaming RGB decode; memory stays at a few chunks whatever the video length.

    A reader runs once: iterate it (chunks) or call `frames()` (single frames), not both.
    `start`/`end` are seconds; the window yields round((end - start) * fps) frames when the
    clip is long enough, starting at the first frame at or after `start` (to within half a
    frame: ffmpeg's seek follows the container's timestamps).
    """

    def __init__(self, path, chunk: int = 16, start: float | None = None,
                 end: float | None = None, info: VideoInfo | None = None):
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {chunk}")
        self.path = Path(path)
        self.info = info if info is not None else probe(self.path)
        self.chunk = chunk
        self.start, self.limit = _window(self.info, start, end)
        self.frames_read = 0
        self._proc: subprocess.Popen | None = None
        self._stderr = None
        self._started = False
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._started:
            raise RuntimeError(f"{self.path.name}: a VideoReader can be iterated only once")
        self._started = True
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(self._command(), stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=self._stderr)
        try:
            yield from self._chunks()
            self._finish()
        finally:
            self.close()

    def frames(self) -> Iterator[np.ndarray]:
        for block in self:
            yield from block

    def close(self) -> None:
        if self._stop is not None:
            self._stop.set()
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if proc is not None:
            proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _command(self) -> list[str]:
        cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-nostats", "-loglevel", "error"]
        if self.start > 0:
            cmd += ["-ss", f"{self.start:.6f}"]
        cmd += ["-i", str(self.path.absolute()), "-map", "0:V:0", "-fps_mode", "passthrough"]
        if self.limit is not None:
            cmd += ["-frames:v", str(self.limit)]
        size = f"{self.info.width}x{self.info.height}"
        return cmd + ["-s", size, "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]

    def _chunks(self) -> Iterator[np.ndarray]:
        """Blocks decoded one step ahead by a thread, so ffmpeg decodes while the caller works."""
        blocks: queue.Queue = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, args=(blocks,), daemon=True)
        self._thread.start()
        while True:
            item = blocks.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            self.frames_read += len(item)
            yield item

    def _produce(self, blocks: queue.Queue) -> None:
        try:
            for block in self._read_blocks():
                if not self._put(blocks, block):
                    return
            self._put(blocks, _END)
        except BaseException as e:  # handed to the consumer, which raises it
            self._put(blocks, e)

    def _put(self, blocks: queue.Queue, item) -> bool:
        while not self._stop.is_set():
            try:
                blocks.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _read_blocks(self) -> Iterator[np.ndarray]:
        h, w = self.info.height, self.info.width
        while True:
            block = np.empty((self.chunk, h, w, 3), np.uint8)
            n = 0
            while n < self.chunk and _read_exact(self._proc.stdout, block[n]):
                n += 1
            if n:
                yield block if n == self.chunk else block[:n]
            if n < self.chunk:
                return

    def _finish(self) -> None:
        self._proc.wait()
        if self.frames_read == 0:
            raise VideoError(f"{self.path}: no frames could be decoded ({_tail_of(self._stderr)})")
        expected, slack = self._expected()
        if self.frames_read < expected - slack:
            log.warning(f"{self.path.name}: decoded {self.frames_read} of {expected} frames "
                        "(file truncated or corrupt)")

    def _expected(self) -> tuple[int, int]:
        total = self.info.expected_frames
        if self.start == 0 and self.limit is None:
            return total, 0
        left = total - round(self.start * self.info.fps)
        if self.limit is not None:
            left = min(left, self.limit)
        return max(left, 0), 1


_END = object()


def _window(info: VideoInfo, start: float | None, end: float | None) -> tuple[float, int | None]:
    start = start or 0.0
    if start < 0:
        raise InputError(f"start must be >= 0 s, got {start}")
    if start >= info.duration:
        raise InputError(
            f"{info.path.name}: start {start:g} s is past the end ({info.duration:g} s)")
    if end is None:
        return start, None
    if end <= start:
        raise InputError(f"end ({end:g} s) must be after start ({start:g} s)")
    return start, max(1, round((end - start) * info.fps))


def _read_exact(stream, frame: np.ndarray) -> bool:
    view = memoryview(frame).cast("B")
    got = 0
    while got < len(view):
        n = stream.readinto(view[got:])
        if not n:
            return False
        got += n
    return True


def read_audio(path, sample_rate: int = 16000) -> np.ndarray | None:
    """Mono float32 samples in [-1, 1) at `sample_rate`; None when the file has no audio.

    Works on audio-only files too (no video stream needed).
    """
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: no such file")
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-nostats", "-loglevel", "error",
           "-i", str(path.absolute()), "-map", "0:a:0", "-vn", "-ac", "1",
           "-ar", str(sample_rate), "-f", "s16le", "pipe:1"]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True)
    err = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0 and not proc.stdout:
        if "matches no streams" in err:
            return None
        raise VideoError(f"{path}: cannot read the audio ({_last_error(err)})")
    if proc.returncode != 0:
        log.warning(f"{path.name}: audio read only in part ({_last_error(err)})")
    samples = np.frombuffer(proc.stdout[: len(proc.stdout) // 2 * 2], "<i2")
    return samples.astype(np.float32) / 32768.0


