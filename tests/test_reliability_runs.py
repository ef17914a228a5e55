"""Nothing lost, ever: exports that never replace another run's weights, one trainer per run
folder, dead runs' temp files removed by training and by any later edit in the folder, folder
runs that keep sub-folders, interrupted --compare runs that a rerun finishes, and edits that
eased out everywhere reported as unchanged (docs/reliability.md, "Runs that lose nothing")."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stccl.errors import InputError
from stccl.fs import HOST, FolderBusy, locked_folder
from stccl.train import run
from stccl.video import ffmpeg_exe
from stccl_cli.main import app

runner = CliRunner()
WILD = "wild/OzA6jRYjVQs_00004.mp4"  # 224², a frontal LRS3 face


def _cut(src: Path, seconds: float, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-i", str(src), "-t", str(seconds),
                    "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(dst)], check=True)
    return dst


@pytest.fixture(scope="module")
def clip(shared_data, tmp_path_factory) -> Path:
    return _cut(shared_data / WILD, 0.4, tmp_path_factory.mktemp("clip") / "talk.mp4")


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _dead_temp(folder: Path, name: str, suffix: str = "") -> Path:
    """A temp file as a run killed with -9 leaves it: this host, a process that is gone."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f".{name}.tmp-{HOST}-{_dead_pid()}-0123abcd{suffix}"
    path.write_bytes(b"half a file")
    return path


def _said(r) -> str:
    """What the command printed, the table's borders and wrapping taken out."""
    return " ".join(r.output.replace("│", " ").split())


def _edit(*args: str):
    return runner.invoke(app, ["edit", *args, "--engine", "warp", "--tracker", "dlib"], env={"COLUMNS": "200"})


# -- training ---------------------------------------------------------------------------------

def test_export_never_replaces_weights_it_did_not_write(paired_prep, tmp_path):
    weights, out = tmp_path / "weights", tmp_path / "run"
    weights.mkdir()
    (weights / "prototypes.json").write_text("the weights in use")
    with pytest.raises(InputError, match="prototypes.json exists and is not this run's prototypes.json; "
                                         "pass --overwrite"):
        run(paired_prep, out, stage="prototypes", export=weights)
    assert (weights / "prototypes.json").read_text() == "the weights in use" and not out.exists()
    run(paired_prep, out, stage="prototypes", export=weights, overwrite=True)
    assert (weights / "prototypes.json").read_bytes() == (out / "prototypes.json").read_bytes()
    run(paired_prep, out, stage="prototypes", export=weights)  # a rerun: its own export, kept
    # another run (a smoke run, say) exporting into the same folder: refused, then --overwrite
    other = ["train", "--data", str(paired_prep), "--stage", "prototypes", "-o", str(tmp_path / "other"),
             "--export", str(weights)]
    r = runner.invoke(app, other)
    assert r.exit_code == 1 and "pass --overwrite" in r.output
    assert (weights / "prototypes.json").read_bytes() == (out / "prototypes.json").read_bytes()
    r = runner.invoke(app, [*other, "--overwrite"])
    assert r.exit_code == 0, r.output
    assert (weights / "prototypes.json").read_bytes() == (tmp_path / "other" / "prototypes.json").read_bytes()


def test_a_second_trainer_on_a_run_folder_is_refused_naming_the_first(paired_prep, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    with locked_folder(out):
        with pytest.raises(FolderBusy, match=f"in use by process {os.getpid()} on {HOST}"):
            run(paired_prep, out, stage="prototypes")
    assert not (out / "prototypes.json").exists()
    # a holder killed with -9 holds nothing: the system drops its lock
    code = f"from stccl.fs import locked_folder; import os; locked_folder({str(out)!r}).__enter__(); os.kill(os.getpid(), 9)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == -9
    run(paired_prep, out, stage="prototypes")
    assert (out / "prototypes.json").is_file()


def test_training_removes_the_temps_of_dead_runs(paired_prep, tmp_path):
    out = tmp_path / "run"
    left = [_dead_temp(out / "prototypes", "checkpoint.pt", ".pt"),
            _dead_temp(out, "metric.safetensors", ".safetensors")]
    live = out / f".checkpoint.pt.tmp-{HOST}-{os.getpid()}-0123abcd.pt"  # a live run's: kept
    live.write_bytes(b"in use")
    run(paired_prep, out, stage="prototypes")
    assert not any(p.exists() for p in left) and live.exists()


# -- the edit ---------------------------------------------------------------------------------

def test_a_later_edit_removes_dead_temps_of_other_outputs(clip, tmp_path):
    src = tmp_path / "talk.mp4"
    src.write_bytes(clip.read_bytes())
    killed = _dead_temp(tmp_path, "talk.happy.mp4", ".mp4")  # kill -9 during `-e happy`
    r = _edit(str(src), "-e", "sad")
    assert r.exit_code == 0, r.output
    assert not killed.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["talk.mp4", "talk.sad.mp4"]


def test_out_dir_keeps_sub_folders_and_refuses_a_clash(clip, tmp_path):
    tree = tmp_path / "in"
    for rel in ("x.mp4", "sub/x.mp4"):
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_bytes(clip.read_bytes())
    r = _edit(str(tree), "-e", "happy", "--out-dir", str(tmp_path / "out"))
    assert r.exit_code == 0, r.output
    assert (tmp_path / "out" / "x.happy.mp4").is_file() and (tmp_path / "out" / "sub" / "x.happy.mp4").is_file()
    # two inputs of one name given as files: one line before any work, nothing written
    r = _edit(str(tree / "x.mp4"), str(tree / "sub" / "x.mp4"), "-e", "sad", "--out-dir", str(tmp_path / "o2"))
    assert r.exit_code == 1 and "would both be written to" in r.output
    assert not any((tmp_path / "o2").iterdir())


def test_a_rerun_finishes_an_interrupted_compare(clip, tmp_path):
    src = tmp_path / "in.mp4"
    src.write_bytes(clip.read_bytes())
    r = _edit(str(src), "-e", "angry")  # as if killed while the comparison was written
    assert r.exit_code == 0, r.output
    out = tmp_path / "in.angry.mp4"
    first = (out.stat().st_mtime_ns, out.read_bytes())
    killed = _dead_temp(tmp_path, "in.angry.compare.mp4", ".mp4")
    r = _edit(str(src), "-e", "angry", "--compare")
    assert r.exit_code == 0, r.output
    assert "ok (done before)" in _said(r) and (out.stat().st_mtime_ns, out.read_bytes()) == first
    assert (tmp_path / "in.angry.compare.mp4").is_file() and not killed.exists()
    r = _edit(str(src), "-e", "angry", "--compare")  # all done: nothing to do, nothing replaced
    assert r.exit_code == 0 and "ok (done before)" in _said(r)
    # the same name from another edit (another intensity) is not this run's: refused as before
    r = _edit(str(src), "-e", "angry", "--intensity", "0.5")
    assert r.exit_code == 1 and "in.angry.mp4 exists; pass --overwrite" in r.output


def test_an_edit_that_eased_out_everywhere_says_unchanged(shared_data, clip, tmp_path):
    """0Fi83's first 0.6 s: a 224², blurred, turned face whose mouth the landmarks are never
    sure of, so the edit eases out on every frame: 'unchanged', and exit code 3 (so does
    intensity 0). The output is written all the same."""
    from benchmarks.readback import cut

    src = cut(shared_data / "wild" / "0Fi83BHQsMA_00002.mp4", 0.6, tmp_path / "blur.mp4")
    for args, out in (([str(src), "-e", "happy"], tmp_path / "blur.happy.mp4"),
                      ([str(clip), "-e", "sad", "--intensity", "0", "-o", str(tmp_path / "zero.mp4")],
                       tmp_path / "zero.mp4")):
        r = _edit(*args)
        assert r.exit_code == 3, r.output
        assert "unchanged" in r.output and out.is_file(), r.output
    r = _edit(str(clip), "-e", "sad", "-o", str(tmp_path / "edited.mp4"))
    assert r.exit_code == 0 and "unchanged" not in r.output
