"""`Editor`: the Python API of `stccl edit`.

    from stccl import Editor
    Editor(engine="auto").edit("in.mp4", emotion="happy", out="out.mp4")
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..config import EditConfig
from ..errors import InputError
from ..face import make_backend
from .engine import EMOTIONS, Engine, check_emotion
from .pipeline import EditSummary, Progress, edit_video

GENERATOR_FILE = "generator.safetensors"
ENGINES = ("auto", "neural", "warp")


def make_engine(cfg: EditConfig) -> tuple[Engine, str | None]:
    """The engine `cfg` asks for, and a one-line notice when `auto` fell back to warp."""
    from ..models.io import find_weights

    if cfg.engine not in ENGINES:
        raise InputError(f"unknown engine {cfg.engine!r}; choose one of {', '.join(ENGINES)}")
    if cfg.engine in ("auto", "neural"):
        weights = find_weights(GENERATOR_FILE, cfg.weights)
        if cfg.weights and weights is None:
            raise InputError(f"generator weights not found: {cfg.weights}")
        if weights is not None:
            from .neural import NeuralEngine

            return NeuralEngine(weights, device=cfg.device), None
        if cfg.engine == "neural":
            raise InputError(
                f"no generator weights: pass --weights PATH, or put {GENERATOR_FILE} in ./weights/ "
                "or $STCCL_WEIGHTS (train one with `stccl train`), or use --engine warp")
    from .warp import WarpEngine, find_prototypes

    notice = None
    if cfg.engine == "auto":
        notice = "no generator weights found: using the training-free warp engine"
    return WarpEngine(find_prototypes(cfg.prototypes), device=_warp_device(cfg.device)), notice


def _warp_device(device: str) -> str:
    return "cpu" if device == "auto" else device


def default_output(src: Path, emotion: str, out_dir: Path | None = None) -> Path:
    return (out_dir or src.parent) / f"{src.stem}.{emotion}.mp4"


def is_edit_output(path: Path) -> bool:
    """True for files named like our outputs (<stem>.<emotion>.mp4), so folders can be re-run."""
    parts = path.name.split(".")
    return len(parts) >= 3 and parts[-2] in EMOTIONS


class Editor:
    """Re-express talking-face videos. Options are those of `EditConfig`."""

    def __init__(self, engine: str | None = None, *, weights: str | None = None,
                 device: str | None = None, tracker: str | None = None,
                 config: EditConfig | None = None, **options):
        """Arguments given here (not None) override the same fields of `config`."""
        given = {k: v for k, v in dict(engine=engine, weights=weights, device=device).items()
                 if v is not None}
        cfg = dataclasses.replace(config or EditConfig(), **given, **options)
        if tracker is not None:
            cfg.track = dataclasses.replace(cfg.track, tracker=tracker)
        self.config = cfg
        self.engine, self.notice = make_engine(cfg)  # notice: why auto chose warp, or None
        self._backend = None

    @property
    def backend(self):
        if self._backend is None:
            self._backend = make_backend(self.config.track.tracker, self.config.track.device)
        return self._backend

    def edit(self, src: str | Path, emotion: str | None = None, out: str | Path | None = None, *,
             intensity: float | None = None, start: float | None = None, end: float | None = None,
             face: int | None = None, overwrite: bool | None = None,
             on_progress: Progress | None = None) -> EditSummary:
        """Edit one video; `out` defaults to <stem>.<emotion>.mp4 beside `src`."""
        cfg = self.config
        changes = {k: v for k, v in dict(emotion=emotion, intensity=intensity, start=start, end=end,
                                          overwrite=overwrite).items() if v is not None}
        cfg = dataclasses.replace(cfg, **changes)
        if face is not None:
            cfg = dataclasses.replace(cfg, track=dataclasses.replace(cfg.track, face=face))
        emotion = check_emotion(cfg.emotion)
        src = Path(src)
        out = Path(out) if out is not None else default_output(src, emotion)
        return edit_video(src, out, cfg, self.engine, self.backend, on_progress)
