import json
import os
from pathlib import Path

import pytest

from stccl.emotions import EMOTIONS
from stccl.data.layouts import ClipItem, detect_layout, scan
from stccl.errors import DataError, InputError


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return path


def make_mead(root: Path) -> Path:
    for actor in ("M003", "W015"):
        for view in ("front", "left_30"):
            touch(root / actor / "video" / view / "neutral" / "level_1" / "001.mp4")
            for level in (1, 3):
                touch(root / actor / "video" / view / "happy" / f"level_{level}" / "001.mp4")
                touch(root / actor / "video" / view / "happy" / f"level_{level}" / "002.mp4")
    touch(root / "M003" / "video" / "front" / "happy" / "level_1" / "notes.txt")
    touch(root / "M003" / "video" / "front" / "happy" / "level_1" / "1.mp4")
    touch(root / "M003" / "video" / "front" / "bored" / "level_1" / "001.mp4")
    touch(root / "M003" / "video" / "front" / "happy" / "level_x" / "001.mp4")
    touch(root / "M003" / "audio" / "happy" / "level_1" / "001.m4a")
    return root


def make_ravdess(root: Path) -> Path:
    d = root / "Actor_12"
    touch(d / "01-01-03-02-01-01-12.mp4")  # AV, speech, happy, strong, stmt 01, rep 1
    touch(d / "02-01-03-02-01-01-12.mp4")  # its video-only twin
    touch(d / "02-01-06-01-02-02-12.mp4")  # video-only, fearful, no AV twin
    touch(d / "01-02-07-01-01-02-12.mp4")  # song, disgust
    touch(d / "01-01-02-01-01-01-12.mp4")  # calm
    touch(d / "03-01-01-01-01-01-12.mp4")  # audio-only: skipped
    touch(d / "readme.mp4")
    return root


def test_mead_scan_labels_and_default_filter(tmp_path):
    items = scan(make_mead(tmp_path / "mead"))
    ids = [it.id for it in items]
    assert ids == sorted(ids)
    assert len(items) == 2 * (1 + 4)  # front only, both actors
    assert all(it.view == "front" and it.layout == "mead" for it in items)
    item = next(it for it in items if it.id == "M003_front_happy_3_002")
    assert item.actor == "M003" and item.emotion == "happy"
    assert item.intensity == 3 and item.sentence == "002" and item.repetition is None
    assert item.path == tmp_path / "mead/M003/video/front/happy/level_3/002.mp4"


def test_mead_view_and_level_filters(tmp_path):
    root = make_mead(tmp_path / "mead")
    items = scan(root, "mead", views=("left_30",), levels=(3,))
    assert {it.id for it in items} == {
        f"{a}_left_30_happy_3_{s}" for a in ("M003", "W015") for s in ("001", "002")
    }
    assert len(scan(root, "mead", views=(), levels=())) == 20
    with pytest.raises(DataError, match="views top"):
        scan(root, "mead", views=("top",))


def test_mead_root_is_one_actor(tmp_path):
    root = make_mead(tmp_path / "mead")
    assert detect_layout(root / "M003") == "mead"
    assert {it.actor for it in scan(root / "M003")} == {"M003"}


def test_ravdess_scan(tmp_path):
    root = make_ravdess(tmp_path / "ravdess")
    assert detect_layout(root) == "ravdess"
    items = {it.id: it for it in scan(root)}
    assert set(items) == {
        "ravdess_01-01-03-02-01-01-12",
        "ravdess_02-01-06-01-02-02-12",
        "ravdess_01-02-07-01-01-02-12",
        "ravdess_01-01-02-01-01-01-12",
    }
    happy = items["ravdess_01-01-03-02-01-01-12"]
    assert (happy.actor, happy.emotion, happy.intensity, happy.sentence, happy.repetition) == (
        "Actor_12", "happy", 2, "01", 1)
    assert happy.channel == "speech" and happy.view is None
    assert items["ravdess_02-01-06-01-02-02-12"].emotion == "fear"
    assert items["ravdess_02-01-06-01-02-02-12"].repetition == 2
    assert items["ravdess_01-02-07-01-01-02-12"].emotion == "disgusted"
    assert items["ravdess_01-02-07-01-01-02-12"].channel == "song"
    assert items["ravdess_01-01-02-01-01-01-12"].emotion == "calm"


def test_ravdess_nested_download_folders(tmp_path):
    make_ravdess(tmp_path / "Video_Speech_Actor_12")
    assert detect_layout(tmp_path) == "ravdess"
    assert len(scan(tmp_path)) == 4


def test_folder_emotion_from_parent(tmp_path):
    root = tmp_path / "clips"
    touch(root / "Happy" / "take 1.MP4")
    touch(root / "fearful" / "sub" / "b.mov")
    touch(root / "Disgust" / "x" / "c.webm")
    touch(root / "misc" / "d.mkv")
    touch(root / "misc" / "surprise.avi")
    touch(root / "misc" / "notes.txt")
    touch(root / "misc" / ".hidden.mp4")
    assert detect_layout(root) == "folder"
    items = {it.id: it for it in scan(root)}
    assert {k: v.emotion for k, v in items.items()} == {
        "Happy__take_1": "happy",
        "fearful__sub__b": "fear",
        "Disgust__x__c": "disgusted",
        "misc__d": "unknown",
        "misc__surprise": "surprised",
    }
    assert all(it.layout == "folder" and it.actor is None for it in items.values())


def test_folder_root_named_after_emotion_and_single_file(tmp_path):
    clip = touch(tmp_path / "sad" / "a.mp4")
    assert [it.emotion for it in scan(tmp_path / "sad")] == ["sad"]
    assert [(it.id, it.emotion) for it in scan(clip)] == [("a", "sad")]


def test_folder_ids_unique(tmp_path):
    touch(tmp_path / "a.mp4")
    touch(tmp_path / "a.mov")
    ids = [it.id for it in scan(tmp_path)]
    assert sorted(ids) == ["a", "a-2"]


def test_manifest(tmp_path):
    touch(tmp_path / "v" / "one.mp4")
    touch(tmp_path / "two.mov")
    (tmp_path / "manifest.csv").write_text(
        "path,emotion,actor,sentence\nv/one.mp4,Fearful,p1,s1\ntwo.mov,neutral,,\n\n")
    touch(tmp_path / "ignored.mp4")
    items = scan(tmp_path)
    assert [(it.id, it.emotion, it.actor, it.sentence) for it in items] == [
        ("two", "neutral", None, None),
        ("v__one", "fear", "p1", "s1"),
    ]
    assert items[1].path == tmp_path / "v" / "one.mp4"
    assert [it.id for it in scan(tmp_path / "manifest.csv")] == ["two", "v__one"]


def test_manifest_bad_emotion_names_the_line(tmp_path):
    touch(tmp_path / "one.mp4")
    csv = tmp_path / "list.csv"
    csv.write_text("path,emotion\none.mp4,happy\none.mp4,bored\n")
    with pytest.raises(DataError, match="line 3.*bored"):
        scan(csv)


def test_manifest_errors(tmp_path):
    touch(tmp_path / "one.mp4")
    csv = tmp_path / "list.csv"
    csv.write_text("one.mp4,happy\n")
    with pytest.raises(DataError, match="header"):
        scan(csv)
    csv.write_text("path,emotion\nmissing.mp4,happy\n")
    with pytest.raises(DataError, match="line 2.*not found"):
        scan(csv)


def test_missing_and_empty_roots(tmp_path):
    with pytest.raises(InputError, match="not found"):
        scan(tmp_path / "nope")
    with pytest.raises(InputError, match="not found"):
        detect_layout(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    assert detect_layout(tmp_path / "empty") == "folder"
    with pytest.raises(DataError, match="no video clips"):
        scan(tmp_path / "empty")
    with pytest.raises(InputError, match="layout"):
        scan(tmp_path, layout="vox")


def test_auto_detection(tmp_path):
    assert detect_layout(make_mead(tmp_path / "m")) == "mead"
    assert detect_layout(make_ravdess(tmp_path / "r")) == "ravdess"
    touch(tmp_path / "f" / "happy" / "x.mp4")
    assert detect_layout(tmp_path / "f") == "folder"


def test_symlinked_trees(tmp_path):
    real = make_mead(tmp_path / "real")
    linked = tmp_path / "linked"
    linked.mkdir()
    for actor in ("M003", "W015"):
        (linked / actor).symlink_to(real / actor, target_is_directory=True)
    assert detect_layout(linked) == "mead"
    items = scan(linked)
    assert len(items) == 10
    assert all(str(it.path).startswith(str(linked)) for it in items)

    make_ravdess(tmp_path / "rreal")
    rlinked = tmp_path / "rlinked"
    rlinked.mkdir()
    (rlinked / "Actor_12").symlink_to(tmp_path / "rreal" / "Actor_12", target_is_directory=True)
    assert detect_layout(rlinked) == "ravdess"
    assert len(scan(rlinked)) == 4

    touch(tmp_path / "freal" / "angry" / "a.mp4")
    flinked = tmp_path / "flinked"
    flinked.mkdir()
    (flinked / "angry").symlink_to(tmp_path / "freal" / "angry", target_is_directory=True)
    (flinked / "loop").symlink_to(flinked, target_is_directory=True)
    assert [(it.id, it.emotion) for it in scan(flinked)] == [("angry__a", "angry")]


def test_labels_json_ready(tmp_path):
    item = scan(make_mead(tmp_path))[0]
    labels = item.labels()
    assert json.loads(json.dumps(labels)) == labels
    assert labels["path"] == str(item.path)
    assert {"id", "layout", "actor", "emotion", "intensity", "sentence", "view",
            "repetition"} <= set(labels)
    assert isinstance(item, ClipItem)


def test_real_mead_layout_from_shared_clips(shared_data, tmp_path):
    for src in sorted((shared_data / "mead").glob("*_level_*_*_*.mp4")):
        actor, _, level, emotion, sentence = src.stem.split("_")
        dst = tmp_path / actor / "video" / "front" / emotion / f"level_{level}" / f"{sentence}.mp4"
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.symlink_to(src)
    assert detect_layout(tmp_path) == "mead"
    items = {it.id: it for it in scan(tmp_path)}
    assert len(items) == 5
    happy = items["M003_front_happy_1_024"]
    assert (happy.actor, happy.emotion, happy.intensity, happy.sentence, happy.view) == (
        "M003", "happy", 1, "024", "front")
    assert items["M026_front_disgusted_3_018"].emotion in EMOTIONS
    assert items["W015_front_neutral_1_030"].path.is_symlink()
    assert os.path.getsize(items["W015_front_neutral_1_030"].path) > 0
