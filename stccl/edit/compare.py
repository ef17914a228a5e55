"""The before/after video (`stccl edit --compare`): the input and the output side by side, each
labelled, at the input's frame rate and with the input's audio. Composited with moviepy."""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

from ..errors import InputError, VideoError
from ..fs import claim, remove_stale_temps, temp_path
from ..video.probe import probe

LABEL_HEIGHT = 0.06  # label text height, as a part of the frame height


def write_compare(src: str | Path, edited: str | Path, out: str | Path, label: str,
                  overwrite: bool = False, crf: int = 18, metadata: dict[str, str] | None = None) -> Path:
    """Write `out`: `src` (left, labelled "input") beside `edited` (right, labelled `label`),
    (2W x H, rounded up to even), with `src`'s audio, tagged with `metadata` (the edit's own
    tags: a rerun knows it by them). Claimed atomically like every output."""
    from moviepy import CompositeVideoClip, TextClip, VideoFileClip

    src, edited, out = Path(src), Path(edited), Path(out)
    if out.exists() and not overwrite:
        raise InputError(f"{out} exists; pass --overwrite to replace it")
    info = probe(src)
    remove_stale_temps(out.parent)  # every dead run's temp here, whatever output it was for
    temp = temp_path(out)
    left = right = None
    try:
        left, right = VideoFileClip(str(src)), VideoFileClip(str(edited), audio=False)
        if left.size != right.size:
            raise VideoError(f"{edited.name}: its size {right.size} is not the input's {left.size}")
        w, h = left.size
        size = max(12, round(LABEL_HEIGHT * h))
        tags = [_label(TextClip, text, size).with_duration(left.duration).with_position((x + size // 2, size // 2))
                for text, x in (("input", 0), (label, w))]
        both = CompositeVideoClip([left.with_position((0, 0)), right.with_position((w, 0)), *tags],
                                  size=(2 * w, h)).with_duration(left.duration)
        if left.audio is not None:
            both = both.with_audio(left.audio)
        with tempfile.TemporaryDirectory() as scratch, contextlib.redirect_stdout(io.StringIO()):
            both.write_videofile(
                str(temp), fps=info.fps, codec="libx264", audio_codec="aac", preset="fast",
                temp_audiofile_path=scratch, logger=None, pixel_format="yuv420p",
                ffmpeg_params=["-crf", str(crf), "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2",
                               *_metadata({**(metadata or {}), "comment": "before/after comparison written by stccl"})])
        claim(temp, out, overwrite)
    except OSError as e:
        raise VideoError(f"{out}: cannot write the comparison ({e})") from None
    finally:
        for clip in (left, right):
            if clip is not None:
                clip.close()
        temp.unlink(missing_ok=True)
    return out


def _metadata(tags: dict[str, str]) -> list[str]:
    """ffmpeg arguments that write `tags` (keys of its own too: use_metadata_tags)."""
    return ["-movflags", "+use_metadata_tags",
            *(arg for k, v in tags.items() for arg in ("-metadata", f"{k}={v}"))]


def _label(TextClip, text: str, size: int):
    return TextClip(text=text, font_size=size, color="white", bg_color="black",
                    margin=(size // 3, size // 3))
