"""Video I/O through the ffmpeg binary that imageio-ffmpeg ships: probe, streaming decode,
audio, and atomic H.264 encoding with the input's audio carried over."""

from .probe import VideoInfo, ffmpeg_exe, fps_rational, probe
from .reader import VideoReader, read_audio
from .writer import VideoWriter

__all__ = ["VideoInfo", "VideoReader", "VideoWriter", "ffmpeg_exe", "fps_rational", "probe", "read_audio"]
