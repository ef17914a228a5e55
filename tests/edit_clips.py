"""The shared clips the edit tests use (read from ../shared/data, never copied into the repo),
and the checks every edit of them must pass."""

import hashlib

import pytest

from benchmarks.readback import CLIPS
from stccl.video import probe

# every shared talking-face clip with a full face in view: MEAD 1080p front takes, LRS3 224²
# faces, 512²/480² phone-style clips, a 1280x720 landscape clip (the read-back benchmark's list)
SHARED_CLIPS = tuple(CLIPS)

# key -> (clip, seconds kept for the edit tests; None = whole clip)
EDIT_CLIPS = {
    "M003": (SHARED_CLIPS[0], 1.6), "M026": (SHARED_CLIPS[1], 1.6), "M030": (SHARED_CLIPS[2], 1.6),
    "W015": (SHARED_CLIPS[3], 1.6), "W036": (SHARED_CLIPS[4], 1.6),
    "0Fi83": (SHARED_CLIPS[5], None), "OzA6": (SHARED_CLIPS[6], None),
    "d12": (SHARED_CLIPS[7], 1.6), "d20": (SHARED_CLIPS[8], 1.6), "s18": (SHARED_CLIPS[9], 1.6),
}


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def edit_checked(editor, src, emotion, out):
    """`editor.edit(src, emotion, out)`, asserting that the input is untouched and the output
    has its size, frame count and frame rate. Returns the summary."""
    before = sha(src)
    summary = editor.edit(src, emotion=emotion, out=out)
    assert sha(src) == before
    info_in, info_out = probe(src), probe(out)
    assert (info_out.width, info_out.height, info_out.frames) == (info_in.width, info_in.height, info_in.frames)
    assert info_out.fps == pytest.approx(info_in.fps, rel=1e-3)
    return summary
