"""Encoding with the input's audio carried over, into the container the output's name asks for;
the output is claimed atomically and never replaces a file this run did not create."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError, VideoError
from ..fs import claim, remove_stale_temps, temp_path
from . import yuv
from .probe import _MP4_LIKE, Colour, _inspect, _tail_of, ffmpeg_exe, fps_rational

log = logging.getLogger("stccl.video")


@dataclass(frozen=True)
class Codec:
    encoder: str
    containers: tuple[str, ...]  # the extensions it can be written into
    audio: str = "aac"  # the audio encoder where the input's audio cannot be copied
    crf_offset: int | None = 0  # added to the x264-scale crf for about the same quality; None: no crf
    deep: str | None = None  # pix_fmt for an input of more than 8 bits (None: 8-bit only)
    pix_fmt: str = "yuv420p"  # the stored pix_fmt (odd sizes: its 4:4:4 twin)
    options: tuple[str, ...] = ()


_MOV_LIKE = (".mp4", ".m4v", ".mov", ".mkv")
CODECS = {
    "h264": Codec("libx264", _MOV_LIKE),
    "h265": Codec("libx265", _MOV_LIKE, crf_offset=4, deep="yuv420p10le"),
    "vp9": Codec("libvpx-vp9", (".webm", ".mkv"), audio="libopus", crf_offset=12, deep="yuv420p10le",
                 options=("-b:v", "0", "-deadline", "good", "-cpu-used", "5", "-row-mt", "1")),
    # ProRes 422 HQ, always 10-bit; ffv1: lossless, intra-only, as editors keep masters
    "prores": Codec("prores_ks", (".mov", ".mkv"), crf_offset=None, deep="yuv422p10le",
                    pix_fmt="yuv422p10le", options=("-profile:v", "3", "-vendor", "apl0")),
    "ffv1": Codec("ffv1", (".mkv",), crf_offset=None, deep="yuv420p10le",
                  options=("-level", "3", "-g", "1", "-slicecrc", "1")),
}
DEFAULT_CODEC = {".mp4": "h264", ".m4v": "h264", ".mov": "h264", ".mkv": "h264", ".webm": "vp9"}
CODEC_CHOICES = ("auto", "h264", "h265", "prores", "ffv1")


def codec_for(out: Path, codec: str = "auto") -> Codec:
    """The codec an output gets (`auto`: by its extension); a one-line InputError where the
    extension or the pair cannot be written."""
    suffix = out.suffix.lower()
    if not suffix:
        raise InputError(f"{out}: give the output a video extension such as .mp4")
    if suffix not in DEFAULT_CODEC:
        raise InputError(f"{out.name}: cannot write {suffix} videos; use {', '.join(DEFAULT_CODEC)}")
    if codec == "auto":
        return CODECS[DEFAULT_CODEC[suffix]]
    if codec not in CODEC_CHOICES:
        raise InputError(f"unknown codec {codec!r}; choose one of {', '.join(CODEC_CHOICES)}")
    if suffix not in CODECS[codec].containers:
        raise InputError(f"--codec {codec} cannot go in {suffix}; use "
                         f"{' or '.join(CODECS[codec].containers)}")
    return CODECS[codec]


class VideoWriter:
    """Writer that carries the audio of `audio_from` over unchanged; atomic output.

    The codec follows the output's extension (`DEFAULT_CODEC`: H.264 in .mp4/.mov/.mkv, VP9 and
    Opus in .webm) unless `codec` names one of `CODECS` that the extension can hold. `colour`
    (the input's `VideoInfo.colour`) is written into the output's stream; `tags` into its
    metadata. Frames go to a hidden temp file next to `out`, named with this process's
    id (`stccl.fs.temp_path`); a clean close claims `out` with it in one step (`stccl.fs.claim`:
    without `overwrite`, a file that appeared at `out` meanwhile is kept and this run fails).
    Temp files that dead runs left for the same output are removed when a writer starts.
    `width`/`height` are the upright (displayed) size of the frames given to `write`.
    `rotation` (clockwise, as in `VideoInfo.rotation`) stores the frames turned back to the
    source's orientation and tags the file with the same display rotation, so the output
    probes like the source.
    """

    def __init__(self, out, fps: float, width: int, height: int, *, audio_from=None,
                 inputs=(), overwrite: bool = False, crf: int = 18, preset: str = "medium",
                 rotation: int = 0, pix_fmt: str = "rgb24", codec: str = "auto",
                 colour: Colour | None = None, tags: dict[str, str] | None = None):
        self.out = Path(out)
        self.colour = colour or Colour()
        self.tags = dict(tags or {})
        self.pix_fmt = pix_fmt
        self.fps = fps
        self.width, self.height = int(width), int(height)
        self.rotation = rotation
        self.frames_written = 0
        self.overwrite = overwrite
        self.container = codec_for(self.out, codec)
        self._check(audio_from, inputs, overwrite)
        audio = _inspect(Path(audio_from), count=False) if audio_from is not None else None
        self._audio_from = Path(audio_from) if audio and audio.has_audio else None
        remove_stale_temps(self.out.parent)  # every dead run's temp here, whatever output it was for
        self.temp = temp_path(self.out)
        audio_codec = self._audio_codec()
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(self._command(crf, preset, audio_codec),
                                      stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                      stderr=self._stderr)
        self._done = False

    def _check(self, audio_from, inputs, overwrite: bool) -> None:
        if self.width < 1 or self.height < 1:
            raise InputError(f"frame size must be positive, got {self.width}x{self.height}")
        if self.pix_fmt not in ("rgb24", "yuv420p"):
            raise ValueError(f"pix_fmt must be rgb24 or yuv420p, got {self.pix_fmt!r}")
        if self.pix_fmt == "yuv420p" and not yuv.fits(self.width, self.height):
            raise ValueError(f"yuv420p frames need an even size, got {self.width}x{self.height}")
        if self.rotation not in (0, 90, 180, 270):
            raise InputError(f"rotation must be 0, 90, 180 or 270, got {self.rotation}")
        fps_rational(self.fps)
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
        cmd += ["-f", "rawvideo", "-pix_fmt", self.pix_fmt, "-s", f"{w}x{h}",
                "-framerate", fps_rational(self.fps), "-i", "pipe:0"]
        if audio_codec:
            cmd += ["-i", str(self._audio_from.absolute())]
        cmd += ["-map", "0:v:0", *self._video_options(crf, preset), "-pix_fmt", self._stored_pix_fmt(w, h),
                *self.colour.options()]
        if audio_codec:
            cmd += ["-map", "1:a:0?", "-c:a", audio_codec]
        for key, value in self.tags.items():
            cmd += ["-metadata", f"{key}={value}"]
        if self.out.suffix.lower() in _MP4_LIKE:
            cmd += ["-movflags", "+faststart+use_metadata_tags"]
        return cmd + [str(self.temp.absolute())]

    def _stored_pix_fmt(self, w: int, h: int) -> str:
        """The codec's pix_fmt; the input's depth where the codec can keep it (the frames went
        through stccl at 8 bits); 4:4:4 for odd sizes."""
        codec = self.container
        fmt = codec.deep if (self.colour.depth > 8 and codec.deep) else codec.pix_fmt
        if w % 2 or h % 2:
            fmt = fmt.replace("420", "444").replace("422", "444")
        return fmt

    def _video_options(self, crf: int, preset: str) -> list[str]:
        codec = self.container
        out = ["-c:v", codec.encoder]
        if codec.encoder in ("libx264", "libx265"):
            out += ["-preset", preset]
        if codec.crf_offset is not None:
            out += ["-crf", str(min(63 if codec.encoder == "libvpx-vp9" else 51, crf + codec.crf_offset))]
        if codec.encoder == "libx265":
            out += ["-x265-params", "log-level=error"]
            if self.out.suffix.lower() in _MP4_LIKE:
                out += ["-tag:v", "hvc1"]  # what Apple's players look for
        return out + list(codec.options)

    def _audio_codec(self) -> str | None:
        if self._audio_from is None:
            return None
        if _can_copy_audio(self._audio_from, self.out.suffix):
            return "copy"
        name = {"aac": "AAC", "libopus": "Opus"}[self.container.audio]
        log.warning(f"{self._audio_from.name}: its audio cannot be copied into "
                    f"{self.out.suffix}; re-encoding it as {name}")
        return self.container.audio

    def write(self, frames: np.ndarray) -> None:
        """RGB frames (n, H, W, 3) or one (H, W, 3); with pix_fmt yuv420p, flat yuv420p frames
        (n, H*W*3/2) or one."""
        frames = np.asarray(frames)
        shape = (self.height, self.width, 3) if self.pix_fmt == "rgb24" else \
            (yuv.frame_size(self.width, self.height),)
        if frames.ndim == len(shape):
            frames = frames[None]
        if frames.dtype != np.uint8 or frames.shape[1:] != shape:
            raise ValueError(f"expected uint8 frames of shape (n, {', '.join(map(str, shape))}), "
                             f"got {frames.dtype} {frames.shape}")
        if self._done:
            raise RuntimeError("VideoWriter is closed")
        if self.rotation and self.pix_fmt == "rgb24":
            frames = np.rot90(frames, k=self.rotation // 90, axes=(1, 2))
        elif self.rotation:
            frames = np.stack([yuv.rotate(f, self.width, self.height, self.rotation // 90) for f in frames])
        try:
            self._proc.stdin.write(np.ascontiguousarray(frames).data)
        except BrokenPipeError:
            self._proc.wait()
            err = self._failure("stopped while writing")
            self.abort()
            raise err from None
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
            err = self._failure("failed")
            self.abort()
            raise err
        self._done = True
        self._stderr.close()
        try:
            claim(self.temp, self.out, self.overwrite)
        finally:
            self.temp.unlink(missing_ok=True)

    def _failure(self, what: str) -> VideoError:
        """ffmpeg's cause in one line; a full disk said as such (ffmpeg's last line blames the
        muxer, which hides it)."""
        self._stderr.seek(0)
        text = self._stderr.read().decode("utf-8", "replace")
        if "No space left on device" in text:
            free = _free_mb(self.out.parent)
            return VideoError(f"{self.out}: the disk is full ({free} free in {self.out.parent}); "
                              "nothing was written and the partial file was removed")
        return VideoError(f"{self.out}: ffmpeg {what} ({_tail_of(self._stderr)})")

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


def _free_mb(folder: Path) -> str:
    try:
        return f"{shutil.disk_usage(folder).free / 2**20:.0f} MB"
    except OSError:
        return "no space"


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

