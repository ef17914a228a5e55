"""How edit outputs are named (torch-free: the CLI uses it before any model is loaded)."""

from __future__ import annotations

from pathlib import Path

from ..emotions import EMOTIONS


def default_output(src: Path, emotion: str, out_dir: Path | None = None) -> Path:
    """<stem>.<emotion>.mp4, the emotion in its canonical lower case."""
    return (out_dir or src.parent) / f"{src.stem}.{emotion.strip().lower()}.mp4"


def is_edit_output(path: Path) -> bool:
    """True for files named like our outputs (<stem>.<emotion>.mp4, any case: older versions
    wrote x.HAPPY.mp4), so folders can be re-run."""
    parts = path.name.split(".")
    return len(parts) >= 3 and parts[-2].strip().lower() in EMOTIONS
