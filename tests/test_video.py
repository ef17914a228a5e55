import hashlib
import logging
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from stccl.errors import InputError, VideoError
from stccl.video import VideoReader, VideoWriter, ffmpeg_exe, fps_rational, probe, read_audio

TESTSRC = ["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25"]
SINE = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
H264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]


def ffmpeg(*args) -> None:
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *map(str, args)]
    subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_all(path, **kw) -> np.ndarray:
    with VideoReader(path, **kw) as reader:
        return np.concatenate(list(reader))


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("clip") / "clip.mp4"
    ffmpeg(*TESTSRC, *SINE, "-t", 2, *H264, "-c:a", "aac", out)
    return out


@pytest.fixture(scope="module")
def clip_hash(clip) -> str:
    return sha256(clip)


@pytest.fixture(scope="module")
def silent(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("silent") / "silent.mp4"
    ffmpeg(*TESTSRC, "-t", 1, *H264, out)
    return out


def test_probe_mead_clip(shared_data):
    info = probe(next(iter(sorted((shared_data / "mead").glob("*.mp4")))))
    assert (info.width, info.height, info.fps, info.rotation) == (1920, 1080, 25.0, 0)
    assert info.has_audio and info.audio_codec == "aac" and info.codec == "h264"
    assert abs(info.frames - 25 * info.duration) <= 1


def test_probe_wild_30fps(shared_data):
    info = probe(shared_data / "wild" / "s18.mp4")
    assert (info.width, info.height, info.fps) == (1280, 720, 30.0)
    assert abs(info.frames - 30 * info.duration) <= 1


def test_reader_decodes_every_frame_of_a_real_crop(shared_data):
    path = shared_data / "mead-crops" / "happy.mp4"
    frames = read_all(path, chunk=32)
    assert frames.shape == (probe(path).frames, 256, 256, 3)


def test_probe_synthetic(clip):
    info = probe(clip)
    assert (info.width, info.height, info.fps, info.frames) == (160, 120, 25.0, 50)
    assert info.has_audio and info.audio_codec == "aac" and info.codec == "h264"
    assert info.duration == pytest.approx(2.0, abs=0.1)
    assert not info.damaged and info.expected_frames == 50


def test_reader_streams_in_chunks(clip):
    with VideoReader(clip, chunk=7) as reader:
        chunks = list(reader)
    assert [len(c) for c in chunks] == [7] * 7 + [1]
    assert all(c.dtype == np.uint8 and c.shape[1:] == (120, 160, 3) for c in chunks)
    assert reader.frames_read == 50
    single = list(VideoReader(clip).frames())
    assert len(single) == 50 and single[0].shape == (120, 160, 3)
    assert np.array_equal(single[8], chunks[1][1])


def test_reader_runs_once(clip):
    reader = VideoReader(clip)
    list(reader)
    with pytest.raises(RuntimeError):
        list(reader)


def test_abandoned_reader_kills_ffmpeg(clip):
    reader = VideoReader(clip, chunk=4)
    for _chunk in reader:
        proc = reader._proc
        break
    assert proc.poll() is not None
    assert reader._proc is None and reader.frames_read == 4


def test_rgb_channel_order(tmp_path):
    red = tmp_path / "red.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=red:size=64x48:rate=25", "-t", 0.2, *H264, red)
    frames = read_all(red)
    assert frames[..., 0].mean() > 200
    assert frames[..., 1].mean() < 40 and frames[..., 2].mean() < 40


def test_no_audio(silent, tmp_path):
    info = probe(silent)
    assert not info.has_audio and info.audio_codec is None
    assert read_audio(silent) is None
    out = tmp_path / "out.mp4"
    frames = read_all(silent)
    with VideoWriter(out, info.fps, info.width, info.height, audio_from=silent) as writer:
        writer.write(frames)
    result = probe(out)
    assert not result.has_audio and result.frames == info.frames


def test_truncated_file_warns(tmp_path, caplog):
    full = tmp_path / "full.mp4"
    ffmpeg(*TESTSRC, *SINE, "-t", 4, *H264, "-c:a", "aac", "-movflags", "+faststart", full)
    cut = tmp_path / "cut.mp4"
    data = full.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.6)])
    with caplog.at_level(logging.WARNING, logger="stccl.video"):
        short = read_all(cut)
    assert 0 < len(short) < 100
    assert f"cut.mp4: decoded {len(short)} of 100 frames" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="stccl.video"):
        frames = read_all(cut, pad_end=True)
    # the 4 s the header promises, the frames past the damage repeating the last good one
    assert len(frames) == 100
    m = re.search(r"cut.mp4: decoded (\d+) of 100 frames .* repeated (\d+) time", caplog.text)
    good, repeated = int(m[1]), int(m[2])
    assert 0 < good < 100 and good + repeated == 100
    assert all(np.array_equal(f, frames[good - 1]) for f in frames[good:])


def test_text_file_is_not_a_video(tmp_path):
    fake = tmp_path / "notes.mp4"
    fake.write_text("these are not frames\n")
    with pytest.raises(VideoError, match="notes.mp4"):
        probe(fake)
    with pytest.raises(VideoError, match="notes.mp4"):
        VideoReader(fake)


def test_audio_only_file(tmp_path):
    for name in ("voice.m4a", "voice.mp4"):
        path = tmp_path / name
        ffmpeg(*SINE, "-t", 0.5, "-c:a", "aac", path)
        with pytest.raises(VideoError, match=f"{name}: no video stream"):
            probe(path)


def test_missing_file(tmp_path):
    with pytest.raises((VideoError, InputError), match="nothere.mp4"):
        probe(tmp_path / "nothere.mp4")
    with pytest.raises((VideoError, InputError), match="nothere.mp4"):
        read_audio(tmp_path / "nothere.mp4")


def test_rotation_metadata(clip, tmp_path):
    rotated = tmp_path / "rotated.mp4"
    ffmpeg("-display_rotation", 90, "-i", clip, "-c", "copy", rotated)
    info = probe(rotated)
    assert info.rotation == 270
    assert (info.width, info.height) == (120, 160)
    upright = read_all(rotated)
    assert upright.shape == (50, 160, 120, 3)
    assert np.array_equal(upright, np.rot90(read_all(clip), k=1, axes=(1, 2)))


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_writer_restores_rotation(clip, tmp_path, rotation):
    rotated = tmp_path / "rotated.mp4"
    ffmpeg("-display_rotation", -rotation, "-i", clip, "-c", "copy", rotated)
    info = probe(rotated)
    assert info.rotation == rotation
    frames = read_all(rotated)
    out = tmp_path / "out.mp4"
    with VideoWriter(out, info.fps, info.width, info.height, audio_from=rotated,
                     rotation=info.rotation) as writer:
        writer.write(frames)
    result = probe(out)
    assert (result.rotation, result.width, result.height) == (rotation, info.width, info.height)
    back = read_all(out).astype(int)
    assert np.abs(back - frames).mean() < 3


def test_odd_size_round_trip(tmp_path):
    src = tmp_path / "odd.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=161x121:rate=25", "-t", 0.4,
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv444p", src)
    frames = read_all(src)
    assert frames.shape == (10, 121, 161, 3)
    out = tmp_path / "out.mp4"
    with VideoWriter(out, 25, 161, 121) as writer:
        for frame in frames:
            writer.write(frame)
    info = probe(out)
    assert (info.width, info.height, info.frames) == (161, 121, 10)
    assert np.abs(read_all(out).astype(int) - frames).mean() < 3


def test_grayscale_decodes_to_three_equal_channels(tmp_path):
    gray = tmp_path / "gray.mp4"
    ffmpeg(*TESTSRC, "-t", 0.4, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "gray", gray)
    frames = read_all(gray)
    assert frames.shape == (10, 120, 160, 3)
    assert np.array_equal(frames[..., 0], frames[..., 1])
    assert np.array_equal(frames[..., 0], frames[..., 2])
    assert frames.std() > 10


def test_writer_copies_audio_and_keeps_timing(clip, clip_hash, tmp_path):
    info = probe(clip)
    out = tmp_path / "edited.mp4"
    with VideoWriter(out, info.fps, info.width, info.height, audio_from=clip, inputs=[clip]) as w:
        for chunk in VideoReader(clip, chunk=8):
            w.write(255 - chunk)
    result = probe(out)
    assert (result.width, result.height, result.fps, result.frames) == (160, 120, 25.0, 50)
    assert result.audio_codec == info.audio_codec == "aac"
    before, after = read_audio(clip), read_audio(out)
    assert len(before) == pytest.approx(32000, abs=800) and np.abs(before).max() > 0.05
    assert abs(len(before) - len(after)) <= 160
    n = min(len(before), len(after))
    assert np.abs(before[:n] - after[:n]).max() < 1e-3
    assert sha256(clip) == clip_hash


def test_writer_keeps_audio_longer_than_video(clip, tmp_path):
    out = tmp_path / "short.mp4"
    with VideoWriter(out, 25, 160, 120, audio_from=clip) as writer:
        writer.write(read_all(clip, end=0.4))
    assert probe(out).frames == 10
    assert len(read_audio(out)) == pytest.approx(len(read_audio(clip)), abs=160)


def test_writer_reencodes_audio_that_mp4_cannot_hold(tmp_path, caplog):
    src = tmp_path / "mulaw.mkv"
    ffmpeg(*TESTSRC, "-f", "lavfi", "-i", "sine=sample_rate=8000", "-t", 0.4, *H264,
           "-c:a", "pcm_mulaw", src)
    out = tmp_path / "out.mp4"
    with caplog.at_level(logging.WARNING, logger="stccl.video"):
        with VideoWriter(out, 25, 160, 120, audio_from=src) as writer:
            writer.write(read_all(src))
    assert "re-encoding it as AAC" in caplog.text
    assert probe(out).audio_codec == "aac"


def test_exact_rational_fps(tmp_path):
    assert fps_rational(25.0) == "25"
    assert fps_rational(29.97) == "30000/1001"
    assert fps_rational(23.976) == "24000/1001"
    assert fps_rational(12.5) == "25/2"
    out = tmp_path / "ntsc.mp4"
    with VideoWriter(out, 29.97, 32, 32) as writer:
        writer.write(np.zeros((30, 32, 32, 3), np.uint8))
    assert probe(out).fps == 29.97


def test_writer_refuses_to_overwrite_its_input(clip, clip_hash, tmp_path):
    with pytest.raises(InputError, match="output would overwrite the input clip.mp4"):
        VideoWriter(clip, 25, 160, 120, audio_from=clip, overwrite=True)
    alias = tmp_path / "alias.mp4"
    alias.symlink_to(clip)
    with pytest.raises(InputError, match="overwrite the input"):
        VideoWriter(alias, 25, 160, 120, inputs=[clip], overwrite=True)
    assert sha256(clip) == clip_hash


def test_writer_needs_overwrite_for_existing_output(tmp_path):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"old")
    with pytest.raises(InputError, match="exists; pass --overwrite"):
        VideoWriter(out, 25, 32, 32)
    assert out.read_bytes() == b"old"
    with VideoWriter(out, 25, 32, 32, overwrite=True) as writer:
        writer.write(np.zeros((5, 32, 32, 3), np.uint8))
    assert probe(out).frames == 5


def test_writer_missing_output_folder(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        VideoWriter(tmp_path / "nope" / "out.mp4", 25, 32, 32)


def test_exception_leaves_nothing_behind(clip, tmp_path):
    out = tmp_path / "out.mp4"
    with pytest.raises(KeyError):
        with VideoWriter(out, 25, 160, 120, audio_from=clip) as writer:
            writer.write(read_all(clip, end=0.2))
            raise KeyError("boom")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_ffmpeg_failure_names_the_cause(tmp_path):
    out = tmp_path / "out.mp4"
    with pytest.raises(VideoError, match="preset"):
        with VideoWriter(out, 25, 32, 32, preset="bogus") as writer:
            writer.write(np.zeros((5, 32, 32, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_writer_rejects_wrong_frames(tmp_path):
    with VideoWriter(tmp_path / "out.mp4", 25, 32, 32) as writer:
        with pytest.raises(ValueError):
            writer.write(np.zeros((2, 16, 32, 3), np.uint8))
        writer.write(np.zeros((2, 32, 32, 3), np.uint8))


def test_reader_window(clip):
    assert len(read_all(clip, start=0.5, end=1.5)) == 25
    assert len(read_all(clip, end=0.4)) == 10
    assert len(read_all(clip, start=1.0)) in (25, 26)
    middle = read_all(clip, start=1.0, end=1.2)
    assert np.abs(middle[0].astype(int) - read_all(clip)[25]).mean() < 1


def test_reader_window_validation(clip):
    with pytest.raises(InputError):
        VideoReader(clip, start=1.0, end=0.5)
    with pytest.raises(InputError, match="past the end"):
        VideoReader(clip, start=30)


def test_a_file_is_probed_once_while_it_is_the_same_file(clip, tmp_path, monkeypatch):
    """The CLI checks an input, then the edit probes it again: one ffmpeg run. A file replaced
    in its place (a new inode, as an atomic write makes) is probed afresh."""
    import importlib

    probe_module = importlib.import_module("stccl.video.probe")  # stccl.video.probe is also the function
    calls = []
    real = probe_module._inspect
    monkeypatch.setattr(probe_module, "_inspect", lambda path, count: calls.append(path) or real(path, count))
    copy = tmp_path / "c.mp4"
    copy.write_bytes(clip.read_bytes())
    a, b = probe(copy), probe(str(copy))
    assert a == b and len(calls) == 1
    (tmp_path / "new.mp4").write_bytes(clip.read_bytes())
    (tmp_path / "new.mp4").replace(copy)
    assert probe(copy).frames == a.frames and len(calls) == 2
