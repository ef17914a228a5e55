"""Video I/O through the ffmpeg binary bundled with imageio-ffmpeg.

Rotation convention: `VideoInfo.rotation` is the clockwise angle (0/90/180/270) a player turns
the stored picture to show it upright, the same number as the legacy `rotate` tag that phones
write and that exiftool reports. ffmpeg prints the display matrix the other way round
(counter-clockwise), so "rotation of -90.00 degrees" reads as 90 and "rotation of 90.00 degrees"
(what `-display_rotation 90` writes) reads as 270.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import secrets
import queue
import subprocess
import threading
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from .errors import InputError, VideoError

log = logging.getLogger(__name__)

_STREAM = re.compile(r"^\s*Stream #\d+:\d+\S*: (\w+): (.*)$")
_MATRIX = re.compile(r"rotation of (-?\d+(?:\.\d+)?) degrees", re.IGNORECASE)
_ROTATE_TAG = re.compile(r"^\s*rotate\s*:\s*(-?\d+)\s*$")
_DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_SIZE = re.compile(r", (\d+)x(\d+)")
_FRAME = re.compile(r"frame=\s*(\d+)")
_DAMAGE = ("partial file", "corrupt")
_CASCADE = ("Nothing was written", "Task finished with error code", "Terminating thread",
            "Error sending frames to consumers", "Could not open encoder before EOF",
            "Error while opening encoder", "Could not write header", "Conversion failed",
            "Error opening output file", "Exiting normally", "At least one output file")
_MP4_LIKE = (".mp4", ".m4v", ".mov")


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int
    height: int
    fps: float
    frames: int
    duration: float
    rotation: int
    has_audio: bool
    codec: str
    audio_codec: str | None
    damaged: bool = False

    @property
    def expected_frames(self) -> int:
        """Frames the file should hold: the index's count when the packet count hit damage."""
        if self.damaged:
            return max(self.frames, round(self.duration * self.fps))
        return self.frames


@functools.cache
def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as e:
        raise VideoError(f"ffmpeg not found ({e})") from None


def probe(path) -> VideoInfo:
    return _inspect(Path(path), count=True)


def fps_rational(fps: float) -> str:
    """Exact frame rate for ffmpeg: 25 -> "25", 29.97 -> "30000/1001", 12.5 -> "25/2"."""
    if fps <= 0:
        raise InputError(f"frame rate must be positive, got {fps}")
    if abs(fps - round(fps)) < 1e-3:
        return str(round(fps))
    ntsc = round(fps * 1.001)
    if abs(fps - ntsc * 1000 / 1001) < 0.01:
        return f"{ntsc * 1000}/1001"
    frac = Fraction(fps).limit_denominator(1000)
    return f"{frac.numerator}/{frac.denominator}"


def _inspect(path: Path, count: bool) -> VideoInfo:
    if not path.exists():
        raise VideoError(f"{path}: no such file")
    if not path.is_file():
        raise VideoError(f"{path}: not a file")
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-nostats", "-i", str(path.absolute())]
    if count:
        cmd += ["-map", "0:V:0", "-c", "copy", "-f", "null", "-"]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
    text = proc.stderr.decode("utf-8", "replace")
    if "Input #0" not in text:
        raise VideoError(f"{path}: not a readable video file ({_last_error(text)})")
    header, _, tail = _split_output(text)
    streams = _parse_streams(header)
    video = next((s for s in streams if s["kind"] == "Video" and "(attached pic)" not in s["desc"]),
                 None)
    if video is None:
        raise VideoError(f"{path}: no video stream")
    audio = next((s for s in streams if s["kind"] == "Audio"), None)
    return _build_info(path, header, tail, video, audio, count)


def _split_output(text: str) -> tuple[str, str, str]:
    for marker in ("\nStream mapping:", "\nOutput #"):
        if marker in text:
            head, sep, tail = text.partition(marker)
            return head, sep, tail
    return text, "", ""


def _parse_streams(header: str) -> list[dict]:
    streams: list[dict] = []
    for line in header.splitlines():
        m = _STREAM.match(line)
        if m:
            streams.append({"kind": m.group(1), "desc": m.group(2), "rotation": 0})
        elif streams:
            _read_rotation(line, streams[-1])
    return streams


def _read_rotation(line: str, stream: dict) -> None:
    m = _MATRIX.search(line)
    if m:
        stream["rotation"] = _snap(-float(m.group(1)))
        return
    m = _ROTATE_TAG.match(line)
    if m:
        stream["rotation"] = _snap(float(m.group(1)))


def _snap(clockwise: float) -> int:
    return (round(clockwise / 90) * 90) % 360


def _build_info(path: Path, header: str, tail: str, video: dict, audio: dict | None,
                count: bool) -> VideoInfo:
    desc = video["desc"]
    size = _SIZE.search(desc)
    if size is None:
        raise VideoError(f"{path}: cannot read the video size")
    width, height = int(size.group(1)), int(size.group(2))
    rotation = video["rotation"]
    if rotation in (90, 270):
        width, height = height, width
    fps = _parse_rate(desc, "fps") or _parse_rate(desc, "tbr")
    frames = _count_frames(tail) if count else 0
    damaged = any(word in tail.lower() for word in _DAMAGE)
    if count and frames == 0:
        reason = " (file truncated or corrupt)" if damaged else ""
        raise VideoError(f"{path}: video stream has no frames{reason}")
    duration = _parse_duration(header)
    if fps is None and duration:
        fps = frames / duration
    if not fps:
        raise VideoError(f"{path}: cannot read the frame rate")
    if duration is None:
        duration = frames / fps
    return VideoInfo(
        path=path, width=width, height=height, fps=fps, frames=frames, duration=duration,
        rotation=rotation, has_audio=audio is not None, codec=_codec(desc),
        audio_codec=_codec(audio["desc"]) if audio else None,
        damaged=damaged,
    )


def _parse_rate(desc: str, unit: str) -> float | None:
    m = re.search(rf", (\d+(?:\.\d+)?)(k?) {unit}\b", desc)
    if m is None:
        return None
    value = float(m.group(1)) * (1000 if m.group(2) else 1)
    return value or None


def _parse_duration(header: str) -> float | None:
    m = _DURATION.search(header)
    if m is None:
        return None
    h, mnt, s = m.groups()
    return int(h) * 3600 + int(mnt) * 60 + float(s)


def _count_frames(tail: str) -> int:
    found = _FRAME.findall(tail)
    return int(found[-1]) if found else 0


def _codec(desc: str) -> str:
    return desc.split()[0].rstrip(",")


def _last_error(text: str) -> str:
    """The last stderr line that names a cause, skipping ffmpeg's cascade of follow-up errors."""
    lines = [re.sub(r"^(\[[^\]]*\]\s*)+", "", line.strip()) for line in text.splitlines()]
    lines = [line for line in lines if line]
    causes = [line for line in lines if not line.startswith(_CASCADE)]
    return (causes or lines or ["unknown ffmpeg error"])[-1]


def _tail_of(stream) -> str:
    stream.seek(0)
    return _last_error(stream.read()[-4000:].decode("utf-8", "replace"))


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


class VideoWriter:
    """H.264 writer that carries the audio of `audio_from` over unchanged; atomic output.

    Frames go to a hidden temp file next to `out`, which replaces `out` only on a clean close.
    `width`/`height` are the upright (displayed) size of the frames given to `write`.
    `rotation` (clockwise, as in `VideoInfo.rotation`) stores the frames turned back to the
    source's orientation and tags the file with the same display rotation, so the output
    probes like the source.
    """

    def __init__(self, out, fps: float, width: int, height: int, *, audio_from=None,
                 inputs=(), overwrite: bool = False, crf: int = 18, preset: str = "medium",
                 rotation: int = 0):
        self.out = Path(out)
        self.fps = fps
        self.width, self.height = int(width), int(height)
        self.rotation = rotation
        self.frames_written = 0
        self._check(audio_from, inputs, overwrite)
        audio = _inspect(Path(audio_from), count=False) if audio_from is not None else None
        self._audio_from = Path(audio_from) if audio and audio.has_audio else None
        tag = secrets.token_hex(4)
        self.temp = self.out.parent / f".{self.out.stem}.tmp-{tag}{self.out.suffix}"
        audio_codec = self._audio_codec()
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(self._command(crf, preset, audio_codec),
                                      stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                      stderr=self._stderr)
        self._done = False

    def _check(self, audio_from, inputs, overwrite: bool) -> None:
        if self.width < 1 or self.height < 1:
            raise InputError(f"frame size must be positive, got {self.width}x{self.height}")
        if self.rotation not in (0, 90, 180, 270):
            raise InputError(f"rotation must be 0, 90, 180 or 270, got {self.rotation}")
        fps_rational(self.fps)
        if not self.out.suffix:
            raise InputError(f"{self.out}: give the output a video extension such as .mp4")
        sources = [p for p in (audio_from, *inputs) if p is not None]
        for src in sources:
            if _same_file(self.out, Path(src)):
                raise InputError(f"output would overwrite the input {Path(src).name}")
        if self.out.is_dir():
            raise InputError(f"{self.out} is a folder, not a file")
        if self.out.exists() and not overwrite:
            raise InputError(f"{self.out} exists; pass --overwrite to replace it")
        folder = self.out.parent
        if not folder.is_dir():
            raise InputError(f"output folder {folder} does not exist")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise InputError(f"output folder {folder} is not writable")

    def _stored_size(self) -> tuple[int, int]:
        if self.rotation in (90, 270):
            return self.height, self.width
        return self.width, self.height

    def _command(self, crf: int, preset: str, audio_codec: str | None) -> list[str]:
        w, h = self._stored_size()
        cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-nostats", "-loglevel", "error", "-y"]
        if self.rotation:
            cmd += ["-noautorotate", "-display_rotation", str(-self.rotation)]
        cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
                "-framerate", fps_rational(self.fps), "-i", "pipe:0"]
        if audio_codec:
            cmd += ["-i", str(self._audio_from.absolute())]
        cmd += ["-map", "0:v:0", "-c:v", "libx264", "-preset", preset, "-crf", str(crf),
                "-pix_fmt", "yuv444p" if w % 2 or h % 2 else "yuv420p"]
        if audio_codec:
            cmd += ["-map", "1:a:0?", "-c:a", audio_codec]
        if self.out.suffix.lower() in _MP4_LIKE:
            cmd += ["-movflags", "+faststart"]
        return cmd + [str(self.temp.absolute())]

    def _audio_codec(self) -> str | None:
        if self._audio_from is None:
            return None
        if _can_copy_audio(self._audio_from, self.out.suffix):
            return "copy"
        log.warning(f"{self._audio_from.name}: its audio cannot be copied into "
                    f"{self.out.suffix}; re-encoding it as AAC")
        return "aac"

    def write(self, frames: np.ndarray) -> None:
        frames = np.asarray(frames)
        if frames.ndim == 3:
            frames = frames[None]
        if frames.dtype != np.uint8 or frames.shape[1:] != (self.height, self.width, 3):
            raise ValueError(f"expected uint8 frames of shape (n, {self.height}, {self.width}, 3), "
                             f"got {frames.dtype} {frames.shape}")
        if self._done:
            raise RuntimeError("VideoWriter is closed")
        if self.rotation:
            frames = np.rot90(frames, k=self.rotation // 90, axes=(1, 2))
        try:
            self._proc.stdin.write(np.ascontiguousarray(frames).data)
        except BrokenPipeError:
            self._proc.wait()
            err = _tail_of(self._stderr)
            self.abort()
            raise VideoError(f"{self.out}: ffmpeg stopped while writing ({err})") from None
        self.frames_written += len(frames)

    def close(self) -> None:
        if self._done:
            return
        if self.frames_written == 0:
            self.abort()
            raise VideoError(f"{self.out}: no frames were written")
        try:
            self._proc.stdin.close()
        except BrokenPipeError:
            pass
        rc = self._proc.wait()
        if rc != 0:
            err = _tail_of(self._stderr)
            self.abort()
            raise VideoError(f"{self.out}: ffmpeg failed ({err})")
        self._done = True
        self._stderr.close()
        os.replace(self.temp, self.out)

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        if not self._proc.stdin.closed:
            try:
                self._proc.stdin.close()
            except BrokenPipeError:
                pass
        self._stderr.close()
        self.temp.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _can_copy_audio(src: Path, suffix: str) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-nostats", "-loglevel", "error",
               "-i", str(src.absolute()), "-map", "0:a:0", "-c:a", "copy", "-t", "0.5",
               str(Path(tmp) / f"check{suffix}")]
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True)
    return proc.returncode == 0
