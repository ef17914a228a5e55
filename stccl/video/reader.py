"""Streaming decode and audio reading through the ffmpeg binary."""

from __future__ import annotations

import logging
import math
import queue
import re
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import InputError, VideoError
from . import yuv
from .probe import VideoInfo, _last_error, _tail_of, ffmpeg_exe, fps_rational, probe

log = logging.getLogger("stccl.video")

class VideoReader:
    """Streaming RGB decode at a constant frame rate; memory stays at a few chunks whatever
    the video length.

    Frames come at `info.fps` on the input's own timestamps: where frames are missing (a
    damaged stretch, a variable-rate input) the last good frame is repeated, so frame k is
    always the picture shown at k / fps and the audio stays in sync within one frame.
    `frames_repeated` / `frames_dropped` count what the constant rate needed (after the read).
    When the decode stops short of the frames the file should hold (damage up to its end), the
    read ends there, with a warning; with `pad_end` (the edit: its output must last as long as
    the audio it copies) the last good frame is repeated up to that count (`frames_padded`).

    `pix_fmt="yuv420p"` (even sizes only) gives each frame as one flat yuv420p buffer
    (`stccl.video.yuv`) instead of RGB (H, W, 3): what the decoder makes, with no conversion.

    A reader runs once: iterate it (chunks) or call `frames()` (single frames), not both.
    `start`/`end` are seconds; the window yields round((end - start) * fps) frames when the
    clip is long enough, starting at the first frame at or after `start` (to within half a
    frame: ffmpeg's seek follows the container's timestamps).
    """

    def __init__(self, path, chunk: int = 16, start: float | None = None,
                 end: float | None = None, info: VideoInfo | None = None, pad_end: bool = False,
                 pix_fmt: str = "rgb24"):
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {chunk}")
        self.path = Path(path)
        self.info = info if info is not None else probe(self.path)
        if pix_fmt not in ("rgb24", "yuv420p"):
            raise ValueError(f"pix_fmt must be rgb24 or yuv420p, got {pix_fmt!r}")
        if pix_fmt == "yuv420p" and not yuv.fits(self.info.width, self.info.height):
            raise ValueError(f"yuv420p frames need an even size, got {self.info.width}x{self.info.height}")
        self.pix_fmt = pix_fmt
        self.chunk = chunk
        self.start, self.limit = _window(self.info, start, end)
        self.frames_read = 0  # frames given to the caller, the repeated ones included
        self.frames_repeated = 0  # by the constant rate, and at the end (frames_padded)
        self.frames_dropped = 0
        self.frames_padded = 0
        self.frames_missing = 0  # short of what the file should hold, at its end
        self.pad_end = pad_end
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
            last = None
            for block in self._chunks():
                last = block[-1]
                yield block
            self._proc.wait()
            if self.frames_read == 0:
                raise VideoError(f"{self.path}: no frames could be decoded ({_tail_of(self._stderr)})")
            yield from self._pad(last)
            self._finish()
        finally:
            self.close()

    def _pad(self, last: np.ndarray) -> Iterator[np.ndarray]:
        """Where the decode stopped short of the frames the file should hold (damage up to its
        end), the last good frame repeated up to that count, so the video lasts as its audio."""
        expected, slack = self._expected()
        missing = expected - self.frames_read if self.frames_read < expected - slack else 0
        self.frames_missing = missing
        if not self.pad_end:
            return
        self.frames_padded = missing
        last = last.copy()
        while missing > 0:
            n = min(missing, self.chunk)
            missing -= n
            self.frames_read += n
            yield np.repeat(last[None], n, axis=0)

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
        cmd += ["-i", str(self.path.absolute()), "-map", "0:V:0",
                "-fps_mode", "cfr", "-r", fps_rational(self.info.fps),
                "-progress", "pipe:2", "-stats_period", "30"]  # dup/drop counts, on stderr
        cmd += ["-frames:v", str(self.limit if self.limit is not None else self._cap())]
        size = f"{self.info.width}x{self.info.height}"
        return cmd + ["-s", size, "-f", "rawvideo", "-pix_fmt", self.pix_fmt, "pipe:1"]

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
        shape = (h, w, 3) if self.pix_fmt == "rgb24" else (yuv.frame_size(w, h),)
        while True:
            block = np.empty((self.chunk, *shape), np.uint8)
            n = 0
            while n < self.chunk and _read_exact(self._proc.stdout, block[n]):
                n += 1
            if n:
                yield block if n == self.chunk else block[:n]
            if n < self.chunk:
                return

    def _cap(self) -> int:
        """The whole clip's frame count at the constant rate (a damaged timestamp must not
        stretch it)."""
        info = self.info
        return max(info.expected_frames, math.ceil(info.duration * info.fps - 1e-6))

    def _finish(self) -> None:
        dup, self.frames_dropped = _fill_counts(self._stderr)
        self.frames_repeated = dup + self.frames_padded
        rate = f"{self.info.fps:g} fps"
        if self.frames_padded:
            log.warning(f"{self.path.name}: decoded {self.frames_read - self.frames_padded} of {self.frames_read} "
                        f"frames (file truncated or corrupt); the last good frame is repeated "
                        f"{self.frames_padded} time(s) to keep the video as long as its audio")
        elif self.frames_missing:
            log.warning(f"{self.path.name}: decoded {self.frames_read} of "
                        f"{self.frames_read + self.frames_missing} frames (file truncated or corrupt)")
        if dup or self.frames_dropped:
            cause = ("it has a variable frame rate" if self.info.variable else
                     "frames are missing or out of time (damaged or variable frame rate)")
            log.warning(f"{self.path.name}: {cause}; {dup} frame(s) repeated and "
                        f"{self.frames_dropped} dropped to keep a constant {rate} in sync with "
                        "the audio")
        header, decoded = self.info.duration, self.frames_read / self.info.fps
        whole = self.start == 0 and self.limit is None
        if whole and not self.frames_missing and header - decoded > max(0.25, 2 / self.info.fps):
            log.warning(f"{self.path.name}: its header says {header:.2f} s but the video decodes "
                        f"to {decoded:.2f} s (file truncated, or its audio runs on past the video)")

    def _expected(self) -> tuple[int, int]:
        total = self.info.expected_frames
        if self.start == 0 and self.limit is None:
            return total, 0
        left = total - round(self.start * self.info.fps)
        if self.limit is not None:
            left = min(left, self.limit)
        return max(left, 0), 1


_END = object()
_COUNT = re.compile(rb"^(dup|drop)_frames=(\d+)$", re.MULTILINE)


def _fill_counts(stderr) -> tuple[int, int]:
    """The last (dup_frames, drop_frames) ffmpeg's -progress wrote."""
    stderr.seek(0)
    counts = {"dup": 0, "drop": 0}
    for kind, n in _COUNT.findall(stderr.read()):
        counts[kind.decode()] = int(n)
    return counts["dup"], counts["drop"]


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


