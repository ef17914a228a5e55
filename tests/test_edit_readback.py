"""Every shared clip x happy, sad, angry, surprised, edited with the default engine and read back
as someone else would read it: landmarks detected afresh on every frame of the input and of the
output (stccl.eval.readback), nothing carried over from the tracking that drove the edit.

Clips and their fresh readings are shared by the tests of a session (conftest: `edit_clips`,
`fresh_inputs`).
"""

import numpy as np
import pytest

from stccl.edit.warp import load_expression_model, load_prototypes
from stccl.eval.readback import (MAX_DEV, MIN_CORR, MOVING, faces_found, intended_move, lip_figures, lips_kept,
                                 read_back)
from stccl.face import track_video
from stccl.face.smooth import FACE_MISSING

from edit_clips import EDIT_CLIPS, SHARED_CLIPS, edit_checked

EMOTIONS = ("happy", "sad", "angry", "surprised")


@pytest.mark.parametrize("rel", SHARED_CLIPS, ids=lambda r: r.split("/")[-1][:12])
def test_faces_found_on_every_frame_of_every_shared_clip(rel, shared_data, dlib_backend):
    """Whole clips, as the edit tracks them (gaps of <= 12 frames are filled)."""
    _, flags = track_video(shared_data / rel, dlib_backend)
    found = float(np.mean((flags & FACE_MISSING) == 0))
    assert found >= 0.95, found


# Where this offline reader cannot see what the edit did, or the bar is missed, measured with
# `python -m benchmarks.readback --seconds 1.6` and the attention mesh beside it
# (benchmarks/readback_judge.py, docs/edit.md). strict: each must start failing when fixed.
_0FI83 = ("0Fi83: dlib's fresh read of this 224², turned, blurred face cannot read even an "
          "unchanged re-encode within the bar (corr 0.756); the mesh is unsure of its mouth on 24 of "
          "40 frames, where the edit eases out, and moves it on the other 16 (2026-12-07: the attention "
          "mesh, floor corr 0.919, reads the lips at 0.83-0.91, dev 0.020-0.024, and the brows and "
          "corners moved the asked way)")
# where the tracked fit is unsure of the mouth (stccl.face.spread), so that the edit eases out
UNSURE_CLIPS = {"0Fi83"}
KNOWN_MISS = {
    ("0Fi83", "happy"): _0FI83, ("0Fi83", "sad"): _0FI83, ("0Fi83", "angry"): _0FI83,
    ("0Fi83", "surprised"): _0FI83,
    ("d12", "surprised"): ("dlib takes the glasses' rims for the raised brows (seen on frames; shift ratio "
                           "0.08); the attention mesh reads the brows raised, +0.039 IOD, lips 0.994"),
}
# Edits of M026's level-3 take (mouth wide open) whose lips dlib's fresh read puts past the bar
# and the attention mesh reads as kept. On this clip the attention mesh is the better reader
# (its unchanged re-encode: corr 0.998, dev 0.007; dlib's 0.977, 0.014: dlib's inner lip sits
# inside the wide-open mouth, where the mesh that drives the edit follows the teeth). Each is held
# to its own figures, (largest dev, smallest corr), a margin above what dlib read: worse fails,
# and the bar missed is an expected failure that says so. With the mesh driving, M026 happy and
# M030 angry (on this list with dlib driving) keep the lips by dlib too.
_STRONG = ("M026, mouth wide open: dlib's read of the lips is past the bar ({}); the attention mesh, "
           "which reads the clip's re-encode better, reads them kept ({})")
LIP_MISS = {  # read on 2026-12-07 by dlib: dev 0.031, 0.053, 0.034; corr 0.913, 0.873, 0.903
    ("M026", "sad"): ((0.04, 0.89), _STRONG.format("0.913 / 0.031", "0.987 / 0.027")),
    ("M026", "angry"): ((0.065, 0.85), _STRONG.format("0.873 / 0.053", "0.990 / 0.019")),
    ("M026", "surprised"): ((0.045, 0.88), _STRONG.format("0.903 / 0.034", "0.991 / 0.016")),
}


def _cases():
    for emotion in EMOTIONS:
        for key in EDIT_CLIPS:
            why = KNOWN_MISS.get((key, emotion))
            marks = [pytest.mark.xfail(strict=True, reason=why)] if why else []
            yield pytest.param(key, emotion, marks=marks, id=f"{emotion}-{key}")


@pytest.mark.parametrize(("key", "emotion"), list(_cases()))
def test_edit_keeps_lips_and_moves_expression(key, emotion, edit_clips, fresh_inputs, warp_editor,
                                              dlib_backend, tmp_path):
    out = tmp_path / f"{key}.{emotion}.mp4"
    s = edit_checked(warp_editor, edit_clips[key], emotion, out)
    assert s.face_frames >= 0.95 * s.frames
    if key.startswith(("M0", "W0")):  # MEAD's front camera: no frame is too turned to edit
        assert s.turned_frames == 0
    assert (s.unsure_frames > 0) == (key in UNSURE_CLIPS), s.unsure_frames

    # the edit is absolute: the move asked of this face is the target less what it shows
    move = intended_move(fresh_inputs[key], load_prototypes()[emotion], load_expression_model())
    fig = read_back(fresh_inputs[key], out, move, dlib_backend)
    assert fig["faces_in"] >= 0.95 and fig["faces_out"] >= 0.95, fig
    # the read landmarks moved the way asked, by a visible part of it
    assert fig["expr_cos"] > 0.2 and fig["expr_shift_ratio"] > 0.1, fig
    if (key, emotion) in LIP_MISS:
        (dev, corr), why = LIP_MISS[key, emotion]
        assert fig["mouth_dev"] <= dev and fig["mouth_corr"] >= corr, fig
        if not lips_kept(fig):
            pytest.xfail(f"{why}; dlib reads {fig['mouth_dev']:.3f} IOD off, corr {fig['mouth_corr']:.3f}")
    assert lips_kept(fig), fig


def test_lip_bar_is_the_one_asked_for():
    """lips_kept: corr >= 0.9 where the input mouth moves (std > 0.03 IOD), dev <= 0.03 IOD."""
    assert (MIN_CORR, MAX_DEV, MOVING) == (0.9, 0.03, 0.03)
    t = np.linspace(0, 6, 60)
    face = np.zeros((60, 68, 2))
    face[:, 36:42, 0], face[:, 42:48, 0] = -0.5, 0.5  # eyes: IOD 1
    def with_opening(o):
        f = face.copy()
        f[:, [61, 62, 63], 1], f[:, [67, 66, 65], 1] = 1.0, 1.0 + o[:, None]
        return f

    speech = 0.2 + 0.1 * np.sin(t)  # std 0.07: moving
    a = with_opening(speech)
    assert lips_kept(lip_figures(a, with_opening(speech + 0.02)))  # offset inside the bar
    assert not lips_kept(lip_figures(a, with_opening(speech + 0.04)))  # offset past it
    assert not lips_kept(lip_figures(a, with_opening(0.2 + 0.1 * np.cos(t))))  # not the speech
    still = 0.2 + 0.005 * np.sin(5 * t)  # barely moves: the correlation is not asked
    assert lips_kept(lip_figures(with_opening(still), with_opening(still[::-1])))
    assert faces_found(np.full((4, 68, 2), np.nan)) == 0.0


def test_long_clip_neither_drifts_nor_slides(shared_data, dlib_backend, warp_editor, tmp_path):
    """28 s: d20 played forwards, backwards, forwards, backwards (no cut, the head keeps
    moving). The third pass shows the first pass's frames again, so the track must come back
    to the same landmarks; and the lips must be kept to the end, not only at the start."""
    import subprocess

    from stccl.face.fresh import read_landmarks
    from stccl.face.smooth import inter_ocular
    from stccl.video import ffmpeg_exe

    long = tmp_path / "long.mp4"
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-i", str(shared_data / "wild" / "d20.mp4"),
                    "-filter_complex", "[0:v]split=3[a][b][c];[b]reverse[rb];[c]split[c1][c2];[c2]reverse[rc];"
                    "[a][rb][c1][rc]concat=n=4:v=1[v]", "-map", "[v]", "-c:v", "libx264",
                    "-preset", "ultrafast", "-crf", "16", str(long)], check=True)
    lmk, _ = track_video(long, dlib_backend)
    n = len(lmk) // 4
    iod = np.nanmean([inter_ocular(p) for p in lmk[:n]])
    drift = np.linalg.norm(lmk[2 * n:3 * n] - lmk[:n], axis=-1).mean() / iod
    assert drift < 0.02, drift

    out = tmp_path / "long.happy.mp4"
    warp_editor.edit(long, emotion="happy", out=out)
    a = read_landmarks(long, dlib_backend, every=4)
    b = read_landmarks(out, dlib_backend, every=4)
    assert lips_kept(lip_figures(a, b)), lip_figures(a, b)
    last = slice(3 * len(a) // 4, None)  # the last 7 s on their own
    assert lips_kept(lip_figures(a[last], b[last])), lip_figures(a[last], b[last])


def test_profile_start_fades_and_the_summary_says_so(edit_clips, tmp_path):
    """0Fi83BHQsMA starts turned far to the side: the edit fades there, eases out where the
    landmarks are unsure of the mouth, and the notes under the table say both."""
    from typer.testing import CliRunner

    from stccl_cli.main import app

    out = tmp_path / "o.mp4"
    r = CliRunner().invoke(app, ["edit", str(edit_clips["0Fi83"]), "-e", "happy", "-o", str(out)])
    assert r.exit_code == 0, r.output
    said = " ".join(r.stdout.split())
    assert "faded on" in said and "turned too far" in said, said
    assert "eased out on" in said and "unsure of the mouth" in said, said
