"""H.264 encoding with the input's audio carried over; atomic output."""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..errors import InputError, VideoError
from .probe import _MP4_LIKE, _inspect, _tail_of, ffmpeg_exe, fps_rational

log = logging.getLogger("stccl.video")

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

