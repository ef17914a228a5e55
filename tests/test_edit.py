"""`stccl edit` and `Editor` on real clips, and every kind of bad input."""

import gc
import subprocess

import numpy as np
import pytest
from typer.testing import CliRunner

from stccl import Editor
from stccl.edit.lanes import Frame
from stccl.edit.warp import load_expression_model, load_prototypes
from stccl.eval.landmarks import expression_shift
from stccl.eval.readback import intended_move
from stccl.face import track_video
from stccl.face.measures import expression
from stccl.video import VideoReader, ffmpeg_exe, probe, read_audio
from stccl.video.probe import read_tags
from stccl_cli.main import app

from edit_clips import edit_checked, sha

runner = CliRunner()

# the edit clips of the session (conftest.edit_clips) under the names these tests use
CLIPS = {"mead1080": "M003", "lrs3": "OzA6", "wild480": "d20", "wild512": "d12", "hd720": "s18"}

# Happy, sad, angry and surprised are read back on every shared clip in test_edit_readback.
# Here the other emotions, read by the tracker: the landmarks must move the way the edit asks
# (the target less what the face shows: labels are absolute).
OTHER_EMOTIONS = ("fear", "disgusted", "contempt")


def _ffmpeg(*args):
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", *map(str, args)], check=True)


@pytest.fixture(scope="module")
def clips(edit_clips):
    return {name: edit_clips[key] for name, key in CLIPS.items()}


@pytest.fixture(scope="module")
def editor(warp_editor):
    return warp_editor


@pytest.fixture(scope="module")
def tracked(clips):
    return {k: track_video(p)[0] for k, p in clips.items()}


def _assert_speech_kept(a, b):
    """Mouth-opening correlation >= 0.9; where the mouth barely moves (s18: std 0.002 IOD, so the
    correlation is noise), the opening itself must stay within 0.02 IOD instead."""
    ma, mb = expression(a)["mouth_opening"], expression(b)["mouth_opening"]
    ok = np.isfinite(ma) & np.isfinite(mb)
    ma, mb = ma[ok], mb[ok]
    if ma.std() < 0.01:
        assert np.abs(ma - mb).mean() < 0.02
    else:
        assert float(np.corrcoef(ma, mb)[0, 1]) >= 0.9


# measured with the same code (python -m pytest tests/test_edit.py -k moves -s prints the figures);
# strict: each must start failing when fixed
KNOWN_MISS: dict[tuple[str, str], str] = {}  # (d12, disgusted) until the tracker refit fast moves


def _cases():
    for emotion in OTHER_EMOTIONS:
        for key in CLIPS:
            why = KNOWN_MISS.get((key, emotion))
            marks = [pytest.mark.xfail(strict=True, reason=why)] if why else []
            yield pytest.param(key, emotion, marks=marks, id=f"{emotion}-{key}")


@pytest.mark.parametrize(("key", "emotion"), list(_cases()))
def test_edit_moves_expression_and_keeps_speech(key, emotion, clips, tracked, editor, tmp_path):
    out = tmp_path / f"{key}.{emotion}.mp4"
    s = edit_checked(editor, clips[key], emotion, out)
    assert s.edited_frames >= 0.9 * s.frames
    lin, lout = tracked[key], track_video(out)[0]
    move = intended_move(lin, load_prototypes()[emotion], load_expression_model())
    shift = expression_shift(lin, lout, move)
    print(f"\n{key} {emotion}: shown {s.shown_label}, ratio {shift['expr_shift_ratio']:.2f} cos {shift['expr_cos']:.2f}")
    _assert_speech_kept(lin, lout)
    assert shift["expr_cos"] > 0.2 and shift["expr_shift_ratio"] > 0.1, shift


def test_audio_and_background_kept(clips, editor, tmp_path):
    src = clips["hd720"]
    out = tmp_path / "o.mp4"
    editor.edit(src, emotion="happy", out=out)
    assert probe(out).audio_codec == probe(src).audio_codec
    a, b = read_audio(src), read_audio(out)
    n = min(len(a), len(b))
    assert n > 0.9 * len(a) and np.abs(a[:n] - b[:n]).mean() < 1e-3
    with VideoReader(src) as r1, VideoReader(out) as r2:
        f1, f2 = next(iter(r1))[0].astype(int), next(iter(r2))[0].astype(int)
    # away from the face (the left quarter of this landscape clip) only codec loss remains
    assert np.abs(f1[:, :200] - f2[:, :200]).mean() < 3.0


def test_intensity_zero_changes_nothing_but_codec(clips, editor, tmp_path):
    src = clips["wild480"]
    zero = editor.edit(src, emotion="happy", intensity=0.0, out=tmp_path / "z.mp4")
    assert zero.edited_frames == 0
    full = tmp_path / "f.mp4"
    editor.edit(src, emotion="happy", out=full)
    with VideoReader(src) as r0, VideoReader(tmp_path / "z.mp4") as r1, VideoReader(full) as r2:
        a, b, c = (next(iter(r))[4].astype(float) for r in (r0, r1, r2))
    assert np.abs(a - b).mean() < np.abs(a - c).mean()


def test_start_end_window_and_easing(clips, editor, tmp_path):
    src = clips["wild480"]  # 1.6 s = 40 frames
    s = editor.edit(src, emotion="surprised", start=0.4, end=1.2, out=tmp_path / "w.mp4")
    assert 0 < s.edited_frames <= 20
    lin, lout = track_video(src)[0], track_video(tmp_path / "w.mp4")[0]
    shift = expression(lout)["brow_raise"] - expression(lin)["brow_raise"]
    assert np.abs(shift[:8]).max() < 0.015 and np.abs(shift[-8:]).max() < 0.015  # untouched outside
    assert shift[18:22].mean() > 0.02  # edited inside
    assert np.abs(np.diff(shift)).max() < 0.5 * shift.max()  # eased, no pop


@pytest.mark.parametrize("face", [0, "all"])
def test_written_frames_are_freed_without_the_cycle_collector(clips, editor, tmp_path, face):
    """Memory flat in video length: a written frame is freed by reference counting alone. A
    frame kept alive by a reference cycle waits for Python's rare full collection, so its
    pixels pile up with the video's length (peak RSS 1.7x for a clip looped 10x, before the fix)."""
    gc.collect()
    gc.disable()
    try:
        editor.edit(clips["wild480"], emotion="happy", face=face, out=tmp_path / "e.mp4")
        left = [o for o in gc.get_objects() if type(o) is Frame]
    finally:
        gc.enable()
    assert left == []


def test_face_gap_passes_through(shared_data, editor, tmp_path):
    """Black frames in the middle: they pass unchanged, are counted, and nothing crashes."""
    src = tmp_path / "gap.mp4"
    _ffmpeg("-i", shared_data / "wild" / "d20.mp4", "-t", "3", "-vf",
            "drawbox=enable='between(t,0.8,1.8)':color=black:t=fill", "-c:v", "libx264",
            "-preset", "ultrafast", "-c:a", "copy", src)
    s = editor.edit(src, emotion="happy", out=tmp_path / "g.mp4")
    assert s.no_face_frames >= 8 and s.edited_frames >= 30
    assert s.frames == probe(src).frames


def test_python_api_default_output_and_overwrite(clips, tmp_path):
    import shutil

    src = tmp_path / "talk.mp4"
    shutil.copy(clips["lrs3"], src)
    ed = Editor()  # auto: no weights here -> warp, with a notice
    assert ed.engine.name == "warp" and "warp" in ed.notice
    assert ed.tracker == "mesh"  # auto, resolved before the tracker is built
    s = ed.edit(src, emotion="sad")
    assert s.output == str(tmp_path / "talk.sad.mp4")
    assert read_tags(s.output)["stccl_tracker"] == ed.backend.name == "mesh"  # the tracker that drove it
    from stccl.errors import InputError

    again = ed.edit(src, emotion="sad")  # the same edit again: its own output, kept (issue 33)
    assert again.done_before and again.output == s.output
    with pytest.raises(InputError, match="overwrite"):  # another edit's file at that name is not
        ed.edit(src, emotion="sad", intensity=0.5)
    ed.edit(src, emotion="sad", overwrite=True)


# ---- bad input: one line, non-zero exit, no traceback, input untouched ----

def _bad(args, tmp_path, match):
    r = runner.invoke(app, ["edit", *map(str, args)])
    assert r.exit_code == 1, r.output
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), r.stderr
    assert match in lines[0], lines[0]
    assert "Traceback" not in r.output
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".")], "temp file left behind"


def test_bad_inputs(tmp_path, clips):
    text = tmp_path / "notes.mp4"
    text.write_text("hello")
    _bad([text, "-e", "happy"], tmp_path, "notes.mp4")
    assert text.read_text() == "hello"

    audio = tmp_path / "voice.mp4"
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=300:duration=1", "-c:a", "aac", audio)
    _bad([audio, "-e", "happy"], tmp_path, "no video stream")

    empty = tmp_path / "empty.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x64:rate=25", "-frames:v", "0", "-c:v", "libx264", empty)
    _bad([empty, "-e", "happy"], tmp_path, "empty.mp4")

    noface = tmp_path / "noface.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "1", "-c:v", "libx264", noface)
    before = sha(noface)
    _bad([noface, "-e", "happy"], tmp_path, "no face")
    assert sha(noface) == before and not (tmp_path / "noface.happy.mp4").exists()

    _bad([clips["lrs3"], "-e", "joyful"], tmp_path, "unknown emotion")
    _bad([clips["lrs3"], "-e", "happy", "--out-dir", text / "sub"], tmp_path, "output folder")
    src = tmp_path / "same.mp4"
    src.write_bytes(clips["lrs3"].read_bytes())
    before = sha(src)
    _bad([src, "-e", "happy", "-o", src], tmp_path, "input")
    assert sha(src) == before
    _bad([tmp_path / "missing.mp4", "-e", "happy"], tmp_path, "not found")


def test_truncated_video_edits_readable_frames(shared_data, tmp_path, editor, caplog):
    full = tmp_path / "full.mp4"
    _ffmpeg("-i", shared_data / "wild" / "d20.mp4", "-t", "3", "-c", "copy", "-movflags", "+faststart", full)
    cut = tmp_path / "cut.mp4"
    data = full.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.6)])
    s = editor.edit(cut, emotion="happy", out=tmp_path / "cut.happy.mp4")
    # the readable frames are edited, and the last one repeats to the header's length, so the
    # video lasts as long as the audio it carries (counted in the summary)
    assert abs(s.frames - probe(full).frames) <= 1 and 0 < s.repeated_frames < s.frames
    assert s.edited_frames <= s.frames
    assert probe(tmp_path / "cut.happy.mp4").frames == s.frames
    assert any("decoded" in r.getMessage() for r in caplog.records)


def test_batch_folder_goes_on_after_a_failure(tmp_path, clips):
    d = tmp_path / "in"
    d.mkdir()
    (d / "a.mp4").write_bytes(clips["lrs3"].read_bytes())
    (d / "b.mp4").write_text("not a video")
    r = runner.invoke(app, ["edit", str(d), "-e", "happy", "--out-dir", str(tmp_path / "out")])
    assert r.exit_code == 1
    assert (tmp_path / "out" / "a.happy.mp4").is_file()
    assert "b.mp4" in r.stdout and "failed" in r.stdout  # the summary table
    # a rerun on the same folder ignores outputs named <stem>.<emotion>.mp4
    r = runner.invoke(app, ["edit", str(tmp_path / "out"), "-e", "sad"])
    assert "no video files" in r.stderr


def test_preview_png(tmp_path, clips):
    out = tmp_path / "p.mp4"
    r = runner.invoke(app, ["edit", str(clips["lrs3"]), "-e", "happy", "-o", str(out), "--preview"])
    assert r.exit_code == 0, r.output
    import cv2

    png = cv2.imread(str(out.with_suffix(".preview.png")))
    assert png is not None and png.shape[0] == 512


def test_neural_engine_end_to_end_and_auto_pick(clips, tmp_path, monkeypatch):
    from stccl.models.generator import Generator, GeneratorConfig
    from stccl.models.io import save_model

    cfg = GeneratorConfig(base_channels=8, n_res=1)
    (tmp_path / "weights").mkdir()
    save_model(Generator(cfg), cfg, tmp_path / "weights" / "generator.safetensors", kind="generator")
    monkeypatch.chdir(tmp_path)
    ed = Editor()  # auto finds ./weights/generator.safetensors
    assert ed.engine.name == "neural" and ed.notice is None
    s = ed.edit(clips["lrs3"], emotion="happy", out=tmp_path / "n.mp4")
    assert s.edited_frames == s.frames == probe(clips["lrs3"]).frames
    r = runner.invoke(app, ["edit", str(clips["lrs3"]), "-e", "sad", "--engine", "neural",
                            "--weights", str(tmp_path / "nope.safetensors")])
    assert r.exit_code == 1 and "not found" in r.stderr


def test_rotation_metadata_kept(clips, editor, tmp_path):
    """A phone-style clip: pixels stored turned, a display matrix that turns them upright."""
    turned = tmp_path / "turned.mp4"
    _ffmpeg("-i", clips["lrs3"], "-vf", "transpose=1", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "copy", turned)
    rotated = tmp_path / "phone.mp4"
    _ffmpeg("-display_rotation", "90", "-i", turned, "-c", "copy", rotated)
    info = probe(rotated)
    assert info.rotation in (90, 270)
    editor.edit(rotated, emotion="happy", out=tmp_path / "phone.happy.mp4")
    out = probe(tmp_path / "phone.happy.mp4")
    assert (out.rotation, out.width, out.height, out.frames) == (info.rotation, info.width, info.height, info.frames)
