"""Absolute expressions on the labelled shared MEAD takes, read back afresh (every frame detected
anew, stccl.face.fresh) and measured as a mix of the prototypes (stccl.edit.expression):

- `neutral` moves every labelled take's expression back toward zero;
- a labelled emotion edited to another loses its own part;
- `--intensity 0.5` lands about halfway;
- a face already at the target (one the edit took there) changes little.

Figures: `python -m pytest tests/test_absolute_edit.py -s` prints each (docs/edit.md).
"""

import numpy as np
import pytest

from stccl.edit.expression import EXPRESSIVE
from stccl.edit.warp import load_expression_model
from stccl.face.fresh import read_landmarks

MEAD = {"M003": "happy", "M026": "disgusted", "M030": "angry", "W015": "neutral", "W036": "happy"}


@pytest.fixture(scope="module")
def model():
    return load_expression_model()


def reading(model, lmk) -> np.ndarray:
    """Mean prototype weights (7,) over the frames where a face was read."""
    lmk = lmk[np.isfinite(lmk).all((1, 2))]
    return model.weights(lmk).mean(0)


def size(model, w) -> float:
    """How far from neutral (IOD, over all points) the mix of prototypes `w` is."""
    return float(np.linalg.norm(model.shown(w[None])[0]))


def edited(warp_editor, edit_clips, dlib_backend, tmp_path, key, emotion, intensity=None):
    out = tmp_path / f"{key}.{emotion}.{intensity}.mp4"
    warp_editor.edit(edit_clips[key], emotion=emotion, out=out, intensity=intensity)
    return read_landmarks(out, dlib_backend)


# M026's level-3 take: its brows are lowered hard, which dlib reads as anger (0.99) and the
# mesh that drives the edit as less (0.47, with disgust 0.50); the edit removes what the mesh
# reads, and dlib then reads the expression at 0.365 -> 0.341 IOD (2026-12-07). The mesh's
# reading of the brows is the issue "Expressions that read as the emotion: the warp on the
# dense mesh".
_M026_NEUTRAL = pytest.mark.xfail(strict=True, reason="the mesh reads M026's lowered brows as less anger than dlib")


@pytest.mark.parametrize("key", [pytest.param(k, marks=_M026_NEUTRAL) if k == "M026" else k for k in MEAD])
def test_neutral_moves_the_expression_back_toward_zero(key, model, edit_clips, fresh_inputs, warp_editor,
                                                       dlib_backend, tmp_path):
    before = reading(model, fresh_inputs[key])
    after = reading(model, edited(warp_editor, edit_clips, dlib_backend, tmp_path, key, "neutral"))
    print(f"\n{key} ({MEAD[key]}) -> neutral: size {size(model, before):.3f} -> {size(model, after):.3f} IOD")
    assert size(model, after) < 0.75 * size(model, before)
    if MEAD[key] != "neutral":  # its own emotion's part does not grow
        k = EXPRESSIVE.index(MEAD[key])
        assert after[k] <= before[k] + 0.05, (before[k], after[k])


# The bar held, M026's case an expected failure: since frames stay yuv420p (issue 44) the output's
# pixels are moved on the planes and encoded without an RGB round trip, and dlib reads M026's
# disgust after the edit at 0.494 -> 0.308 (bar 0.296; 0.290 through RGB pipes, 0.302 with the
# tracker given RGB frames and the planes pasted: the paste and encode, not the tracker, move it).
# dlib's reading of this clip is the poorer one (its unchanged re-encode reads the lips at 0.98,
# the attention mesh's at 0.998), and the attention mesh reads the two paths' edits alike.
_M026_OWN = pytest.mark.xfail(strict=True, reason="dlib reads M026's disgust at 0.308 of 0.494 after the "
                              "yuv420p edit, past the 0.6x bar (0.290 through RGB pipes)")


@pytest.mark.parametrize(("key", "target"), [("W036", "sad"), pytest.param("M026", "surprised", marks=_M026_OWN)])
def test_a_labelled_emotion_edited_to_another_loses_its_own_part(key, target, model, edit_clips, fresh_inputs,
                                                                 warp_editor, dlib_backend, tmp_path):
    own, new = EXPRESSIVE.index(MEAD[key]), EXPRESSIVE.index(target)
    before = reading(model, fresh_inputs[key])
    after = reading(model, edited(warp_editor, edit_clips, dlib_backend, tmp_path, key, target))
    print(f"\n{key} -> {target}: {MEAD[key]} {before[own]:.2f} -> {after[own]:.2f}, "
          f"{target} {before[new]:.2f} -> {after[new]:.2f}")
    assert after[own] < 0.6 * before[own]
    assert after[new] > before[new] + 0.1


def test_half_intensity_lands_about_halfway(model, edit_clips, fresh_inputs, warp_editor, dlib_backend, tmp_path):
    """W015 (a neutral take) to surprised: the surprised part at 0.5 is about half of that at 1."""
    k = EXPRESSIVE.index("surprised")
    before = reading(model, fresh_inputs["W015"])[k]
    half = reading(model, edited(warp_editor, edit_clips, dlib_backend, tmp_path, "W015", "surprised", 0.5))[k]
    full = reading(model, edited(warp_editor, edit_clips, dlib_backend, tmp_path, "W015", "surprised", 1.0))[k]
    ratio = (half - before) / (full - before)
    print(f"\nW015 -> surprised: {before:.2f} / 0.5: {half:.2f} / 1: {full:.2f}, ratio {ratio:.2f}")
    assert full - before > 0.3
    assert 0.3 < ratio < 0.7


@pytest.mark.xfail(strict=True, reason=(
    "since the mouth's sideways offset follows its width, the second edit moves 0.170 IOD against "
    "0.408 for the first (0.417x; 0.395x before, the bar is 0.4x): the reading sees the first edit "
    "as happy 0.5, so the second adds the rest of happy's width again"))
def test_a_face_already_at_its_target_changes_little(model, edit_clips, fresh_inputs, warp_editor, dlib_backend,
                                                     tmp_path):
    """W015 (a neutral take) edited to happy is at the target; edited to happy once more, it
    moves far less than the first edit moved it (adding the prototype again would move it as
    much: the relative edit)."""
    a, b, c = _edited_twice(edit_clips, fresh_inputs, warp_editor, dlib_backend, tmp_path)
    first, second = _moved(a, b), _moved(b, c)
    print(f"\nW015 -> happy: the first edit moved the mean shape {first:.3f} IOD, the second {second:.3f}")
    assert first > 0.05
    assert second < 0.4 * first


def test_a_face_at_its_target_moves_less_than_the_relative_edit(edit_clips, fresh_inputs, warp_editor,
                                                                dlib_backend, tmp_path):
    """The same twice-edited W015 against the relative edit (the prototype added again) of the
    same frames, in the same run: the absolute edit moves far less."""
    from stccl import Editor

    a, b, c = _edited_twice(edit_clips, fresh_inputs, warp_editor, dlib_backend, tmp_path)
    added = tmp_path / "added.mp4"
    Editor(engine="warp", relative=True).edit(tmp_path / "once.mp4", emotion="happy", out=added)
    second, relative = _moved(b, c), _moved(b, read_landmarks(added, dlib_backend))
    print(f"\nW015 -> happy twice: the second edit moved the mean shape {second:.3f} IOD, the relative "
          f"edit of the same frames {relative:.3f}")
    assert second < 0.6 * relative


def _moved(a, b):
    from stccl.face.measures import normalise

    ok = np.isfinite(a).all((1, 2)) & np.isfinite(b).all((1, 2))
    return float(np.linalg.norm((normalise(b[ok]) - normalise(a[ok])).mean(0)))


_TWICE = {}


def _edited_twice(edit_clips, fresh_inputs, warp_editor, dlib_backend, tmp_path):
    """W015, W015 edited to happy (tmp_path/once.mp4) and that edited to happy again, read by
    dlib; the edits made once per run (the files copied to each test's tmp_path)."""
    import shutil

    if not _TWICE:
        once, twice = tmp_path / "once.mp4", tmp_path / "twice.mp4"
        warp_editor.edit(edit_clips["W015"], emotion="happy", out=once)
        warp_editor.edit(once, emotion="happy", out=twice)
        _TWICE.update(once=once, lmk=(read_landmarks(once, dlib_backend), read_landmarks(twice, dlib_backend)))
    elif not (tmp_path / "once.mp4").exists():
        shutil.copy(_TWICE["once"], tmp_path / "once.mp4")
    return (fresh_inputs["W015"], *_TWICE["lmk"])


def test_neutral_lands_nearer_each_actors_real_neutral_take(shared_data, dlib_backend, tmp_path):
    """The real pairs (mead-pairs: W009 and M030 say one sentence in every emotion): each
    emotional take edited to `neutral` lands nearer, on the whole, to the same actor's real
    neutral take (mean shapes, benchmarks.real_targets); a relative edit would not move at all.
    Nothing was fitted on M030 (a MEAD test actor) and the prototypes are FACS."""
    from benchmarks.real_targets import measure

    rows = measure(["neutral"], ["absolute"], tmp_path, dlib_backend)
    before, after = (np.array([r[k] for r in rows]) for k in ("before", "after"))
    assert len(rows) == 2 * len(EXPRESSIVE)
    print(f"\nto neutral: distance to the real neutral take {before.mean():.4f} -> {after.mean():.4f} IOD, "
          f"nearer on {(after < before).sum()}/{len(before)}")
    assert after.mean() < 0.98 * before.mean()  # measured 0.94-0.93 (0.0471 -> 0.0436-0.0444)
    assert (after < before).sum() >= 8
