"""Cross-emotion pairs built from the real shared clips, in MEAD's layout (symlinks + re-timed copies).

Each actor's real clip is its 'neutral' take; a copy re-timed to 0.8x speed (audio and video),
scaled to half size and with a small colour change, is the same sentence 'in another emotion'.
The DTW path between the two is known (frame i <-> i / 0.8), so pairs are true by construction.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from stccl.video import ffmpeg_exe

CLIPS = {  # actor -> (shared clip, emotion of the re-timed copy, sentence)
    "M003": ("M003_level_1_happy_024.mp4", "happy", "024"),
    "M026": ("M026_level_3_disgusted_018.mp4", "disgusted", "018"),
    "W015": ("W015_level_1_neutral_030.mp4", "happy", "030"),
    "W036": ("W036_level_3_happy_007.mp4", "angry", "007"),
}


def mead_path(root: Path, actor: str, emotion: str, level: int, sentence: str) -> Path:
    d = root / actor / "video" / "front" / emotion / f"level_{level}"
    d.mkdir(parents=True, exist_ok=True)
    return d / f"{sentence}.mp4"


def build_pair_tree(shared: Path, root: Path, actors=tuple(CLIPS)) -> Path:
    for actor in actors:
        name, emotion, sentence = CLIPS[actor]
        src = shared / "mead" / name
        mead_path(root, actor, "neutral", 1, sentence).symlink_to(src)
        subprocess.run(
            [ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-i", str(src), "-filter_complex",
             "[0:v]setpts=PTS/0.8,scale=960:540,eq=saturation=1.15:brightness=0.02[v];[0:a]atempo=0.8[a]",
             "-map", "[v]", "-map", "[a]", "-r", "25", "-c:v", "libx264", "-preset", "ultrafast",
             "-c:a", "aac", str(mead_path(root, actor, emotion, 3, sentence))], check=True)
    return root


def build_mead_pairs_tree(shared: Path, root: Path) -> Path:
    """The shared real cross-emotion pairs in MEAD's layout (benchmarks.prototypes)."""
    from benchmarks.prototypes import mead_pairs_tree

    return mead_pairs_tree(shared, root)
