"""How edit outputs are named (torch-free: the CLI uses it before any model is loaded)."""

from __future__ import annotations

from pathlib import Path

from ..emotions import EMOTIONS
from ..plan import is_plan

PLAN = "plan"  # <stem>.plan.mp4: the output of an emotion plan
COMPARE = "compare"  # <output stem>.compare.mp4: input and output side by side (--compare)
TRACKER_TAG = "stccl_tracker"  # an output's tag: the tracker that drove its edit (resolved: never "auto")


EXTENSIONS = {"prores": ".mov", "ffv1": ".mkv"}  # codecs that do not go in .mp4; the rest: .mp4


def default_output(src: Path, emotion: str, out_dir: Path | None = None, codec: str = "auto") -> Path:
    """<stem>.<emotion>.mp4 (the emotion in its canonical lower case), or <stem>.plan.mp4 for
    an emotion plan; .mov for ProRes, .mkv for FFV1."""
    name = PLAN if is_plan(emotion) else emotion.strip().lower()
    return (out_dir or src.parent) / f"{src.stem}.{name}{EXTENSIONS.get(codec, '.mp4')}"


def compare_output(out: Path) -> Path:
    """The before/after video of an output: <output stem>.compare.mp4."""
    return out.with_name(f"{out.stem}.{COMPARE}.mp4")


def is_edit_output(path: Path) -> bool:
    """True for files named like our outputs (<stem>.<emotion>.mp4 in any case: older versions
    wrote x.HAPPY.mp4; <stem>.plan.mp4; <stem>.<...>.compare.mp4), so folders can be re-run."""
    parts = path.name.split(".")
    return len(parts) >= 3 and parts[-2].strip().lower() in (*EMOTIONS, PLAN, COMPARE)


def made_by(path: Path, tags: dict[str, str]) -> bool:
    """Whether the video at `path` is the output of an edit tagged `tags` (stccl.edit.pipeline.
    edit_tags: version, input, emotion, intensity, engine, tracker, regions): a rerun of the same
    command may keep it and finish what is missing. False for any other file."""
    from ..errors import StcclError
    from ..video.probe import read_tags

    try:
        found = read_tags(path)
    except StcclError:
        return False
    return all(found.get(k) == v for k, v in tags.items() if k.startswith("stccl_"))
