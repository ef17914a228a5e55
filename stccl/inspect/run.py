"""`inspect_correlations`: check the arguments, load the metric and the tracker, then draw a
picture (stccl.inspect.picture) or a video (stccl.inspect.video). No CLI code here: errors are
stccl.errors classes."""

from __future__ import annotations

from pathlib import Path

from ..config import TrackConfig
from ..errors import InputError
from ..fs import VIDEO_EXTENSIONS, ensure_writable_dir
from .context import Context, InspectSummary, Progress
from .metric import load_inspect_metric, map_size
from .picture import inspect_picture
from .retrieval import find_pair, inspect_retrieval
from .sources import Source
from .video import inspect_video

PICTURE_EXTENSIONS = (".png", ".jpg", ".jpeg")


def inspect_correlations(input: str | Path, second: str | Path | None = None,
                         metric_path: str | Path | None = None, out: str | Path = "inspect.png",
                         frame: int | None = None, stage: int = 2, device: str = "auto",
                         tracker: str = "auto", progress: Progress | None = None,
                         retrieval: bool = False, overwrite: bool = False) -> InspectSummary:
    """Draw the metric's patch correlations of INPUT (and SECOND) to `out` (.png or .mp4); with
    `retrieval`, the similarity matrix of a prepared pair (stccl.inspect.retrieval) instead."""
    out = Path(out)
    if not isinstance(stage, int) or not 1 <= stage <= 4:
        raise InputError(f"--stage must be 1, 2, 3 or 4 (the backbone's stages), got {stage}")
    suffix = out.suffix.lower()
    video_out = suffix in VIDEO_EXTENSIONS
    if not video_out and suffix not in PICTURE_EXTENSIONS:
        raise InputError(f"{out}: write a picture (.png/.jpg) or a video (.mp4)")
    if frame is not None and frame < 0:
        raise InputError(f"--frame must be >= 0, got {frame}")
    src = Source(input)
    snd = Source(second) if second is not None else None
    for s in (src, snd):
        if s is not None and _same_file(out, s.path):
            raise InputError(f"output would overwrite the input {s.name}")
    if retrieval:
        if video_out:
            raise InputError("--retrieval draws a picture; write a .png")
        if frame is not None:
            raise InputError("--retrieval draws every frame of the pair; drop --frame")
        find_pair(src, snd)
    elif video_out:
        if not src.is_sequence:
            raise InputError(f"{out.name}: a video output needs a video or a prepared clip as INPUT")
        if snd is not None:
            raise InputError("SECOND is drawn only in a picture; drop it or write a .png")
        if frame is not None:
            raise InputError("--frame picks the frame of a picture; a video output shows every frame")
    elif frame is not None and frame >= src.frames:
        raise InputError(f"--frame {frame} is past the end of {src.name} ({src.frames} frame"
                         f"{'s' if src.frames != 1 else ''}: 0..{src.frames - 1})")
    ensure_writable_dir(out.parent if str(out.parent) else Path("."))
    if out.is_dir():
        raise InputError(f"{out} is a folder, not a file")
    if out.exists() and not overwrite:
        raise InputError(f"{out} exists; pass --overwrite to replace it")

    from ..devices import resolve_device
    from ..face.backends import make_backend

    dev = resolve_device(device)
    metric, cfg, label, untrained, window = load_inspect_metric(metric_path, dev)
    h, w = map_size(cfg.size, stage)
    if h < 3 or w < 3:
        raise InputError(f"stage {stage} of a size-{cfg.size} metric is a {h}x{w} map with no "
                         "interior position; pick a lower --stage")
    backend = None if src.kind == "clip" and (snd is None or snd.kind == "clip") else \
        make_backend(tracker, device)
    track = TrackConfig(tracker=tracker, device=device)
    ctx = Context(metric, cfg, label, untrained, stage, dev, backend, track, progress,
                  window=window, overwrite=overwrite)
    if retrieval:
        return inspect_retrieval(ctx, src, snd, out)
    if video_out:
        return inspect_video(ctx, src, out)
    return inspect_picture(ctx, src, snd, frame, out)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and a.samefile(b))
    except OSError:
        return False
