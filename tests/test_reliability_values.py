"""Issue 16, items 6 and 7: bad values and misleading causes get one line that says what is
wrong, before any work (--face past the faces found, a device this torch lacks, --end <= 0,
negative --face / --start / --intensity, an emotion in another case or unknown)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from stccl.config import EditConfig, from_dict
from stccl.devices import require_device, resolve_device
from stccl.edit.outputs import default_output, is_edit_output
from stccl.emotions import EMOTIONS
from stccl.errors import InputError
from stccl.video import ffmpeg_exe
from stccl_cli.main import app

runner = CliRunner()
WILD = "wild/0Fi83BHQsMA_00002.mp4"  # 224x224, one face
WILD2 = "wild/OzA6jRYjVQs_00004.mp4"


def ffmpeg(*args) -> None:
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *map(str, args)]
    subprocess.run(cmd, check=True)


@pytest.fixture(scope="module")
def noface(tmp_path_factory) -> Path:
    """0.4 s of a test pattern (no face): enough for refusals made before any decoding."""
    out = tmp_path_factory.mktemp("noface") / "pattern.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25", "-t", 0.4, "-c:v", "libx264",
           "-pix_fmt", "yuv420p", out)
    return out


@pytest.fixture(scope="module")
def two_faces(shared_data, tmp_path_factory) -> Path:
    """1 s of two shared clips side by side (hstack): two faces, the left one larger."""
    out = tmp_path_factory.mktemp("two") / "two.mp4"
    ffmpeg("-t", 1, "-i", shared_data / WILD, "-t", 1, "-i", shared_data / WILD2, "-filter_complex",
           "[0:v]scale=224:224,setsar=1[a];[1:v]scale=160:160,pad=224:224:32:32,setsar=1[b];"
           "[a][b]hstack=inputs=2[v]", "-map", "[v]", "-r", 25, "-an", "-c:v", "libx264",
           "-pix_fmt", "yuv420p", out)
    return out


@pytest.fixture(scope="module")
def one_face(shared_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("one") / "talk.mp4"
    ffmpeg("-t", 0.6, "-i", shared_data / WILD, "-an", "-c:v", "libx264", "-pix_fmt", "yuv420p", out)
    return out


def refused(args: list[str], *words: str, folder: Path | None = None) -> str:
    """Run the CLI: exit 1, one `error:` line holding `words`, no traceback, nothing written to
    `folder`. Returns the line."""
    before = sorted(folder.iterdir()) if folder is not None else None
    r = runner.invoke(app, args)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.exit_code == 1, r.output
    assert len(lines) == 1 and lines[0].startswith("error:"), r.stderr
    assert "Traceback" not in r.output and "internal error" not in r.output
    for w in words:
        assert w in lines[0], lines[0]
    if folder is not None:
        assert sorted(folder.iterdir()) == before, "a refused run left files behind"
    return lines[0]


def edit_args(src: Path, tmp_path: Path, *more: str) -> list[str]:
    return ["edit", str(src), "-e", "happy", "--engine", "warp", "--tracker", "dlib",
            "-o", str(tmp_path / "out.mp4"), *more]


# -- --face past the faces found -----------------------------------------------------------------

def test_face_past_the_faces_found_says_how_many(two_faces, tmp_path):
    line = refused(edit_args(two_faces, tmp_path, "--face", "5"), folder=tmp_path)
    assert "--face 5: only 2 faces found (faces are numbered 0..1 from the largest)" in line
    assert "no face found" not in line


def test_face_index_past_one_face(one_face, tmp_path):
    refused(edit_args(one_face, tmp_path, "--face", "1"), "--face 1: only 1 face found",
            "face 0", folder=tmp_path)


# -- devices this torch lacks ----------------------------------------------------------------------

@pytest.fixture
def cpu_build(monkeypatch):
    """torch as a CPU-only build without MPS, whatever this machine has."""
    monkeypatch.setattr(torch.version, "cuda", None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_built", lambda: False)


@pytest.fixture
def one_gpu(monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", "12.4")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


@pytest.mark.parametrize("device,words", [
    ("cuda", ["--device cuda: this torch build has no CUDA", "use --device cpu or auto"]),
    ("cuda:1", ["--device cuda:1: this torch build has no CUDA"]),
    ("mps", ["--device mps: this torch build has no MPS", "use --device cpu or auto"]),
])
def test_edit_device_missing_is_one_line(cpu_build, noface, tmp_path, device, words):
    refused(edit_args(noface, tmp_path, "--device", device), *words, folder=tmp_path)


def test_cuda_index_out_of_range(one_gpu, noface, tmp_path):
    refused(edit_args(noface, tmp_path, "--device", "cuda:3"),
            "--device cuda:3: only 1 CUDA device (cuda:0)", folder=tmp_path)
    with pytest.raises(InputError, match="only 1 CUDA device"):
        resolve_device("cuda:1")
    assert resolve_device("cuda:0") == "cuda:0"


def test_cuda_build_without_gpu(monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", "12.4")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InputError, match="--device cuda: .* no GPU or driver was found; use --device cpu"):
        resolve_device("cuda")


def test_every_command_checks_the_device_first(cpu_build, noface, tmp_path):
    (tmp_path / "videos").mkdir()
    words = ("--device cuda: this torch build has no CUDA",)
    refused(["prep", str(tmp_path / "videos"), "-o", str(tmp_path / "prep"), "--tracker", "dlib",
             "--device", "cuda"], *words)
    refused(["train", "--data", str(tmp_path / "videos"), "-o", str(tmp_path / "run"),
             "--device", "cuda"], *words)
    refused(["eval", str(noface), str(noface), "--device", "cuda"], *words)
    refused(["inspect", str(noface), "-o", str(tmp_path / "x.png"), "--device", "cuda"], *words)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["videos"]


def test_python_api_checks_the_device(cpu_build):
    from stccl import Editor

    with pytest.raises(InputError, match="--device cuda: this torch build has no CUDA"):
        Editor(engine="warp", device="cuda")
    assert require_device("auto") == "auto" and require_device("cpu") == "cpu"


# -- --end, --start, --intensity, --face out of range ------------------------------------------

@pytest.mark.parametrize("value", ["-1", "0"])
def test_end_not_after_zero_is_refused(noface, tmp_path, value):
    refused(edit_args(noface, tmp_path, "--end", value), "--end must be more than 0",
            folder=tmp_path)


def test_end_refused_in_config_and_api(noface, tmp_path):
    with pytest.raises(InputError, match="f.toml: end must be more than 0"):
        from_dict(EditConfig, {"end": 0}, "f.toml")
    from stccl import Editor

    with pytest.raises(InputError, match="end must be more than 0"):
        Editor(engine="warp").edit(noface, out=tmp_path / "o.mp4", end=-1)
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize("option,value,words", [
    ("--face", "-1", ["--face must be a face index, a whole number >= 0"]),
    ("--start", "-1", ["--start must be at least 0"]),
    ("--intensity", "-0.5", ["--intensity must be a number >= 0"]),
    ("--intensity", "nan", ["--intensity must be a number >= 0"]),
])
def test_negative_values_are_refused(noface, tmp_path, option, value, words):
    refused(edit_args(noface, tmp_path, option, value), *words, folder=tmp_path)


def test_help_says_what_each_option_takes():
    r = runner.invoke(app, ["edit", "--help"], env={"COLUMNS": "250"})
    assert r.exit_code == 0
    text = " ".join(r.stdout.split()).lower()
    for words in ("any case", "a whole number >= 0", "a number >= 0", "s, >= 0", "s, > 0",
                  "auto, cpu, cuda, cuda:n or mps"):
        assert words in text, words


# -- emotion names --------------------------------------------------------------------------------

def test_emotion_in_any_case_names_the_output_in_lower_case(one_face, tmp_path):
    src = tmp_path / "x.mp4"
    src.write_bytes(one_face.read_bytes())
    r = runner.invoke(app, ["edit", str(src), "-e", " HAPPY ", "--engine", "warp", "--tracker", "dlib"])
    assert r.exit_code == 3, r.output  # 0Fi83's first 0.6 s: the edit eases out everywhere ("unchanged")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.happy.mp4", "x.mp4"]
    assert from_dict(EditConfig, {"emotion": "Sad "}, "f.toml").emotion == "sad"
    assert default_output(src, "HAPPY") == tmp_path / "x.happy.mp4"


def test_python_api_normalises_the_emotion(one_face, warp_editor, tmp_path):
    s = warp_editor.edit(one_face, emotion="Surprised", out=tmp_path / "o.mp4")
    assert s.emotion == "surprised"


def test_folder_run_skips_outputs_named_in_upper_case(noface, tmp_path):
    assert is_edit_output(Path("x.HAPPY.mp4")) and is_edit_output(Path("x.Sad.mp4"))
    assert not is_edit_output(Path("x.mp4")) and not is_edit_output(Path("x.party.mp4"))
    folder = tmp_path / "clips"
    folder.mkdir()
    (folder / "x.HAPPY.mp4").write_bytes(noface.read_bytes())  # left by an older version
    refused(["edit", str(folder), "-e", "happy", "--engine", "warp"], "no video files in",
            folder=folder)


def test_unknown_emotion_lists_the_names(noface, tmp_path):
    line = refused(["edit", str(noface), "-e", "joyful", "-o", str(tmp_path / "o.mp4")],
                   "unknown emotion 'joyful'", folder=tmp_path)
    assert all(e in line for e in EMOTIONS)
