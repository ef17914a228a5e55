"""`Editor`: the Python API of `stccl edit`.

    from stccl import Editor
    Editor(engine="auto").edit("in.mp4", emotion="happy", out="out.mp4")
"""

from __future__ import annotations

from pathlib import Path

from ..config import EditConfig, face_choice, overlay, tracker_name
from ..devices import require_device
from ..errors import InputError
from ..face import make_backend
from ..registry import ENGINES, Entry
from ..weights import FILES, find
from .engine import Engine
from .outputs import compare_output, default_output, is_edit_output, made_by  # noqa: F401  (is_edit_output: re-exported)
from .pipeline import EditSummary, Progress, edit_tags, edit_video

GENERATOR_FILE = FILES["generator"].file


def make_engine(cfg: EditConfig) -> tuple[Engine, str | None]:
    """The engine `cfg` asks for (a stccl.registry.ENGINES name, or auto: the first candidate
    whose weights are found and that can do what `cfg` asks), and a one-line notice when auto
    passed over a candidate."""
    if cfg.engine != "auto":
        entry = ENGINES[cfg.engine]
        if cfg.regions is not None and not entry.caps.regions:
            able = ", ".join(e.name for e in ENGINES.entries() if e.caps.regions)
            raise InputError(f"--regions needs an engine that moves face parts ({able}): "
                             f"leave out --engine {entry.name}")
        return entry.build(cfg, _weights(entry, cfg, required=True)), None
    notice = None
    for entry in ENGINES.candidates():
        weights = _weights(entry, cfg, required=False)
        if entry.weights and weights is None:
            notice = notice or f"no {_what(entry)} found: using the {_next(entry).name} engine ({_next(entry).help})"
            continue
        if cfg.regions is not None and not entry.caps.regions:
            notice = notice or (f"--regions: using the {_next(entry).name} engine (the {entry.name} engine "
                                "edits the whole face)")
            continue
        return entry.build(cfg, weights), notice
    raise InputError("no engine can do this edit here: every auto candidate misses its weights "
                     "or cannot limit the edit to --regions")


def _weights(entry: Entry, cfg: EditConfig, required: bool) -> Path | None:
    """The weights file `entry` needs: --weights when given (an error when it is no file),
    else where stccl.weights looks; None when it needs none, or (not `required`) none is found."""
    if not entry.weights:
        return None
    found = find(entry.weights[0], cfg.weights)
    if found is None and (required or cfg.weights):
        if cfg.weights:
            raise InputError(f"{_what(entry)} not found: {cfg.weights}")
        spec = FILES[entry.weights[0]]
        raise InputError(
            f"no {_what(entry)}: pass --weights PATH, or put {spec.file} in ./weights/ or "
            f"$STCCL_WEIGHTS (train one with `stccl train`), or use another --engine")
    return found


def _what(entry: Entry) -> str:
    return FILES[entry.weights[0]].what


def _next(entry: Entry) -> Entry:
    """The auto candidate after `entry`."""
    order = ENGINES.candidates()
    return order[min(order.index(entry) + 1, len(order) - 1)]


class Editor:
    """Re-express talking-face videos. Options are those of `EditConfig`; every value is checked
    here, where a call enters the library (engines trust what they are given)."""

    def __init__(self, engine: str | None = None, *, weights: str | Path | None = None,
                 device: str | None = None, tracker: str | None = None,
                 config: EditConfig | None = None, **options):
        """Arguments given here (not None) override the same fields of `config`."""
        face = options.pop("face", None)
        self.config = _with(config or EditConfig(), dict(engine=engine, weights=weights, device=device,
                                                          **options), dict(tracker=tracker), face)
        for dev in (self.config.device, self.config.track.device):
            require_device(dev)  # a missing GPU is one line, before any weights or frames are read
        self.engine, self.notice = make_engine(self.config)  # notice: why auto chose warp, or None
        self._backend = None

    @property
    def backend(self):
        if self._backend is None:
            self._backend = make_backend(self.config.track.tracker, self.config.track.device)
        return self._backend

    @property
    def tracker(self) -> str:
        """The name of the tracker that drives the edits (auto resolved), without building it."""
        return self._backend.name if self._backend is not None else tracker_name(self.config.track.tracker)

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
                                      regions=regions, overwrite=overwrite), {}, face)
        src = Path(src)
        out = Path(out) if out is not None else default_output(src, cfg.emotion, codec=cfg.codec)
        engine = self.engine if cfg.regions == self.config.regions else make_engine(cfg)[0]
        side = compare_output(out) if compare else None
        side_kept = side is not None and side.exists() and not cfg.overwrite
        if side_kept and not self.made_before(src, side, cfg, engine.name):
            raise InputError(f"{side} exists; pass --overwrite to replace it")
        if not cfg.overwrite and self.made_before(src, out, cfg, engine.name):
            summary = _done_before(src, out, cfg, engine.name)  # a rerun finishes what is missing
        else:
            summary = edit_video(src, out, cfg, engine, self.backend, on_progress)
        if side is not None:
            from .compare import write_compare

            if not side_kept:
                write_compare(src, out, side, f"stccl: {cfg.emotion}", overwrite=cfg.overwrite, crf=cfg.crf,
                              metadata=edit_tags(src, cfg, engine.name, self.tracker))
            summary.compare = str(side)
        return summary

    def made_before(self, src: str | Path, out: str | Path, cfg: EditConfig | None = None,
                    engine: str | None = None) -> bool:
        """Whether `out` exists and is this very edit's output (or its comparison), from an
        earlier run of the same command on the same input: its stccl tags match."""
        cfg = cfg or self.config
        out = Path(out)
        return out.is_file() and made_by(out, edit_tags(src, cfg, engine or self.engine.name, self.tracker))


def _done_before(src: Path, out: Path, cfg: EditConfig, engine: str) -> EditSummary:
    """The summary of an output an earlier run of this edit wrote (nothing is redone)."""
    from ..video import probe

    info = probe(out)
    return EditSummary(str(src), str(out), engine, cfg.emotion, cfg.intensity, frames=info.frames,
                       expected_frames=info.frames, frame_rate=info.fps, done_before=True)


def _with(cfg: EditConfig, changes: dict, track: dict, face: int | str | None = None) -> EditConfig:
    """`cfg` with the given (not None) values replaced, every field checked; `face` an index or
    "all" (config.face_choice)."""
    given = {k: str(v) if isinstance(v, Path) else v for k, v in changes.items() if v is not None}
    track = {k: v for k, v in track.items() if v is not None}
    if face is not None:
        try:
            chosen = face_choice(face)
        except InputError as e:
            raise InputError(f"face {e}") from None
        track.update(chosen.pop("track", {}))
        given.update(chosen)
    if track:
        given["track"] = track
    return overlay(cfg, given, None)
