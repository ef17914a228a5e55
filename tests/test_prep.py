"""`stccl prep` end to end on real clips arranged in MEAD's layout (symlinks in a temp folder)."""

import dataclasses
import json
import subprocess
import tomllib

import numpy as np
import pytest
from typer.testing import CliRunner

from stccl.data.store import PreparedClip, PreparedDataset
from stccl.video import ffmpeg_exe, probe
from stccl_cli.main import app

runner = CliRunner()


def _ffmpeg(*args):
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", *args], check=True)


def _mead(root, actor, emotion, level, sentence):
    d = root / actor / "video" / "front" / emotion / f"level_{level}"
    d.mkdir(parents=True, exist_ok=True)
    return d / f"{sentence}.mp4"


@pytest.fixture(scope="module")
def mead_tree(shared_data, tmp_path_factory):
    """W015 neutral 030, a re-timed copy of it as 'happy' 030 (a cross-emotion pair by
    construction), M003 happy 024, a truncated M030 angry 016, and a text file named .mp4."""
    tmp = tmp_path_factory.mktemp("mead")
    root = tmp / "MEAD"
    mead = shared_data / "mead"
    _mead(root, "W015", "neutral", 1, "030").symlink_to(mead / "W015_level_1_neutral_030.mp4")
    _ffmpeg("-i", str(mead / "W015_level_1_neutral_030.mp4"), "-filter_complex",
            "[0:v]setpts=PTS/0.8,scale=960:540[v];[0:a]atempo=0.8[a]", "-map", "[v]", "-map", "[a]",
            "-r", "25", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
            str(_mead(root, "W015", "happy", 3, "030")))
    _mead(root, "M003", "happy", 1, "024").symlink_to(mead / "M003_level_1_happy_024.mp4")
    full = tmp / "faststart.mp4"
    _ffmpeg("-i", str(mead / "M030_level_3_angry_016.mp4"), "-c", "copy", "-movflags", "+faststart",
            str(full))
    data = full.read_bytes()
    _mead(root, "M030", "angry", 3, "016").write_bytes(data[: int(len(data) * 0.6)])
    _mead(root, "M030", "sad", 3, "001").write_text("this is not a video\n")
    _mead(root, "M030", "angry", 3, "016").with_name("999.txt").write_text("ignored")
    return root


@pytest.fixture(scope="module")
def prepared(mead_tree, tmp_path_factory):
    out = tmp_path_factory.mktemp("prep") / "out"
    src = mead_tree / "M003" / "video" / "front" / "happy" / "level_1" / "024.mp4"
    before = src.read_bytes()
    result = runner.invoke(app, ["prep", str(mead_tree), "-o", str(out), "--tracker", "dlib"])
    assert src.read_bytes() == before
    return out, result


def test_exit_code_and_one_failure(prepared):
    out, result = prepared
    assert result.exit_code == 1, result.output
    records = [json.loads(x) for x in (out / "index.jsonl").read_text().splitlines()]
    failed = [r for r in records if r["status"] == "failed"]
    assert [r["id"] for r in failed] == ["M030_front_sad_3_001"]
    assert "\n" not in failed[0]["error"] and failed[0]["error"]
    assert "M030_front_sad_3_001" in result.stderr
    assert len(records) == 5


def test_labels_and_faces(prepared):
    out, _ = prepared
    ds = PreparedDataset(out)
    by_id = {r["id"]: r for r in ds.ok}
    r = by_id["M003_front_happy_1_024"]
    assert (r["actor"], r["emotion"], r["intensity"], r["sentence"], r["view"]) == \
        ("M003", "happy", 1, "024", "front")
    assert r["fps"] == 25 and r["has_audio"]
    for rec in ds.ok:
        assert rec["face_frames"] >= 0.95 * rec["frames"], rec


def test_truncated_clip_prepared_from_readable_frames(prepared, shared_data):
    out, _ = prepared
    rec = PreparedDataset(out).clip("M030_front_angry_3_016").meta
    full = probe(shared_data / "mead" / "M030_level_3_angry_016.mp4").frames
    assert 0 < rec["frames"] < full


def test_clip_arrays(prepared):
    out, _ = prepared
    clip = PreparedClip(out / "clips" / "M003_front_happy_1_024")
    n = len(clip)
    crop = clip.crop(n // 2)
    assert crop.shape == (256, 256, 3) and crop.dtype == np.uint8 and crop.std() > 10
    t = clip.track
    assert t["landmarks"].shape == (n, 68, 2) and t["M"].shape == (n, 2, 3)
    assert t["flags"].shape == (n,)
    assert clip.mfcc.shape == (n, 13)
    # aligned eyes sit at the same place in every crop, with the left eye left of the right eye
    eyes = t["landmarks_aligned"][:, 36:42].mean(1)
    assert np.nanstd(eyes, axis=0).max() < 3.0
    assert (t["landmarks_aligned"][:, 36:42, 0].mean(1) < t["landmarks_aligned"][:, 42:48, 0].mean(1)).all()


def test_pairs_recover_the_known_retiming(prepared):
    out, _ = prepared
    pairs = PreparedDataset(out).pairs
    assert len(pairs) == 1
    p = pairs[0]
    assert (p["neutral"], p["other"], p["feature"]) == ("W015_front_neutral_1_030", "W015_front_happy_3_030", "mfcc")
    path = np.array(p["path"])
    err = np.abs(path[:, 1] - path[:, 0] / 0.8).mean()
    assert err <= 2.0, err


def test_rerun_redoes_nothing(prepared, mead_tree):
    out, _ = prepared
    stamps = {p: p.stat().st_mtime_ns for p in (out / "clips").glob("*/meta.json")}
    toml = out / "prep.toml"
    toml.write_text(toml.read_text().replace('tracker = "dlib"', 'tracker = "auto"'))  # as older runs wrote it
    result = runner.invoke(app, ["prep", str(mead_tree), "-o", str(out), "--tracker", "dlib"])
    assert result.exit_code == 1  # the failed clip is still failed
    assert "skipping 5" in result.stderr
    assert {p: p.stat().st_mtime_ns for p in (out / "clips").glob("*/meta.json")} == stamps
    assert tomllib.loads(toml.read_text())["track"]["tracker"] == "dlib"


def test_half_written_clip_is_not_finished(prepared, mead_tree, tmp_path):
    import shutil

    out, _ = prepared
    copy = tmp_path / "out"
    shutil.copytree(out, copy, symlinks=True)
    clip = copy / "clips" / "M003_front_happy_1_024"
    # what a kill mid-clip leaves: a hidden temp folder, and no finished folder
    clip.rename(clip.with_name(".M003_front_happy_1_024.tmp-host-1"))
    (clip.with_name(".M003_front_happy_1_024.tmp-host-1") / "meta.json").unlink()
    result = runner.invoke(app, ["prep", str(mead_tree), "-o", str(copy), "--tracker", "dlib",
                                 "--shard", "1/2"])
    # shard 1/2 of the 5 sorted ids: M003 happy (half-written -> redone), M030 sad (failed -> kept),
    # W015 neutral (finished -> skipped)
    assert "skipping 2" in result.stderr
    assert (copy / "clips" / "M003_front_happy_1_024" / "meta.json").is_file()


def test_folder_layout_with_workers(shared_data, tmp_path):
    src = tmp_path / "clips"
    (src / "happy").mkdir(parents=True)
    (src / "misc").mkdir()
    (src / "happy" / "a.mp4").symlink_to(shared_data / "wild" / "OzA6jRYjVQs_00004.mp4")
    (src / "misc" / "b.mp4").symlink_to(shared_data / "mead-crops" / "contempt.mp4")
    out = tmp_path / "out"
    result = runner.invoke(app, ["prep", str(src), "-o", str(out), "--workers", "2", "--size", "128"])
    assert result.exit_code == 0, result.output
    # --tracker auto: prep.toml and every record name the tracker it resolved to
    assert tomllib.loads((out / "prep.toml").read_text())["track"]["tracker"] == "mesh"
    ds = PreparedDataset(out)
    assert {r["tracker"] for r in ds.ok} == {"mesh"}
    emotions = {r["id"]: r["emotion"] for r in ds.ok}
    assert emotions == {"happy__a": "happy", "misc__b": "unknown"}
    clip = ds.clip("misc__b")
    assert clip.crop(0).shape == (128, 128, 3)
    assert clip.mfcc is None  # this clip has no audio
    assert clip.meta["face_frames"] == len(clip)


def test_ravdess_layout_pairs_by_statement(shared_data, tmp_path):
    """A RAVDESS-named neutral take and a re-timed copy as 'sad' of the same statement pair up."""
    src = tmp_path / "RAVDESS" / "Actor_01"
    src.mkdir(parents=True)
    clip = shared_data / "wild" / "d20.mp4"
    _ffmpeg("-t", "3", "-i", str(clip), "-vf", "scale=240:240", "-c:v", "libx264", "-preset",
            "ultrafast", "-c:a", "aac", str(src / "01-01-01-01-01-01-01.mp4"))
    _ffmpeg("-t", "3", "-i", str(clip), "-filter_complex",
            "[0:v]setpts=PTS/0.8,scale=240:240[v];[0:a]atempo=0.8[a]", "-map", "[v]", "-map", "[a]",
            "-r", "25", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
            str(src / "01-01-04-02-01-01-01.mp4"))
    (src / "03-01-04-02-01-01-01.wav").write_bytes(b"")  # audio-only modality: skipped
    out = tmp_path / "out"
    result = runner.invoke(app, ["prep", str(tmp_path / "RAVDESS"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    ds = PreparedDataset(out)
    assert len(ds.records) == 2
    sad = next(r for r in ds.ok if r["emotion"] == "sad")
    assert (sad["actor"], sad["intensity"], sad["sentence"], sad["layout"]) == ("Actor_01", 2, "01", "ravdess")
    assert len(ds.pairs) == 1 and ds.pairs[0]["other"] == sad["id"]


def test_train_prototypes_from_prepared_pairs(prepared, tmp_path):
    out, _ = prepared
    run = tmp_path / "run"
    r = runner.invoke(app, ["train", "--data", str(out), "--stage", "prototypes", "-o", str(run),
                            "--export", str(tmp_path / "weights")])
    assert r.exit_code == 0, r.output
    protos = json.loads((run / "prototypes.json").read_text())
    assert protos["source"] == "refit" and protos["pairs"]["happy"] == 1
    assert "sad" in protos["kept_facs"]
    # the 'happy' take is a re-timed copy of the neutral one: nothing to learn but ~zero motion
    assert np.abs(np.array(protos["emotions"]["happy"]["displacement"])).max() < 0.05
    assert (tmp_path / "weights" / "prototypes.json").is_file()


def test_train_without_pairs_says_how_pairs_arise(tmp_path):
    from stccl.data import store

    store.write_jsonl_atomic(tmp_path / "index.jsonl", [])
    r = runner.invoke(app, ["train", "--data", str(tmp_path), "--stage", "prototypes", "-o", str(tmp_path / "r")])
    assert r.exit_code == 1 and "no cross-emotion pairs" in r.stderr and "neutral" in r.stderr


def _tracker(name: str):
    """A tracker as its registry entry declares it: what it can do, not its name, decides."""
    from stccl.registry import TRACKERS

    return type("B", (), {"name": name, "caps": TRACKERS[name].caps})()


def test_crops_from_the_decoders_planes_are_the_rgb_crops(prepared, shared_data):
    """prep reads 1080p MEAD as ffmpeg's yuv420p (dlib tracks the luma; only the crop is
    converted): its stored crops are what the RGB frame gives through the stored M, within
    JPEG's error; the FAN tracker, odd sizes and frames under 720p read RGB."""
    from stccl.data.prep import _Frames
    from stccl.face import warp_to_crop
    from stccl.video import VideoReader

    src = shared_data / "mead" / "M003_level_1_happy_024.mp4"
    info = probe(src)
    assert _Frames(_tracker("dlib"), info, 256).pix_fmt == "yuv420p"
    assert _Frames(_tracker("fan"), info, 256).pix_fmt == "rgb24"
    odd = dataclasses.replace(info, width=1919)
    assert _Frames(_tracker("dlib"), odd, 256).pix_fmt == "rgb24"
    small = dataclasses.replace(info, width=960, height=540)  # the saving would be small
    assert _Frames(_tracker("dlib"), small, 256).pix_fmt == "rgb24"
    out, _ = prepared
    clip = PreparedClip(out / "clips" / "M003_front_happy_1_024")
    M = clip.track["M"]
    with VideoReader(src, chunk=len(clip)) as reader:
        frames = next(iter(reader))
    diffs = []
    for i in range(0, len(clip), 10):
        if np.isfinite(M[i]).all():
            want = warp_to_crop(frames[i], M[i], 256).astype(int)
            diffs.append(np.abs(clip.crop(i).astype(int) - want).mean())
    assert len(diffs) >= 5 and max(diffs) < 3.0, diffs


def test_a_phone_clip_stored_sideways_is_prepared_upright(shared_data, tmp_path):
    """1080p frames stored turned with a rotation tag (as phones write them), read as yuv420p:
    the crops and landmarks are those of the upright original."""
    from stccl.config import PrepConfig
    from stccl.data.layouts import scan
    from stccl.data.prep import prepare_clip
    from stccl.face import make_backend

    src = shared_data / "mead" / "W015_level_1_neutral_030.mp4"
    upright, sideways = tmp_path / "up" / "w015.mp4", tmp_path / "side.mp4"
    phone = tmp_path / "phone" / "w015.mp4"
    upright.parent.mkdir()
    phone.parent.mkdir()
    _ffmpeg("-i", str(src), "-t", "1", "-c:v", "libx264", "-crf", "12", "-preset", "fast", str(upright))
    _ffmpeg("-i", str(upright), "-vf", "transpose=1", "-c:v", "libx264", "-crf", "12", "-preset",
            "fast", str(sideways))
    _ffmpeg("-display_rotation", "90", "-i", str(sideways), "-c", "copy", str(phone))
    assert probe(phone).rotation and (probe(phone).width, probe(phone).height) == (1920, 1080)
    backend, clips = make_backend("dlib"), []
    for folder in (upright.parent, phone.parent):
        rec = prepare_clip(scan(folder, "folder")[0], tmp_path / f"out_{folder.name}", PrepConfig(), backend)
        clips.append(PreparedClip(tmp_path / f"out_{folder.name}" / "clips" / rec["id"]))
    a, b = clips
    assert len(a) == len(b) == 25
    shift = np.linalg.norm(a.track["landmarks"] - b.track["landmarks"], axis=-1).mean()
    assert shift < 3.0, shift  # pixels of a 1080p frame
    diff = np.mean([np.abs(a.crop(i).astype(int) - b.crop(i).astype(int)).mean() for i in (0, 12, 24)])
    assert diff < 4.0, diff
