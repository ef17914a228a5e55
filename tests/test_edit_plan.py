"""Issue 18 on the shared clips: an emotion plan judged per segment, regions left untouched as a
fresh reader sees them, the before/after video, codecs, colour metadata and the edited tag."""

import subprocess

import numpy as np
import pytest

from edit_clips import edit_checked
from stccl import Editor
from stccl.edit.warp import load_expression_model, load_prototypes
from stccl.errors import InputError
from stccl.eval.landmarks import expression_shift, normalise
from stccl.eval.readback import intended_move, lip_figures, lips_kept
from stccl.face.fresh import read_landmarks
from stccl.video import VideoReader, probe
from stccl.video.probe import ffmpeg_exe

pytestmark = [pytest.mark.shared, pytest.mark.slow]
MODEL = load_expression_model()
PROTOS = load_prototypes()
CORNERS, BROWS = [48, 54], list(range(17, 27))


def _cos(a, b, emotion):
    return expression_shift(a, b, intended_move(a, PROTOS[emotion], MODEL))["expr_cos"]


def test_a_plan_moves_each_segment_toward_its_own_emotion(edit_clips, fresh_inputs, dlib_backend, tmp_path):
    src, a = edit_clips["W015"], fresh_inputs["W015"]  # a neutral take, 40 frames
    fps = probe(src).fps
    s = edit_checked(Editor(engine="warp"), src, "happy@0-0.8,sad@0.8-", tmp_path / "w.plan.mp4")
    assert s.emotion == "happy@0-0.8,sad@0.8-" and s.edited_frames == s.frames
    b = read_landmarks(tmp_path / "w.plan.mp4", dlib_backend)
    cut = round(0.8 * fps)
    first, second = slice(0, cut), slice(cut, len(a))
    happy_1, sad_1 = _cos(a[first], b[first], "happy"), _cos(a[first], b[first], "sad")
    happy_2, sad_2 = _cos(a[second], b[second], "happy"), _cos(a[second], b[second], "sad")
    assert happy_1 > 0.2 and happy_1 > sad_1, (happy_1, sad_1)
    assert sad_2 > 0.2 and sad_2 > happy_2, (happy_2, sad_2)
    assert lips_kept(lip_figures(a, b)), lip_figures(a, b)


def test_outside_every_segment_the_face_is_untouched(edit_clips, tmp_path):
    src = edit_clips["d20"]  # 480², 40 frames
    fps = probe(src).fps
    s = Editor(engine="warp").edit(src, emotion="happy:0.8@0.4-1.2", out=tmp_path / "w.mp4")
    assert s.edited_frames == round(1.2 * fps) - round(0.4 * fps)  # only the segment's frames
    zero = Editor(engine="warp").edit(src, emotion="happy", intensity=0.0, out=tmp_path / "z.mp4")
    assert zero.edited_frames == 0
    with VideoReader(src) as r0, VideoReader(tmp_path / "w.mp4") as r1, VideoReader(tmp_path / "z.mp4") as r2:
        source, plan, still = (np.concatenate(list(r)).astype(int) for r in (r0, r1, r2))
    # frames outside the segment are as far from the input as an edit that changed nothing
    # (both are re-encodes; x264 looks ahead, so frames near edited ones shift by a level or so)
    for outside in (slice(0, round(0.4 * fps)), slice(round(1.2 * fps), None)):
        off_plan, off_still = np.abs(plan[outside] - source[outside]).mean(), np.abs(still[outside] - source[outside]).mean()
        assert off_plan < 1.05 * off_still + 0.05, (off_plan, off_still)
    inside = slice(round(0.6 * fps), round(1.0 * fps))
    assert np.abs(plan[inside] - still[inside]).max() > 20  # the edit is there
    assert np.abs(plan[inside] - source[inside]).mean() > 1.05 * np.abs(still[inside] - source[inside]).mean() + 0.05


def _moved(a, b, points):
    """Mean |normalised displacement| (IOD) of `points` between two fresh readings."""
    ok = np.isfinite(a).all((1, 2)) & np.isfinite(b).all((1, 2))
    d = normalise(b[ok]) - normalise(a[ok])
    return float(np.linalg.norm(d[:, points], axis=-1).mean())


@pytest.mark.parametrize("emotion, regions, still", [("happy", "upper", CORNERS), ("surprised", "lower", BROWS)])
def test_regions_leave_the_rest_of_the_face_as_it_was(edit_clips, fresh_inputs, dlib_backend, tmp_path,
                                                      emotion, regions, still):
    src, a = edit_clips["W015"], fresh_inputs["W015"]
    full = read_landmarks(Editor(engine="warp").edit(src, emotion, tmp_path / "f.mp4").output, dlib_backend)
    part = read_landmarks(Editor(engine="warp").edit(src, emotion, tmp_path / "p.mp4", regions=regions).output,
                          dlib_backend)
    floor = read_landmarks(Editor(engine="warp").edit(src, emotion, tmp_path / "z.mp4", intensity=0.0).output,
                           dlib_backend)  # the reader's own noise on a re-encode
    moved_full, moved_part, noise = _moved(a, full, still), _moved(a, part, still), _moved(a, floor, still)
    assert moved_full > noise + 0.02, (moved_full, noise)  # the whole-face edit does move them
    assert moved_part < noise + 0.25 * (moved_full - noise), (moved_part, moved_full, noise)
    assert lips_kept(lip_figures(a, part)), lip_figures(a, part)


def test_the_compare_video_holds_input_and_output_side_by_side(edit_clips, tmp_path):
    src = edit_clips["d20"]  # 480², with audio
    out = tmp_path / "d20.happy.mp4"
    s = Editor(engine="warp").edit(src, "happy", out, compare=True)
    side = tmp_path / "d20.happy.compare.mp4"
    assert s.compare == str(side)
    i, c = probe(src), probe(side)
    assert (c.width, c.height) == (2 * i.width, i.height)
    assert c.frames == i.frames and c.fps == pytest.approx(i.fps) and c.has_audio
    assert c.duration == pytest.approx(i.duration, abs=2 / i.fps)
    with VideoReader(src) as r0, VideoReader(out) as r1, VideoReader(side) as r2:
        f_in, f_out, f_cmp = (np.concatenate(list(r)).astype(np.float32) for r in (r0, r1, r2))
    label = slice(round(0.15 * i.height), None)  # below the labels
    k = i.frames // 2
    left, right = f_cmp[k, label, : i.width], f_cmp[k, label, i.width :]
    assert np.abs(left - f_in[k, label]).mean() < 3 and np.abs(right - f_out[k, label]).mean() < 3
    assert np.abs(left - right).max() > 20  # the two halves differ where the face changed
    taken = tmp_path / "x.happy.compare.mp4"  # a comparison is never replaced without --overwrite
    taken.write_bytes(b"someone's file")
    with pytest.raises(InputError, match="exists"):
        Editor(engine="warp").edit(src, "happy", tmp_path / "x.happy.mp4", compare=True)
    assert taken.read_bytes() == b"someone's file" and not (tmp_path / "x.happy.mp4").exists()


def _tags(path) -> str:
    r = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    return r.stderr


@pytest.mark.parametrize("codec, ext, name, pix", [("h264", ".mp4", "h264", "yuv420p"),
                                                   ("h265", ".mp4", "hevc", "yuv420p"),
                                                   ("prores", ".mov", "prores", "yuv422p10le"),
                                                   ("ffv1", ".mkv", "ffv1", "yuv420p")])
def test_codecs_keep_colour_tags_and_mark_the_edit(edit_clips, tmp_path, codec, ext, name, pix):
    src = edit_clips["d12"]  # tagged tv, smpte170m matrix and primaries, bt709 transfer
    i = probe(src)
    assert (i.colour.range, i.colour.space, i.colour.primaries, i.colour.transfer) == \
        ("tv", "smpte170m", "smpte170m", "bt709")
    out = tmp_path / f"d12{ext}"
    Editor(engine="warp", codec=codec, crf=20).edit(src, "sad", out)
    o = probe(out)
    assert (o.codec, o.pix_fmt, o.frames, o.has_audio) == (name, pix, i.frames, True)
    assert (o.colour.range, o.colour.space, o.colour.primaries, o.colour.transfer) == \
        ("tv", "smpte170m", "smpte170m", "bt709")
    text = _tags(out)
    assert "manipulated by stccl" in text and "emotion sad, engine warp" in text


def test_a_deep_input_stays_deep_where_the_codec_allows(edit_clips, tmp_path):
    src = tmp_path / "deep.mkv"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(edit_clips["d20"]), "-c:v", "ffv1",
                    "-pix_fmt", "yuv420p10le", "-c:a", "copy", str(src)], check=True)
    assert probe(src).colour.depth == 10
    for codec, depth in (("ffv1", 10), ("h264", 8)):
        out = tmp_path / f"out_{codec}.mkv"
        Editor(engine="warp", codec=codec).edit(src, "happy", out)
        assert probe(out).colour.depth == depth, codec
