"""Issue 16, outputs: nothing lost, nothing raced, audio kept in sync on damaged input, no
leftovers after a kill. Synthetic clips and one shared face clip (copied to tmp_path, never
into the repository)."""

import errno
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from stccl import fs
from stccl.errors import InputError, VideoError
from stccl.fs import OutputExists, claim, remove_stale_temps, temp_path
from stccl.video import VideoReader, VideoWriter, probe
from stccl.video.probe import ffmpeg_exe

FACE = "wild/OzA6jRYjVQs_00004.mp4"  # 224x224, 27 frames, a face on every frame


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *args], check=True, stdin=subprocess.DEVNULL)


def index_clip(path: Path, rate: int = 25, seconds: float = 2.0, vf: str = "") -> Path:
    """Frame n is grey level 4n (n < 64): a frame's content says which source frame it is."""
    chain = f"nullsrc=size=160x120:rate={rate},format=gray,geq=lum='N*4',format=yuv420p"
    ffmpeg("-f", "lavfi", "-i", chain, "-f", "lavfi", "-i", "sine=f=440:sample_rate=48000",
           "-t", str(seconds), *(["-vf", vf, "-fps_mode", "vfr"] if vf else []),
           "-c:v", "libx264", "-g", "10", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path))
    return path


def damage(src: Path, out: Path, nbytes: int = 2048, seed: int = 0) -> Path:
    """`nbytes` of random garbage over the middle of the file."""
    data = bytearray(src.read_bytes())
    mid = len(data) // 2
    data[mid:mid + nbytes] = np.random.default_rng(seed).integers(0, 256, nbytes, np.uint8).tobytes()
    out.write_bytes(bytes(data))
    return out


def indices(path: Path) -> tuple[list[float], VideoReader]:
    reader = VideoReader(path)
    return [float(f[40:80, 40:120].mean()) / 4 for chunk in reader for f in chunk], reader


def grey_frames(n: int, level: int) -> np.ndarray:
    return np.full((n, 48, 64, 3), level, np.uint8)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# --- 1. the output is claimed atomically -------------------------------------------------

def test_two_writers_to_one_output_leave_the_first_result(tmp_path):
    out = tmp_path / "out.mp4"
    a = VideoWriter(out, 25, 64, 48)
    b = VideoWriter(out, 25, 64, 48)  # both started before either finished
    a.write(grey_frames(5, 40))
    b.write(grey_frames(7, 200))
    a.close()
    with pytest.raises(OutputExists, match="created by someone else"):
        b.close()
    assert probe(out).frames == 5  # a's result, not replaced by b's
    assert leftovers(tmp_path) == []


def test_a_file_that_appears_during_the_run_is_kept(tmp_path):
    out = tmp_path / "out.mp4"
    w = VideoWriter(out, 25, 64, 48)
    w.write(grey_frames(3, 90))
    out.write_bytes(b"someone else's file")
    with pytest.raises(OutputExists):
        w.close()
    assert out.read_bytes() == b"someone else's file"
    assert leftovers(tmp_path) == []


def test_overwrite_replaces(tmp_path):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"old")
    with VideoWriter(out, 25, 64, 48, overwrite=True) as w:
        w.write(grey_frames(4, 90))
    assert probe(out).frames == 4


@pytest.mark.parametrize("taken", [False, True])
def test_claim_without_hard_links_uses_an_exclusive_placeholder(tmp_path, monkeypatch, taken):
    def no_links(*a, **k):
        raise OSError(errno.EPERM, "hard links not supported")

    monkeypatch.setattr(fs.os, "link", no_links)
    tmp, out = tmp_path / ".x.tmp", tmp_path / "x.bin"
    tmp.write_bytes(b"new")
    if taken:
        out.write_bytes(b"theirs")
        with pytest.raises(OutputExists):
            claim(tmp, out)
        assert out.read_bytes() == b"theirs"
    else:
        claim(tmp, out)
        assert out.read_bytes() == b"new"
    assert not tmp.exists()


def test_atomic_text_write_without_overwrite_keeps_an_existing_file(tmp_path):
    path = tmp_path / "r.json"
    path.write_text("earlier")
    with pytest.raises(OutputExists):
        fs.write_text_atomic(path, "later", overwrite=False)
    assert path.read_text() == "earlier"
    assert leftovers(tmp_path) == []


# --- 2. audio and video stay in sync ---------------------------------------------------

def test_garbage_mid_file_repeats_frames_and_stays_in_sync(tmp_path, caplog):
    clean = index_clip(tmp_path / "clean.mp4")
    bad = damage(clean, tmp_path / "bad.mp4")
    with caplog.at_level(logging.WARNING, logger="stccl.video"):
        got, reader = indices(bad)
    assert len(got) == 50  # 2.0 s at 25 fps, as the audio
    assert reader.frames_repeated > 0
    assert "repeated" in caplog.text
    assert all(abs(v - k) < 0.5 for k, v in enumerate(got[:25]))  # before the damage: exact
    # after the next key frame the picture is the one of its time again (within one frame),
    # where packing the decoded frames would put it up to the missing count ahead of the audio
    assert all(abs(v - k) <= 1.25 for k, v in list(enumerate(got))[-8:])


def test_variable_frame_rate_is_read_at_its_base_rate_on_its_timestamps(tmp_path, caplog):
    # 30 fps for 1 s, then every other frame: 15 fps
    vfr = index_clip(tmp_path / "vfr.mp4", rate=30, seconds=2.0, vf="select='lt(t,1)+not(mod(n,2))'")
    info = probe(vfr)
    assert info.variable and info.fps == 30
    with caplog.at_level(logging.WARNING, logger="stccl.video"):
        got, reader = indices(vfr)
    assert "variable frame rate" in caplog.text
    assert abs(len(got) - 60) <= 1
    assert reader.frames_repeated >= 14
    # slot k shows source frame k, or a neighbour where the source has no frame k (ffmpeg's
    # constant rate rounds to the nearest); packed frames would drift up to 15 frames ahead
    assert all(abs(k - v) <= 1.25 for k, v in enumerate(got))


def test_constant_rate_input_is_read_unchanged(tmp_path, caplog):
    clean = index_clip(tmp_path / "clean.mp4")
    with caplog.at_level(logging.WARNING, logger="stccl.video"):
        got, reader = indices(clean)
    assert len(got) == 50 and reader.frames_repeated == reader.frames_dropped == 0
    assert all(abs(v - k) < 0.5 for k, v in enumerate(got))
    assert caplog.text == ""


def test_video_shorter_than_its_header_is_said(tmp_path, caplog):
    short = tmp_path / "short.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=1", "-f", "lavfi",
           "-i", "sine=f=440:sample_rate=48000:duration=2", "-c:v", "libx264", "-c:a", "aac", str(short))
    with caplog.at_level(logging.WARNING, logger="stccl.video"):
        got, _ = indices(short)
    assert len(got) == 25
    assert "header says 2.00 s but the video decodes to 1.00 s" in caplog.text


def test_edit_status_names_what_the_read_worked_around():
    from stccl.edit.pipeline import EditSummary
    from stccl_cli.edit import _status

    s = EditSummary("a.mp4", "b.mp4", "warp", "happy", 1.0, frames=50, expected_frames=50,
                    header_seconds=2.0, frame_rate=25.0)
    assert _status(s) == "ok"
    s.repeated_frames = 9
    assert "9 frames repeated" in _status(s)
    s = EditSummary("a.mp4", "b.mp4", "warp", "happy", 1.0, frames=110, expected_frames=110,
                    header_seconds=6.28, frame_rate=25.0)
    assert "4.40 of 6.28 s decoded" in _status(s)


# --- 3. output containers, full disk ---------------------------------------------------

@pytest.mark.parametrize("suffix,codec", [(".mp4", "h264"), (".mov", "h264"), (".mkv", "h264"),
                                          (".webm", "vp9")])
def test_each_container_gets_a_codec_it_holds(tmp_path, suffix, codec):
    src = index_clip(tmp_path / "src.mp4", seconds=0.4)
    out = tmp_path / f"out{suffix}"
    with VideoWriter(out, 25, 160, 120, audio_from=src) as w:
        w.write(np.stack(list(VideoReader(src).frames())))
    info = probe(out)
    assert info.codec == codec and info.frames == 10 and info.has_audio
    assert info.audio_codec == ("opus" if suffix == ".webm" else "aac")


def test_an_output_container_we_cannot_write_is_refused_before_any_work(tmp_path):
    with pytest.raises(InputError, match=r"cannot write \.gif videos; use \.mp4"):
        VideoWriter(tmp_path / "out.gif", 25, 64, 48)
    assert list(tmp_path.iterdir()) == []


FULL_DISK = r"""
import sys, numpy as np
from stccl.errors import VideoError
from stccl.video import VideoWriter
w = VideoWriter(sys.argv[1], 25, 320, 240, crf=0, preset="ultrafast")
try:
    for _ in range(200):
        w.write(np.random.default_rng(0).integers(0, 256, (5, 240, 320, 3), np.uint8))
    w.close()
except VideoError as e:
    print(e)
"""


def test_a_full_disk_is_said_as_such(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare to mount a small tmpfs")
    script = (f"mount -t tmpfs -o size=300k tmpfs {mnt} && cd {Path.cwd()} && "
              f"{sys.executable} -c '{FULL_DISK}' {mnt}/out.mp4; ls -A {mnt}")
    r = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True)
    if "mount" in r.stderr and "tmpfs" not in r.stdout:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    lines = r.stdout.strip().splitlines()
    assert "the disk is full" in lines[0], r.stdout + r.stderr
    assert lines[1:] == []  # no temp file and no output left on the full disk


# --- 4. leftovers of dead runs ---------------------------------------------------------

def test_stale_temps_of_dead_runs_go_and_a_live_runs_stay(tmp_path):
    out = tmp_path / "talk.happy.mp4"
    dead = out.with_name(f".{out.name}.tmp-{fs.HOST}-{dead_pid()}-0123abcd.mp4")
    live_proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        live = out.with_name(f".{out.name}.tmp-{fs.HOST}-{live_proc.pid}-0123abcd.mp4")
        other = out.with_name(f".other.mp4.tmp-{fs.HOST}-{dead_pid()}-0123abcd.mp4")
        elsewhere = out.with_name(f".{out.name}.tmp-otherhost-{dead_pid()}-0123abcd.mp4")
        for p in (dead, live, other, elsewhere):
            p.write_bytes(b"partial")
        assert remove_stale_temps(tmp_path, [out.name]) == [dead]
        assert live.exists() and other.exists() and elsewhere.exists()
        with VideoWriter(out, 25, 64, 48) as w:  # a writer cleans up every dead temp of this
            w.write(grey_frames(2, 9))          # host in its folder, whatever output (issue 33)
        assert sorted(leftovers(tmp_path)) == sorted([live.name, elsewhere.name])
    finally:
        live_proc.kill()
        live_proc.wait()


def test_temp_names_carry_host_and_pid():
    name = temp_path(Path("a/talk.mp4")).name
    assert name.startswith(f".talk.mp4.tmp-{fs.HOST}-{os.getpid()}-") and name.endswith(".mp4")
    assert fs._TEMP.match(name)


@pytest.fixture()
def long_face(shared_data, tmp_path) -> Path:
    """The shared face clip looped to ~11 s, so a run can be killed half way."""
    out = tmp_path / "talk.mp4"
    ffmpeg("-stream_loop", "9", "-i", str(shared_data / FACE), "-c", "copy", str(out))
    return out


def _start_edit(src: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "stccl_cli", "edit", str(src), "-e", "happy", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_temp(folder: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    t0 = time.monotonic()
    while not leftovers(folder):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < timeout, "the run never started writing"
        time.sleep(0.05)
    time.sleep(0.3)  # well inside the run: it takes several seconds on this clip


def test_sigterm_cleans_up_like_ctrl_c(long_face):
    proc = _start_edit(long_face)
    _wait_for_temp(long_face.parent, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    assert err.strip().splitlines() == ["error: stopped by SIGTERM; unfinished outputs were removed"]
    assert sorted(p.name for p in long_face.parent.iterdir()) == ["talk.mp4"]


def test_a_rerun_after_kill_9_leaves_only_the_output(long_face):
    folder = long_face.parent
    proc = _start_edit(long_face)
    _wait_for_temp(folder, proc)
    proc.kill()
    proc.wait()
    assert leftovers(folder)  # the partial temp file of the killed run
    rerun = _start_edit(long_face)
    _, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert sorted(p.name for p in folder.iterdir()) == ["talk.happy.mp4", "talk.mp4"]


def test_two_concurrent_edits_to_one_output_leave_one_result(shared_data, tmp_path):
    src = tmp_path / "face.mp4"
    shutil.copy(shared_data / FACE, src)
    out = tmp_path / "out.mp4"
    a = _start_edit(src, "-o", str(out))
    b = _start_edit(src, "-o", str(out))
    results = [(p.wait(timeout=300), p.communicate()[1]) for p in (a, b)]
    codes = sorted(rc for rc, _ in results)
    assert codes == [0, 1], results
    err = next(e for rc, e in results if rc == 1).strip().splitlines()
    assert len(err) == 1 and "out.mp4" in err[0] and "Traceback" not in err[0]
    assert probe(out).frames == 27
    assert sorted(p.name for p in tmp_path.iterdir()) == ["face.mp4", "out.mp4"]


def test_a_damaged_face_clip_is_edited_in_sync(long_face, tmp_path):
    bad = damage(long_face, tmp_path / "bad.mp4", nbytes=8192, seed=1)
    info = probe(bad)
    out = tmp_path / "bad.happy.mp4"
    r = subprocess.run([sys.executable, "-m", "stccl_cli", "edit", str(bad), "-e", "happy"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    edited = probe(out)
    # the whole clip's time in frames, so the copied audio lines up; the summary says how
    assert abs(edited.frames - round(info.duration * info.fps)) <= 1
    assert "repeated" in r.stdout + r.stderr


def test_video_error_for_a_missing_writer_folder_is_one_line(tmp_path):
    with pytest.raises((InputError, VideoError), match="does not exist"):
        VideoWriter(tmp_path / "no" / "out.mp4", 25, 64, 48)


# --- 5. no command replaces a file it did not create without --overwrite -----------------

def test_inspect_keeps_an_existing_output(tmp_path):
    from typer.testing import CliRunner

    from stccl_cli.main import app

    import cv2

    img = tmp_path / "face.png"
    cv2.imwrite(str(img), np.full((64, 64, 3), 128, np.uint8))
    out = tmp_path / "corr.png"
    out.write_bytes(b"earlier picture")
    r = CliRunner().invoke(app, ["inspect", str(img), "-o", str(out)])
    assert r.exit_code == 1 and "exists; pass --overwrite" in r.output
    assert out.read_bytes() == b"earlier picture"


def test_eval_protocol_keeps_an_earlier_runs_reports(tmp_path):
    from stccl.eval.protocol import run_protocol

    (tmp_path / "eval.json").write_text("{}")
    with pytest.raises(InputError, match="already holds eval.json"):
        run_protocol(tmp_path / "no-data", tmp_path)
    assert (tmp_path / "eval.json").read_text() == "{}"


def test_edit_preview_keeps_an_existing_picture_and_refuses_before_the_edit(shared_data, tmp_path):
    src = tmp_path / "face.mp4"
    shutil.copy(shared_data / FACE, src)
    png = tmp_path / "face.happy.preview.png"
    png.write_bytes(b"earlier")
    r = subprocess.run([sys.executable, "-m", "stccl_cli", "edit", str(src), "-e", "happy", "--preview"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "face.happy.preview.png exists" in r.stderr
    assert png.read_bytes() == b"earlier"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["face.happy.preview.png", "face.mp4"]
