"""Issue 16, the data side: a damaged prepared dataset, prep's leftovers after a kill, and bad
weights each get one line that names the file and says what to do; nothing is unpickled.

The prepared dataset is real: a 1 s cut of a shared MEAD crop, prepared (dlib, 64 px) as a
neutral take, the same take as 'happy' (a cross-emotion pair) and an unpaired 'sad' take. Each
test damages a copy of it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from stccl.data.store import PreparedDataset
from stccl.errors import DataError, WeightsError
from stccl.fs import HOST
from stccl.video import ffmpeg_exe
from stccl_cli.main import app

runner = CliRunner()
NEUTRAL, HAPPY, SAD = "M003_front_neutral_1_001", "M003_front_happy_1_001", "M003_front_sad_1_002"


def _prep(tree, out):
    return runner.invoke(app, ["prep", str(tree), "-o", str(out), "--tracker", "dlib", "--size", "64"])


@pytest.fixture(scope="module")
def prepared(shared_data, tmp_path_factory):
    """(MEAD tree, its prepared dataset): 3 clips of 25 frames, 1 pair."""
    tmp = tmp_path_factory.mktemp("reliability")
    cut = tmp / "cut.mp4"
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-t", "1", "-i",
                    str(shared_data / "mead-crops" / "contempt.mp4"), "-c:v", "libx264", "-preset",
                    "ultrafast", str(cut)], check=True)
    tree = tmp / "MEAD"
    for emotion, sentence in (("neutral", "001"), ("happy", "001"), ("sad", "002")):
        d = tree / "M003" / "video" / "front" / emotion / "level_1"
        d.mkdir(parents=True)
        (d / f"{sentence}.mp4").symlink_to(cut)
    out = tmp / "prep"
    r = _prep(tree, out)
    assert r.exit_code == 0, r.output
    assert len(PreparedDataset(out).pairs) == 1
    return tree, out


@pytest.fixture
def copy(prepared, tmp_path):
    dst = tmp_path / "prep"
    shutil.copytree(prepared[1], dst, symlinks=True)
    return dst


def _one_error_line(result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    return " ".join(result.stderr.split())


# ---- damage, and what each gets

def _cut(path, keep):
    path.write_bytes(path.read_bytes()[:keep(path.stat().st_size)])


def _npz(path, **changes):
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    for k, v in changes.items():
        if v is None:
            del arrays[k]
        else:
            arrays[k] = v
    np.savez(path, **arrays)


DAMAGE = {  # name -> (damage(clip folder), the file named, words of the message)
    "crops.bin cut": (lambda c: _cut(c / "crops.bin", lambda n: n // 2), "crops.bin", "its index"),
    "track.npz cut": (lambda c: _cut(c / "track.npz", lambda n: 200), "track.npz", "BadZipFile"),
    "track.npz empty": (lambda c: (c / "track.npz").write_bytes(b""), "track.npz", "not a readable"),
    "track.npz short": (lambda c: _npz(c / "track.npz", flags=np.zeros(3, np.uint8)), "track.npz",
                        "'flags' of shape (3,)"),
    "track.npz lacks M": (lambda c: _npz(c / "track.npz", M=None), "track.npz", "no 'M' array"),
    "offsets too few": (lambda c: np.save(c / "crops.idx.npy", np.load(c / "crops.idx.npy")[:-2]),
                        "crops.idx.npy", "offsets, not 26"),
    "offsets not from 0": (lambda c: np.save(c / "crops.idx.npy", np.load(c / "crops.idx.npy") + 1),
                           "crops.idx.npy", "start at 0"),
    "offsets not a .npy": (lambda c: (c / "crops.idx.npy").write_text("x"), "crops.idx.npy",
                           "cannot be read"),
    "meta.json cut": (lambda c: _cut(c / "meta.json", lambda n: n - 10), "meta.json", "not a JSON"),
    "audio.npz missing": (lambda c: (c / "meta.json").write_text(json.dumps(
        {**json.loads((c / "meta.json").read_text()), "has_audio": True})), "audio.npz", "missing"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_check_names_the_damaged_file_and_how_to_redo_the_clip(copy, case):
    damage, name, words = DAMAGE[case]
    PreparedDataset(copy).check()  # intact
    clip = copy / "clips" / NEUTRAL
    damage(clip)
    with pytest.raises(DataError) as e:
        PreparedDataset(copy).check()
    msg = str(e.value)
    assert "\n" not in msg and str(clip / name) in msg and words in msg, msg
    if name != "meta.json":
        assert f"delete {clip} and run the same `stccl prep INPUT -o {copy}` again" in msg, msg


def test_reading_a_damaged_part_is_a_data_error(copy):
    """Reading a clip checks the part it reads, without check(): no cv2 error, no BadZipFile."""
    _cut(copy / "clips" / NEUTRAL / "crops.bin", lambda n: n - 100)
    _cut(copy / "clips" / HAPPY / "track.npz", lambda n: 200)
    ds = PreparedDataset(copy)
    with pytest.raises(DataError, match="crops.bin is .* bytes, its index"):
        ds.clip(NEUTRAL).crop(0)
    with pytest.raises(DataError, match=f"{HAPPY}/track.npz cannot be read"):
        ds.clip(HAPPY).track


def test_a_jpeg_that_does_not_decode_names_the_clip_and_frame(copy):
    clip = copy / "clips" / NEUTRAL
    idx = np.load(clip / "crops.idx.npy")
    blob = bytearray((clip / "crops.bin").read_bytes())
    blob[idx[3]:idx[4]] = bytes(idx[4] - idx[3])  # same size: the cheap checks pass
    (clip / "crops.bin").write_bytes(bytes(blob))
    ds = PreparedDataset(copy)
    ds.check()
    assert ds.clip(NEUTRAL).crop(2).shape == (64, 64, 3)
    with pytest.raises(DataError, match=f"{NEUTRAL}/crops.bin holds no readable JPEG for frame 3: "
                                        "the clip is damaged; delete"):
        ds.clip(NEUTRAL).crop(3)


def test_a_bad_jpeg_in_a_loader_worker_is_one_line(copy):
    """Training reads crops in DataLoader workers: the error comes back as its own line, not as
    torch's "Caught DataError in DataLoader worker ... Traceback"."""
    from stccl.data.windows import PairWindows
    from stccl.train.trainer import _worker_errors

    clip = copy / "clips" / NEUTRAL
    idx = np.load(clip / "crops.idx.npy")
    blob = bytearray((clip / "crops.bin").read_bytes())
    blob[idx[0]:idx[-1]] = bytes(int(idx[-1]))
    (clip / "crops.bin").write_bytes(bytes(blob))
    windows = PairWindows(copy, [0], window=2, size=32)
    loader = torch.utils.data.DataLoader(windows, batch_size=1, num_workers=1)
    with pytest.raises(DataError) as e:
        next(_worker_errors(iter(loader)))
    msg = str(e.value)
    assert msg.startswith(f"{clip}/crops.bin holds no readable JPEG for frame ") and "\n" not in msg
    assert "Traceback" not in msg and "Caught" not in msg


# ---- stccl train on a damaged dataset: one line, at the start

TRAIN_DAMAGE = {  # the three cases
    "crops.bin": lambda d: _cut(d / "clips" / HAPPY / "crops.bin", lambda n: n // 2),
    "track.npz": lambda d: _cut(d / "clips" / HAPPY / "track.npz", lambda n: 200),
    "index.jsonl": lambda d: _cut(d / "index.jsonl", lambda n: n - 40),
}


@pytest.mark.parametrize("part", list(TRAIN_DAMAGE))
def test_train_on_a_damaged_dataset_fails_at_once_naming_the_file(copy, tmp_path, part):
    TRAIN_DAMAGE[part](copy)
    t0 = time.perf_counter()
    r = runner.invoke(app, ["train", "--data", str(copy), "--stage", "metric", "--preset", "tiny",
                            "-o", str(tmp_path / "run"), "--steps", "2"])
    line = _one_error_line(r)
    assert time.perf_counter() - t0 < 20
    assert part in line and "stccl prep" in line and "internal error" not in line, line
    if part == "index.jsonl":
        assert "line 3 is not a JSON object" in line and "rebuilds index.jsonl" in line, line
    else:
        assert str(copy / "clips" / HAPPY / part) in line and "the clip is damaged" in line, line
    assert not (tmp_path / "run" / "metric").exists()  # no stage started


def test_the_chain_checks_clips_that_only_a_later_stage_reads(copy, tmp_path):
    """The sad take has no pair: only the generator and the classifier read it. The chain
    fails on it before the metric stage starts."""
    from stccl.train import run

    _cut(copy / "clips" / SAD / "track.npz", lambda n: 200)
    with pytest.raises(DataError, match=f"{SAD}/track.npz"):
        run(copy, tmp_path / "run", preset="tiny", overrides={"train.steps": 1})
    assert not (tmp_path / "run" / "metric").exists()


def test_the_message_says_what_works(prepared, copy):
    """Doing what the messages say (delete the clip, run the same prep again) repairs the
    dataset: prep redoes the deleted clip, skips the others, rebuilds the index and pairs."""
    tree, _ = prepared
    clip = copy / "clips" / HAPPY
    _cut(clip / "crops.bin", lambda n: n // 2)
    _cut(copy / "index.jsonl", lambda n: n - 40)
    with pytest.raises(DataError, match="index.jsonl line 3"):
        PreparedDataset(copy)
    shutil.rmtree(clip)
    r = _prep(tree, copy)
    assert r.exit_code == 0, r.output
    assert "skipping 2" in r.stderr
    ds = PreparedDataset(copy)
    ds.check()
    assert len(ds.ok) == 3 and len(ds.pairs) == 1
    assert ds.clip(HAPPY).crop(24).shape == (64, 64, 3)


# ---- prep's leftovers after a kill

WRITER = """
import os, sys
from pathlib import Path
from stccl.data.store import ClipWriter
w = ClipWriter(Path(sys.argv[1]), sys.argv[2])
print(w.tmp.name, flush=True)
if sys.argv[3] == "die":
    os._exit(9)  # as kill -9: no cleanup
sys.stdin.read()  # a live run, until told to stop
w.abort()
"""


def _writer(root, clip_id, mode):
    return subprocess.Popen([sys.executable, "-c", WRITER, str(root), clip_id, mode],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def test_prep_removes_a_dead_runs_leftovers_and_keeps_a_live_runs(prepared, copy):
    tree, _ = prepared
    dead = _writer(copy, NEUTRAL, "die")
    dead_name = dead.stdout.readline().strip()
    assert dead.wait() == 9
    assert dead_name.startswith(f".{NEUTRAL}.tmp-{HOST}-{dead.pid}-")
    live = _writer(copy, "other_clip", "live")
    try:
        live_name = live.stdout.readline().strip()
        stale_index = copy / f".index.jsonl.tmp-{HOST}-{dead.pid}-0123abcd.jsonl"
        stale_index.write_text("{")
        stale_failed = copy / "failed" / f".{SAD}.json.tmp-{HOST}-{dead.pid}-0123abcd.json"
        stale_failed.parent.mkdir()
        stale_failed.write_text("{")
        assert (copy / "clips" / dead_name).is_dir() and (copy / "clips" / live_name).is_dir()
        r = _prep(tree, copy)
        assert r.exit_code == 0, r.output
        assert not (copy / "clips" / dead_name).exists()
        assert not stale_index.exists() and not stale_failed.exists()
        assert (copy / "clips" / live_name).is_dir()  # a concurrent run's clip in the making
    finally:
        live.communicate("")
    assert not (copy / "clips" / live_name).exists()  # it cleans up after itself
    assert sorted(p.name for p in (copy / "clips").iterdir()) == sorted([NEUTRAL, HAPPY, SAD])


# ---- bad weights

def _generator_file(path):
    from stccl.models.generator import Generator, GeneratorConfig
    from stccl.models.io import save_model

    cfg = GeneratorConfig(size=64, base_channels=8, n_down=2, n_res=1)
    save_model(Generator(cfg), cfg, path, kind="generator")
    return path


def _rewrite(path, change_state=None, metadata=None):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata())
    state = load_file(str(path))
    save_file(change_state(state) if change_state else state, str(path), metadata={**meta, **(metadata or {})})
    return state


def test_weights_of_the_wrong_shapes_are_one_line_with_the_first_and_the_count(tmp_path):
    from stccl.models.io import load_generator

    path = _generator_file(tmp_path / "g.safetensors")
    state = _rewrite(path, lambda s: {k: torch.zeros(*(n + 1 for n in v.shape)) if v.ndim else v
                                      for k, v in s.items()})
    from stccl.models.generator import Generator, GeneratorConfig

    own = Generator(GeneratorConfig(size=64, base_channels=8, n_down=2, n_res=1)).state_dict()
    first = next(k for k, v in own.items() if v.ndim)  # the first in the model's order
    with pytest.raises(WeightsError) as e:
        load_generator(path)
    msg = str(e.value)
    n = sum(v.ndim > 0 for v in state.values())
    want = tuple(state[first].shape)
    got = tuple(d + 1 for d in want)
    assert msg.startswith(f"{path}: weights do not fit the model: {n} tensors of another shape "
                          f"(first {first}: the model's {want}, the file's {got})"), msg
    assert "\n" not in msg and len(msg) < 300


def test_missing_and_unexpected_weights_are_counted(tmp_path):
    from stccl.models.io import load_generator

    path = _generator_file(tmp_path / "g.safetensors")
    state = _rewrite(path, lambda s: {**{k: v for k, v in list(s.items())[5:]}, "extra.a": torch.zeros(1),
                                      "extra.b": torch.zeros(1)})
    with pytest.raises(WeightsError, match=r"5 missing keys \S+, \S+, \S+ \(\+2 more\); "
                                           r"2 unexpected keys extra.a, extra.b$"):
        load_generator(path)
    assert len(state) > 5


def test_metadata_that_is_not_json_names_the_file(tmp_path):
    from stccl.models.io import load_generator

    path = _generator_file(tmp_path / "g.safetensors")
    _rewrite(path, metadata={"config": "{not json"})
    with pytest.raises(WeightsError, match=f"^{path}: its metadata 'config' is not a JSON object"):
        load_generator(path)


def test_a_pickle_is_refused_in_one_whole_line_and_never_run(tmp_path):
    from stccl.eval.weights import WeightedNet
    from stccl.models.io import read_state_dict

    ran = tmp_path / "ran"
    path = tmp_path / "arcface.pth"
    torch.save({"w": torch.zeros(2), "f": _Boom(ran)}, path)
    with pytest.raises(WeightsError) as e:
        WeightedNet.load(path, torch.device("cpu"), "ArcFace", lambda s: torch.nn.Linear(2, 2))
    msg = str(e.value)
    assert msg.startswith(f"{path} is a pickle") and "not load pickles for safety" in msg
    assert "safetensors.torch.save_file" in msg and msg.endswith("then pass that file"), msg
    assert "\n" not in msg and not ran.exists()
    with pytest.raises(WeightsError, match="is a pickle"):
        read_state_dict(path)
    assert not ran.exists()


class _Boom:
    """Unpickling it would create a file: the sign that a pickle was run."""

    def __init__(self, flag):
        self.flag = str(flag)

    def __reduce__(self):
        return (open, (self.flag, "w"))


def test_cli_edit_with_wrong_shaped_weights_is_one_line(prepared, tmp_path):
    tree, _ = prepared
    path = _generator_file(tmp_path / "g.safetensors")
    _rewrite(path, lambda s: {k: torch.zeros(*(n + 1 for n in v.shape)) if v.ndim else v
                              for k, v in s.items()})
    clip = next(tree.rglob("*.mp4"))
    r = runner.invoke(app, ["edit", str(clip), "-e", "happy", "--engine", "neural", "--weights",
                            str(path), "-o", str(tmp_path / "out.mp4")])
    line = _one_error_line(r)
    assert str(path) in line and "tensors of another shape (first " in line and len(line) < 400, line
    assert not (tmp_path / "out.mp4").exists()
    assert os.listdir(tmp_path) == ["g.safetensors"]
