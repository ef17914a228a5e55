"""`Editor`: the Python API of `stccl edit`.

    from stccl import Editor
    Editor(engine="auto").edit("in.mp4", emotion="happy", out="out.mp4")
"""

from __future__ import annotations

from pathlib import Path

from ..config import EditConfig, overlay
from ..devices import require_device
from ..errors import InputError
from ..face import make_backend
from .engine import Engine
from .outputs import compare_output, default_output, is_edit_output  # noqa: F401  (is_edit_output: re-exported)
from .pipeline import EditSummary, Progress, edit_video

GENERATOR_FILE = "generator.safetensors"


def make_engine(cfg: EditConfig) -> tuple[Engine, str | None]:
    """The engine `cfg` asks for, and a one-line notice when `auto` fell back to warp."""
    from ..models.find import find_weights

    if cfg.engine in ("auto", "neural"):
        weights = find_weights(GENERATOR_FILE, cfg.weights)
        if cfg.weights and weights is None:
            raise InputError(f"generator weights not found: {cfg.weights}")
        if weights is not None and cfg.regions is not None:
            if cfg.engine == "neural":
                raise InputError("--regions needs the warp engine: leave out --engine neural")
            return _warp(cfg), "--regions: using the warp engine (the neural engine edits the whole face)"
        if weights is not None:
            from .neural import NeuralEngine

            return NeuralEngine(weights, device=cfg.device), None
        if cfg.engine == "neural":
            raise InputError(
                f"no generator weights: pass --weights PATH, or put {GENERATOR_FILE} in ./weights/ "
                "or $STCCL_WEIGHTS (train one with `stccl train`), or use --engine warp")
    notice = None
    if cfg.engine == "auto":
        notice = "no generator weights found: using the training-free warp engine"
    return _warp(cfg), notice


def _warp(cfg: EditConfig) -> Engine:
    from .warp import WarpEngine, find_prototypes

    return WarpEngine(find_prototypes(cfg.prototypes), absolute=not cfg.relative, regions=cfg.regions)


class Editor:
    """Re-express talking-face videos. Options are those of `EditConfig`; every value is checked
    here, where a call enters the library (engines trust what they are given)."""

    def __init__(self, engine: str | None = None, *, weights: str | Path | None = None,
                 device: str | None = None, tracker: str | None = None,
                 config: EditConfig | None = None, **options):
        """Arguments given here (not None) override the same fields of `config`."""
        self.config = _with(config or EditConfig(), dict(engine=engine, weights=weights, device=device,
                                                          **options), dict(tracker=tracker))
        for dev in (self.config.device, self.config.track.device):
            require_device(dev)  # a missing GPU is one line, before any weights or frames are read
        self.engine, self.notice = make_engine(self.config)  # notice: why auto chose warp, or None
        self._backend = None

    @property
    def backend(self):
        if self._backend is None:
            self._backend = make_backend(self.config.track.tracker, self.config.track.device)
        return self._backend

    def edit(self, src: str | Path, emotion: str | None = None, out: str | Path | None = None, *,
             intensity: float | None = None, start: float | None = None, end: float | None = None,
             face: int | str | None = None, regions: str | None = None, overwrite: bool | None = None,
             compare: bool = False, on_progress: Progress | None = None) -> EditSummary:
        """Edit one video; `out` defaults to <stem>.<emotion>.mp4 beside `src` (<stem>.plan.mp4
        for an emotion plan). `emotion` may be a plan ("happy@0-6,sad:0.7@6-12", or
        "@plan.toml"); `face` picks the face (0 = the largest at the start) or "all" (every
        face, each tracked and eased on its own); `regions` limits the edit to face parts
        ("upper", "brows,mouth", ...);
        `compare` also writes <output stem>.compare.mp4, input and output side by side."""
        cfg = _with(self.config, dict(emotion=emotion, intensity=intensity, start=start, end=end,
                                      regions=regions, overwrite=overwrite), dict(face=face))
        src = Path(src)
        out = Path(out) if out is not None else default_output(src, cfg.emotion, codec=cfg.codec)
        side = compare_output(out) if compare else None
        if side is not None and side.exists() and not cfg.overwrite:
            raise InputError(f"{side} exists; pass --overwrite to replace it")
        engine = self.engine if cfg.regions == self.config.regions else make_engine(cfg)[0]
        summary = edit_video(src, out, cfg, engine, self.backend, on_progress)
        if side is not None:
            from .compare import write_compare

            summary.compare = str(write_compare(src, out, side, f"stccl: {cfg.emotion}",
                                                overwrite=cfg.overwrite, crf=cfg.crf))
        return summary


def _with(cfg: EditConfig, changes: dict, track: dict) -> EditConfig:
    """`cfg` with the given (not None) values replaced, every field checked."""
    given = {k: str(v) if isinstance(v, Path) else v for k, v in changes.items() if v is not None}
    track = {k: v for k, v in track.items() if v is not None}
    if track:
        given["track"] = track
    return overlay(cfg, given, None)
