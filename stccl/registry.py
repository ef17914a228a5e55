"""The plug-in kinds: trackers (landmark backends) and edit engines, one registry each.

An entry declares its name, a help line, a lazy factory ("module:function", imported only when
the entry is built, so that listing the entries imports no torch) and what it can do, as data
(`TrackerCaps`, `EngineCaps`). The configs' choices, the CLI's choices and help, eval's engines
and every capability test come from here: no code outside a backend or an engine compares a
name. Adding a tracker or an engine is one new module and one `register` call:

    from stccl.registry import ENGINES, EngineCaps, Entry
    ENGINES.register(Entry("mine", "my engine", "my_package.engine:build", EngineCaps()))

Modules named in $STCCL_PLUGINS (comma-separated, e.g. `my_package.stccl_plugin`) are imported
the first time a registry is listed or asked for a name it lacks, so that the command line
(choices, --help, the edit) knows what they register. Torch-free and numpy-free, like the
configs that use it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from importlib import import_module
from typing import Any, Callable, Literal

from .errors import InputError

__all__ = ["ENGINES", "TRACKERS", "EngineCaps", "Entry", "Registry", "TrackerCaps", "load_plugins"]

log = logging.getLogger(__name__)
PLUGINS_ENV = "STCCL_PLUGINS"


@dataclass(frozen=True)
class TrackerCaps:
    """What a tracker (a landmark backend, stccl.face.backend) can do."""

    points: int = 68  # landmarks a fit gives: 68 (iBUG), or a dense set with a 68-point view
    dims: int = 2  # 2, or 3 for a dense 3D mesh (its `landmarks` still give the 68-point 2D view)
    # what it reads of a frame: rgb (the whole RGB frame), luma (only grey: it can track on the luma
    # plane of yuv420p frames), planes (colour only in crops it makes with stccl.face.pixels: it can
    # track on a yuv420p frame's planes, converting only those crops)
    reads: Literal["rgb", "luma", "planes"] = "rgb"
    mouth_check: bool = False  # a fit can say how sure it is of the mouth (refits from nudged boxes, stccl.face.spread)
    weak: float = 0.5  # detection confidence (in [0, 1]) below which a found face is doubtful


@dataclass(frozen=True)
class EngineCaps:
    """What an edit engine (stccl.edit.engine.Engine) can do."""

    uses_pixels: bool = True  # False: it reads only landmarks (no crop is cut; frames may stay yuv420p)
    reads_expression: bool = False  # it can read the expression a face shows and replace it (given `shown=`)
    points: int = 68  # the landmarks it moves
    regions: bool = False  # it can limit its edit to face parts (--regions)


@dataclass(frozen=True)
class Entry:
    """One tracker or engine. `factory` builds it ("module:function", imported on first use,
    or a callable): a tracker's `build(device, weights)`, an engine's `build(edit_config,
    weights)`, where `weights` is the file of its first kind make_backend / make_engine found
    (None when it needs none). `weights` lists the kinds of weights file it needs
    (stccl.weights.FILES); `auto` makes it a candidate of the choice "auto", tried in
    registration order, taken when its weights are found."""

    name: str
    help: str
    factory: str | Callable[..., Any]
    caps: Any
    weights: tuple[str, ...] = ()
    auto: bool = False
    compare: bool = True  # an engine: a column of eval's protocol by default, when it needs no weights

    def build(self, *args: Any, **kwargs: Any) -> Any:
        factory = self.factory
        if isinstance(factory, str):
            module, _, attr = factory.partition(":")
            factory = getattr(import_module(module), attr)
        return factory(*args, **kwargs)


class Registry:
    """Entries of one plug-in kind, in registration order, with the choice "auto" before them."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, entry: Entry, *, replace: bool = False) -> Entry:
        if entry.name == "auto" or not entry.name or entry.name != entry.name.strip():
            raise ValueError(f"{self.kind} name {entry.name!r} is reserved or blank")
        if entry.name in self._entries and not replace:
            raise ValueError(f"a {self.kind} named {entry.name!r} is registered already")
        self._entries[entry.name] = entry
        return entry

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    def __getitem__(self, name: str) -> Entry:
        """The entry `name`; InputError (one line, with the choices) when there is none."""
        if name not in self._entries:
            load_plugins()
        if name not in self._entries:
            raise InputError(f"unknown {self.kind} {name!r}; use one of {', '.join(self.choices())}")
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        load_plugins()
        return name in self._entries

    def entries(self) -> list[Entry]:
        load_plugins()
        return list(self._entries.values())

    def names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.entries())

    def choices(self) -> tuple[str, ...]:
        """What a config field of this kind takes: "auto", then every name."""
        return ("auto", *self.names())

    def candidates(self) -> list[Entry]:
        """The entries "auto" tries, in order."""
        return [e for e in self.entries() if e.auto]

    def check(self, value: str) -> str:
        """`value` if it is one of `choices()`; InputError otherwise (for config checks)."""
        if value != "auto":
            self[value]
        return value

    def auto_help(self) -> str:
        """What auto picks: "fan when its weights are found, else dlib"."""
        parts = []
        for e in self.candidates():
            if not e.weights:
                return ", else ".join(parts + [e.name])
            parts.append(f"{e.name} when its weights are found")
        return ", else ".join(parts)

    def help(self) -> str:
        """Every choice and what it is: "auto = ...; dlib = ...; ..."."""
        return f"auto = {self.auto_help()}; {self.names_help()}"

    def names_help(self) -> str:
        """Every entry and what it is: "fan = ...; dlib = ..."."""
        return "; ".join(f"{e.name} = {e.help}" for e in self.entries())


TRACKERS = Registry("tracker")
TRACKERS.register(Entry(
    "mesh", "MediaPipe's 468-point face mesh and BlazeFace detector (offline, shipped; default)",
    "stccl.face.mesh_backend:build", TrackerCaps(points=468, dims=3, reads="planes", mouth_check=True, weak=0.5), auto=True))
TRACKERS.register(Entry(
    "fan", "face-alignment's 2D FAN-4 landmarks (needs its weights), dlib's detectors",
    "stccl.face.fan_backend:build", TrackerCaps(weak=1 / 6), weights=("fan",), auto=True))
TRACKERS.register(Entry(
    "dlib", "dlib's HOG and CNN detectors and 68-point predictor (offline, shipped)",
    "stccl.face.dlib_backend:build", TrackerCaps(reads="luma", mouth_check=True, weak=1 / 6), auto=True))

ENGINES = Registry("engine")
ENGINES.register(Entry(
    "neural", "the trained generator (needs generator weights)", "stccl.edit.neural:build",
    EngineCaps(uses_pixels=True), weights=("generator",), auto=True))
ENGINES.register(Entry(
    "warp", "the training-free landmark warp by emotion prototypes", "stccl.edit.warp:build",
    EngineCaps(uses_pixels=False, reads_expression=True, regions=True), auto=True))
ENGINES.register(Entry(
    "meshwarp", "the warp by action units on the 468-point face mesh (subtle; not the default)",
    "stccl.edit.mesh_warp:build", EngineCaps(uses_pixels=False, reads_expression=True, regions=True),
    compare=False))

_plugins_loaded = False


def load_plugins() -> None:
    """Import the modules named in $STCCL_PLUGINS, once; one that fails is skipped with a warning."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for name in filter(None, (n.strip() for n in os.environ.get(PLUGINS_ENV, "").split(","))):
        try:
            import_module(name)
        except Exception as e:  # a broken plugin must not break the tool
            log.warning("%s: %s not loaded: %s: %s", PLUGINS_ENV, name, type(e).__name__,
                        " ".join(str(e).split()))
