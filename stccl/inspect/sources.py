"""The inputs of `stccl inspect`: a video, an image or a prepared clip, giving aligned face
crops by frame index."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from ..config import AlignConfig, TrackConfig
from ..errors import DataError, InputError
from ..fs import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

ALIGN_SIZE = 256  # aligned crop side for tracking and display; the model gets cfg.size


class Source:
    """An INPUT or SECOND: `crops(start, stop)` yields (index, frame, crop | None) in order."""

    def __init__(self, path: str | Path):
        self.path = p = Path(path)
        self.name = p.name
        self.info = None
        self.clip = None
        self.image = None
        if not p.exists():
            raise InputError(f"input not found: {p}")
        if p.is_dir():
            self.kind = "clip"
            self.clip = _open_clip(p)
            self.frames = len(self.clip)
            self.fps = float(self.clip.meta.get("fps") or 25.0)
        elif p.suffix.lower() in IMAGE_EXTENSIONS:
            self.kind = "image"
            data = np.fromfile(p, np.uint8)
            image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
            if image is None:
                raise InputError(f"{p}: not a readable image")
            self.image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
            self.frames, self.fps = 1, 25.0
        elif p.suffix.lower() in VIDEO_EXTENSIONS:
            from ..video import probe

            self.kind = "video"
            self.info = probe(p)  # VideoError (one line) for a file that is not a video
            self.frames, self.fps = self.info.frames, self.info.fps
        else:
            raise InputError(f"{p}: unsupported input; give a video ({', '.join(VIDEO_EXTENSIONS)}), "
                             "an image (.png/.jpg) or a prepared clip folder")

    @property
    def is_sequence(self) -> bool:
        return self.kind != "image" and self.frames > 1

    def crops(self, start: int, stop: int, backend=None, track: TrackConfig | None = None,
              tick: Callable[[], None] | None = None) -> Iterator[tuple[int, np.ndarray, np.ndarray | None]]:
        """(index, frame, aligned RGB crop or None where there is no face) for start <= index < stop.

        Videos are decoded from the start (exact frame indices) and tracked from `start` on.
        """
        tick = tick or (lambda: None)
        if self.kind == "clip":
            yield from self._clip_crops(start, stop, tick)
            return
        from ..face import FaceStream

        track = track or TrackConfig()
        align = AlignConfig(size=ALIGN_SIZE)
        stream = FaceStream.from_backend(backend, self.fps, track, align)

        def emit(pairs):
            for frame, face in pairs:
                yield start + face.index, frame, _crop(frame, face)

        if self.kind == "image":
            tick()
            yield from emit(stream.push(self.image))
        else:
            from ..video import VideoReader

            with VideoReader(self.path, chunk=8, info=self.info) as reader:
                for i, frame in enumerate(reader.frames()):
                    if i >= stop:
                        break
                    tick()
                    if i >= start:
                        yield from emit(stream.push(frame))
        yield from emit(stream.finish())

    def _clip_crops(self, start, stop, tick):
        from ..face import FACE_DETECTED, FACE_INTERPOLATED

        flags = self.clip.track.get("flags")
        for i in range(start, min(stop, self.frames)):
            tick()
            crop = self.clip.crop(i)
            face = flags is None or bool(flags[i] & (FACE_DETECTED | FACE_INTERPOLATED))
            yield i, crop, (crop if face else None)


def _open_clip(p: Path):
    from ..data.store import PreparedClip

    if not (p / "meta.json").is_file():
        if (p / "index.jsonl").is_file():
            first = next(iter(sorted((p / "clips").glob("*/meta.json"))), None)
            hint = f", e.g. {first.parent}" if first else ""
            raise InputError(f"{p} is a prepared dataset; pass one of its clip folders{hint}")
        raise InputError(f"{p}: a folder but not a prepared clip (no meta.json)")
    clip = PreparedClip(p)
    try:
        n = len(clip)
    except DataError as e:
        raise InputError(str(e)) from None
    if n < 1:
        raise InputError(f"{p}: the prepared clip has no frames")
    return clip


def _crop(frame: np.ndarray, face) -> np.ndarray | None:
    from ..face import warp_to_crop

    return warp_to_crop(frame, face.M, ALIGN_SIZE) if face.has_face else None
