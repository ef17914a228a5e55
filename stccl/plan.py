"""What an edit changes, when and where: emotion plans (emotions that change over a clip) and
face regions.

    happy@0-6,sad:0.7@6-12,neutral@20-

Each segment is `EMOTION[:INTENSITY]@START-END`, in seconds; an empty END means the end of the
clip. Segments may touch but not overlap; outside every segment the face is left as it is.
The same plan can come from a TOML file, `--emotion @plan.toml`:

    [[segment]]
    emotion = "happy"
    start = 0
    end = 6

    [[segment]]
    emotion = "sad"
    intensity = 0.7
    start = 6          # no end: to the end of the clip

Regions (`--regions`) name the landmarks an edit may move: `brows`, `eyes` (with their lids:
with 68 points, AU6, the cheek raiser, shows as raised lower lids), `mouth` (corners and lips),
or `upper` (brows, eyes) and `lower` (mouth). Without regions every point an emotion moves is
moved (the nose's too).

Torch-free and import-light: the CLI checks plans before anything heavy is loaded.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .emotions import EMOTIONS, check_emotion
from .errors import InputError


@dataclass(frozen=True)
class Segment:
    emotion: str
    start: float  # seconds
    end: float | None  # seconds; None = to the end of the clip
    intensity: float | None = None  # None = the run's --intensity

    def text(self) -> str:
        amount = "" if self.intensity is None else f":{self.intensity:g}"
        end = "" if self.end is None else f"{self.end:g}"
        return f"{self.emotion}{amount}@{self.start:g}-{end}"


def is_plan(value: str) -> bool:
    """Whether an --emotion value is a plan (or a plan file) rather than one emotion name."""
    return isinstance(value, str) and ("@" in value)


def parse_plan(text: str) -> list[Segment]:
    """The segments of a plan string, checked; InputError names the bad segment."""
    parts = [p.strip() for p in text.split(",")]
    segments = []
    for k, part in enumerate(parts, 1):
        segments.append(_segment(part, f"segment {k} ({part!r})"))
    return check_segments(segments)


def read_plan_file(path: str | Path) -> list[Segment]:
    """The segments of a plan TOML file (`[[segment]]` tables, see the module docstring)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"plan file not found: {p}")
    try:
        data = tomllib.loads(p.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{p}: not valid TOML ({e})") from None
    rows = data.get("segment")
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise InputError(f"{p}: a plan file needs [[segment]] tables (emotion, start, end, intensity)")
    segments = []
    for k, row in enumerate(rows, 1):
        where = f"{p}: segment {k}"
        unknown = set(row) - {"emotion", "intensity", "start", "end"}
        if unknown:
            raise InputError(f"{where}: unknown keys {sorted(unknown)} (emotion, intensity, start, end)")
        if "emotion" not in row or "start" not in row:
            raise InputError(f"{where}: needs an emotion and a start")
        segments.append(Segment(_emotion(row["emotion"], where), _time(row["start"], where, "start"),
                                None if row.get("end") is None else _time(row["end"], where, "end"),
                                None if row.get("intensity") is None
                                else _amount(row["intensity"], where)))
        _order(segments[-1], where)
    return check_segments(segments, str(p))


def check_segments(segments: list[Segment], where: str = "") -> list[Segment]:
    """`segments` sorted by start; InputError when two overlap."""
    if not segments:
        raise InputError("an emotion plan needs at least one segment")
    ordered = sorted(segments, key=lambda s: s.start)
    for a, b in zip(ordered, ordered[1:]):
        if a.end is None or b.start < a.end - 1e-9:
            prefix = f"{where}: " if where else ""
            raise InputError(f"{prefix}segments {a.text()!r} and {b.text()!r} overlap")
    return ordered


def plan_text(segments: list[Segment]) -> str:
    """The canonical plan string of `segments` (what the config holds and outputs are tagged with)."""
    return ",".join(s.text() for s in segments)


def check_emotion_or_plan(value: object) -> str:
    """An emotion name (lower case), or a plan in its canonical string form; `@FILE` is read as a
    plan file (relative to the working folder). InputError otherwise."""
    if not isinstance(value, str):
        raise InputError(f"emotion must be a name ({', '.join(EMOTIONS)}) or a plan, got {value!r}")
    if value.strip().startswith("@"):
        return plan_text(read_plan_file(value.strip()[1:]))
    if is_plan(value):
        return plan_text(parse_plan(value))
    return _emotion(value, "")


def _segment(part: str, where: str) -> Segment:
    if part.count("@") != 1:
        raise InputError(f"{where}: write EMOTION[:INTENSITY]@START-END, e.g. sad:0.7@6-12")
    head, span = part.split("@")
    name, _, amount = head.partition(":")
    start, dash, end = span.partition("-")
    if not dash:
        raise InputError(f"{where}: the time span needs a dash, START-END (END may be empty)")
    seg = Segment(_emotion(name, where), _time(start, where, "start"),
                  None if not end.strip() else _time(end, where, "end"),
                  None if not head.count(":") else _amount(amount, where))
    _order(seg, where)
    return seg


def _emotion(value: object, where: str) -> str:
    """check_emotion's answer, said of the segment `where` points at."""
    try:
        return check_emotion(value)
    except InputError as e:
        raise InputError(f"{where}: {e}" if where else str(e)) from None


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        x = float(value.strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _time(value: object, where: str, which: str) -> float:
    t = _number(value)
    if t is None or t < 0:
        raise InputError(f"{where}: {which} must be a time in seconds >= 0, got {value!r}")
    return t


def _amount(value: object, where: str) -> float:
    x = _number(value)
    if x is None or x < 0:
        raise InputError(f"{where}: intensity must be a number >= 0, got {value!r}")
    return x


def _order(seg: Segment, where: str) -> None:
    if seg.end is not None and seg.end <= seg.start:
        raise InputError(f"{where}: the end ({seg.end:g} s) must be after the start ({seg.start:g} s)")


REGIONS = {"brows": tuple(range(17, 27)), "eyes": tuple(range(36, 48)), "mouth": tuple(range(48, 68))}
REGION_GROUPS = {"upper": ("brows", "eyes"), "lower": ("mouth",)}


def check_regions(value: object) -> str:
    """Comma-separated regions as a canonical string ("brows,eyes"); InputError otherwise."""
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not names:
        raise InputError(f"regions must be a comma-separated list of {_region_words()}, got {value!r}")
    chosen = set()
    for name in names:
        word = name.strip().lower() if isinstance(name, str) else None
        if word in REGION_GROUPS:
            chosen.update(REGION_GROUPS[word])
        elif word in REGIONS:
            chosen.add(word)
        else:
            raise InputError(f"unknown region {name!r}; choose from {_region_words()}")
    return ",".join(r for r in REGIONS if r in chosen)


def region_points(regions: str | None) -> tuple[int, ...] | None:
    """The landmark indices of checked `regions`; None (no regions given) = every point."""
    if regions is None:
        return None
    return tuple(i for r in check_regions(regions).split(",") for i in REGIONS[r])


def _region_words() -> str:
    return ", ".join([*REGIONS, *REGION_GROUPS])
