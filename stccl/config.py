"""Typed dataclass configs of face tracking, `prep` and `edit`: the single source of truth for
their options.

Precedence: CLI option > `--config file.toml` > dataclass default. The resolved config is
saved next to outputs (and inside checkpoints) with `to_dict`. How values are checked and
where the help texts come from: stccl.typed. Torch-free.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import tomli_w

from .devices import check_device
from .emotions import check_emotion
from .errors import InputError
from .plan import check_emotion_or_plan, check_regions
from .registry import ENGINES, TRACKERS
from .typed import Check, ConfigError, OneOf, at_least, from_dict, more_than, overlay, to_dict, validate
from .weights import find as find_weights

__all__ = ["AlignConfig", "ConfigError", "Device", "EditConfig", "Emotion", "EngineName", "FaceIndex",
           "PrepConfig", "TrackConfig", "TrackerName", "face_choice", "from_dict", "load_toml", "overlay",
           "save_toml", "to_dict", "tracker_name", "validate"]

_FACE_INDEX = "a face index, a whole number >= 0 (0 = the largest at the start, 1 = the next, ...)"


def check_face(value: object) -> int:
    """`value` as a face index (a whole number >= 0, or its digits); InputError otherwise."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        every = " (every face: --face all, stccl edit only)" if str(value).strip().lower() == "all" else ""
        raise InputError(f"must be {_FACE_INDEX}{every}, got {value!r}")
    return value


def face_choice(value: object) -> dict[str, Any]:
    """What `--face` / `Editor(face=)` sets in an EditConfig: "all" -> every face; an index ->
    that face. InputError for anything else."""
    if isinstance(value, str) and value.strip().lower() == "all":
        return {"faces": "all"}
    try:
        return {"faces": "one", "track": {"face": check_face(value)}}
    except InputError:
        raise InputError(f"must be {_FACE_INDEX}, or all (every face), got {value!r}") from None

Emotion = Annotated[str, Check(check_emotion, "an emotion name")]
EmotionPlan = Annotated[str, Check(check_emotion_or_plan, "an emotion name, a plan or @plan.toml")]
Regions = Annotated[str, Check(check_regions, "brows, eyes, mouth, upper or lower, comma-separated")]
Device = Annotated[str, Check(check_device, "auto, cpu, cuda, cuda:N or mps")]
FaceIndex = Annotated[int | str, Check(check_face, "a face index")]
TrackerName = Annotated[str, OneOf(TRACKERS.choices, TRACKERS.help)]
EngineName = Annotated[str, OneOf(ENGINES.choices, ENGINES.help)]
Count = Annotated[int, at_least(1)]
X264_PRESETS = Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                       "slower", "veryslow"]


def tracker_name(name: str, weights_dir=None) -> str:
    """The tracker `name` stands for, without building it: itself, or for auto the first
    candidate that needs no weights or whose weights are found (`weights_dir` first); "auto"
    when none can run. stccl.face.make_backend builds the one this names."""
    if name != "auto":
        return TRACKERS[name].name
    return next((e.name for e in TRACKERS.candidates()
                 if not e.weights or find_weights(e.weights[0], first_dir=weights_dir)), name)


@dataclass
class TrackConfig:
    """Face tracking: detection schedule, identity, gaps and smoothing."""

    tracker: TrackerName = "auto"  # landmark tracker
    device: Device = "auto"  # device of a tracker that runs a network (FAN)
    detect_every: Count = 10  # re-detect at least every N frames
    detect_size: Count = 480  # longest side of the frame used for detection
    face: FaceIndex = 0  # which face to follow when several: a whole number >= 0 (0 = the largest at the start, 1 = the next, ...)
    turned: bool = True  # where HOG finds no face, look with dlib's CNN detector (slower; sees turned faces)
    turned_size: Count = 320  # longest side of the frame for a whole-frame CNN search
    max_gap: Annotated[int, at_least(0)] = 12  # gaps up to this many frames are interpolated, longer ones flagged
    min_cutoff: float = 1.0  # One-Euro on head motion and stable points: cutoff (Hz) at rest
    beta: float = 3.0  # One-Euro speed coefficient, per inter-ocular distance/s (higher = less lag)
    mouth_min_cutoff: float = 5.0  # One-Euro on lip and jaw shape (speech is fast): cutoff at rest
    mouth_beta: float = 30.0  # One-Euro speed coefficient of lip and jaw shape
    smooth: bool = True  # smooth landmarks and alignment over time


@dataclass
class AlignConfig:
    """Similarity alignment to the canonical template."""

    size: Annotated[int, at_least(16)] = 256  # aligned crop side in pixels
    min_cutoff: float = 0.5  # One-Euro cutoff (Hz) for the transform at rest
    beta: float = 10.0  # speed coefficient; units: log-scale, radians and crop extents per second


@dataclass
class PrepConfig:
    """`stccl prep`: dataset preparation."""

    layout: Literal["auto", "mead", "ravdess", "folder"] = "auto"  # dataset layout; auto detects it
    views: list[str] = field(default_factory=lambda: ["front"])  # MEAD views
    levels: list[int] = field(default_factory=list)  # MEAD intensity levels; empty = all
    workers: Count = 1  # parallel processes
    shard: str = "1/1"  # do only part i of n of the clips, e.g. 3/8 (for job arrays)
    jpeg_quality: Annotated[int, at_least(1)] = 95  # quality of the stored aligned crops
    retry_failed: bool = False  # try clips that failed before again
    sample_rate: Count = 16000  # audio sample rate for the MFCCs
    n_mfcc: Count = 13  # MFCCs per frame
    max_pair_cost: Annotated[float, at_least(0)] = 0.0  # DTW cost above which a pair is rejected; 0 = the built-in threshold
    track: TrackConfig = field(default_factory=TrackConfig)
    align: AlignConfig = field(default_factory=AlignConfig)


@dataclass
class EditConfig:
    """`stccl edit`: re-expression of a video."""

    emotion: EmotionPlan = "happy"  # target emotion (any case), or a plan EMOTION[:INTENSITY]@START-END,... in seconds (END empty = to the end), or @plan.toml
    intensity: Annotated[float, at_least(0, "a number >= 0")] = 1.0  # a number >= 0: 0 = unchanged, 1 = full, > 1 exaggerated
    engine: EngineName = "auto"  # edit engine
    weights: str | None = None  # generator weights (.safetensors); found in ./weights/ or $STCCL_WEIGHTS when not given
    prototypes: str | None = None  # warp-engine prototypes (JSON, see weights/PROTOTYPES.md); the shipped ones when not given
    regions: Regions | None = None  # move only these face parts: brows, eyes, mouth, or upper (brows, eyes) / lower (mouth), comma-separated; the lip opening is always kept
    relative: bool = False  # warp engine: add the target on top of the expression shown, instead of replacing it
    start: Annotated[float, at_least(0)] | None = None  # edit from this time (s, >= 0, before the end of the video) on; the rest passes through
    end: Annotated[float, more_than(0)] | None = None  # edit up to this time (s, > 0 and after --start; past the end = to the end)
    device: Device = "auto"  # device of the engine
    batch: Count = 8  # frames per engine call
    ease: Annotated[float, at_least(0)] = 0.32  # seconds over which the intensity ramps at face gaps and start/end
    faces: Literal["one", "all"] = "one"  # one = the face [track] face picks; all = every face in the frame, each followed and eased on its own (--face all)
    fit_check_every: Annotated[int, at_least(0)] = 8  # trackers that can (dlib): every N-th frame, check how sure the landmark fit is of the mouth; the edit eases out where it is not (0 = never)
    crop_size: Annotated[int, at_least(16)] = 256  # aligned crop side the warp engine works at
    codec: Literal["auto", "h264", "h265", "prores", "ffv1"] = "auto"  # video codec: auto = by the output's extension (H.264; VP9 in .webm); prores in .mov/.mkv, ffv1 (lossless) in .mkv
    crf: Annotated[int, at_least(0)] = 18  # quality on x264's scale (lower = better, larger files); h265 and VP9 get the matching value; prores and ffv1 ignore it
    preset: X264_PRESETS = "fast"  # x264 speed preset
    pipes: Literal["auto", "rgb24"] = "auto"  # frames between decoder and encoder: auto = yuv420p wherever the edit allows (an engine that reads no pixels, a tracker that reads luma or makes its crops from the planes, an even size, 8-bit video-range colour; see docs/edit.md), which skips both colour conversions; rgb24 = always RGB
    overwrite: bool = False  # replace existing outputs
    track: TrackConfig = field(default_factory=TrackConfig)
    align: AlignConfig = field(default_factory=AlignConfig)

    @classmethod
    def upgrade(cls, data: dict) -> dict:
        """`[track] face = "all"` (before `faces`) -> `faces = "all"`; `pipes = "yuv420p"` (before
        `auto`, which does what it asked for, wherever the edit allows) -> `pipes = "auto"`."""
        if data.get("pipes") == "yuv420p":
            data["pipes"] = "auto"
        track = data.get("track")
        if isinstance(track, dict) and isinstance(track.get("face"), str) and track["face"].strip().lower() == "all":
            del track["face"]
            data.setdefault("faces", "all")
        return data


def load_toml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"config file not found: {p}")
    try:
        return tomllib.loads(p.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{p}: not valid TOML ({e})") from None


def save_toml(cfg: Any, path: str | Path) -> None:
    Path(path).write_text(tomli_w.dumps(_drop_none(to_dict(cfg))))


def _drop_none(d: dict) -> dict:
    return {k: (_drop_none(v) if isinstance(v, dict) else v) for k, v in d.items() if v is not None}
