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
import re
import subprocess
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path


from ..errors import InputError, VideoError

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
_PROGRESS = re.compile(r"^[a-z_0-9]+=\S*$")  # -progress key=value lines


@dataclass(frozen=True)
class Colour:
    """What the input says of its colours (ffmpeg's names; None = not said) and its bit depth."""

    range: str | None = None  # tv | pc
    space: str | None = None  # matrix: bt709, smpte170m, bt2020nc, ...
    primaries: str | None = None
    transfer: str | None = None
    depth: int = 8

    def options(self) -> list[str]:
        """Output options of ffmpeg that tag a stream with these colours. Primaries and transfer
        go on the frames (`setparams`): as output options they are lost on frames that come in
        as raw RGB. Range and matrix also steer the conversion from RGB."""
        out = []
        for flag, value in (("-color_range", self.range), ("-colorspace", self.space)):
            if value:
                out += [flag, value]
        params = [f"{key}={value}" for key, value in (("color_primaries", self.primaries),
                                                       ("color_trc", self.transfer)) if value]
        return out + (["-vf", "setparams=" + ":".join(params)] if params else [])


_PIX = re.compile(r", ([a-z][a-z0-9_]*)(?:\(([^)]*)\))?, \d+x\d+")
_RANGES = ("tv", "pc")


def _colour(desc: str) -> tuple[str | None, Colour]:
    """The pix_fmt and the colour description of a video stream line of `ffmpeg -i`:
    "yuv420p(tv, bt709, progressive)", "yuv420p10le(tv, bt2020nc/bt2020/smpte2084)"."""
    m = _PIX.search(desc)
    if m is None:
        return None, Colour()
    pix, inner = m.group(1), m.group(2) or ""
    depth = re.search(r"(\d+)(le|be)$", pix)
    fields: dict = {"depth": int(depth.group(1)) if depth else 8}
    for token in (t.strip() for t in inner.split(",")):
        if token in _RANGES:
            fields["range"] = token
        elif "/" in token and token.count("/") == 2:
            space, prim, trc = (None if v == "unknown" else v for v in token.split("/"))
            fields.update(space=space, primaries=prim, transfer=trc)
        elif token and token not in ("progressive", "tt", "bb", "tb", "bt", "left", "center", "topleft",
                                     "top", "bottomleft", "bottom", "unknown") and not token.startswith("top "):
            fields.update(space=token, primaries=token, transfer=token)
    if pix.startswith("yuvj"):
        fields.setdefault("range", "pc")
    return pix, Colour(**fields)


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
    # the stream's average rate is below its base rate (tbr): frames come at varying times.
    # `fps` is then the base rate, at which the reader repeats frames to fill the gaps
    variable: bool = False
    pix_fmt: str | None = None
    colour: Colour = Colour()
    tags: dict = field(default_factory=dict)  # the container's metadata (stccl's tags among them)

    @property
    def expected_frames(self) -> int:
        """Frames a constant-rate read gives: the packet count, or the duration's worth when
        the packets hit damage or come at a variable rate."""
        if self.damaged or self.variable:
            return max(self.frames, round(self.duration * self.fps))
        return self.frames


@functools.cache
def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as e:
        raise VideoError(f"ffmpeg not found ({e})") from None


_PROBED: dict[tuple, VideoInfo] = {}  # (path, device, inode, size, mtime) -> its info


def probe(path) -> VideoInfo:
    """What the file holds, frames counted (a pass over its packets, not a decode). A file is
    probed once a process while it is the same file (path, inode, size and time unchanged): the
    CLI checks its inputs before an edit, which probes them again."""
    path = Path(path)
    try:
        st = path.stat()
    except OSError:
        return _inspect(path, count=True)  # the error that says why
    key = (str(path.absolute()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    info = _PROBED.get(key)
    if info is None:
        if len(_PROBED) > 256:
            _PROBED.clear()
        info = _PROBED[key] = _inspect(path, count=True)
    return info


def read_tags(path) -> dict[str, str]:
    """The container's metadata, from its header alone (no pass over the frames)."""
    return _inspect(Path(path), count=False).tags


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
    fps, base = _parse_rate(desc, "fps"), _parse_rate(desc, "tbr")
    # 25 fps / 50 tbr is an interlaced field rate, not a variable one
    variable = bool(fps and base and 1.001 < base / fps < 1.9)
    fps = base if variable else (fps or base)
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
    pix_fmt, colour = _colour(desc)
    return VideoInfo(
        path=path, width=width, height=height, fps=fps, frames=frames, duration=duration,
        rotation=rotation, has_audio=audio is not None, codec=_codec(desc),
        audio_codec=_codec(audio["desc"]) if audio else None,
        damaged=damaged, variable=variable, pix_fmt=pix_fmt, colour=colour, tags=_format_tags(header),
    )


def _format_tags(header: str) -> dict[str, str]:
    """The input's own metadata (the block under "Input #0", before its streams):
    "    key   : value" lines."""
    tags: dict[str, str] = {}
    inside = False
    for line in header.splitlines():
        if line.startswith("  Metadata:"):
            inside = True
        elif inside and line.startswith("    ") and ":" in line:
            key, _, value = line.strip().partition(":")
            tags.setdefault(key.strip(), value.strip())
        elif inside:
            break
    return tags


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
    lines = [line for line in lines if line and not _PROGRESS.match(line)]
    causes = [line for line in lines if not line.startswith(_CASCADE)]
    return (causes or lines or ["unknown ffmpeg error"])[-1]


def _tail_of(stream) -> str:
    stream.seek(0)
    return _last_error(stream.read()[-4000:].decode("utf-8", "replace"))


