import subprocess
import sys

import pytest
from typer.testing import CliRunner

from stccl import __version__
from stccl_cli.main import app

runner = CliRunner()


def test_version():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0
    assert __version__ in r.stdout


def test_short_help_and_examples():
    r = runner.invoke(app, ["-h"])
    assert r.exit_code == 0
    assert "prep" in r.stdout
    for cmd in ("edit", "prep", "train"):
        r = runner.invoke(app, [cmd, "--help"])
        assert r.exit_code == 0
        assert "Examples" in r.stdout and f"stccl {cmd}" in r.stdout


def test_python_dash_m():
    r = subprocess.run([sys.executable, "-m", "stccl_cli", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and __version__ in r.stdout


def test_bad_input_is_one_red_line(tmp_path):
    r = runner.invoke(app, ["prep", str(tmp_path / "missing"), "-o", str(tmp_path / "out")])
    assert r.exit_code == 1
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert "Traceback" not in r.output


def test_verbose_shows_traceback(tmp_path):
    r = runner.invoke(app, ["prep", str(tmp_path / "missing"), "-o", str(tmp_path / "out"), "--verbose"])
    assert r.exit_code == 1
    assert "Traceback" in r.stderr


def test_bad_shard_and_config(tmp_path):
    (tmp_path / "in").mkdir()
    r = runner.invoke(app, ["prep", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--shard", "3/2"])
    assert r.exit_code == 1 and "shard" in r.stderr
    bad = tmp_path / "c.toml"
    bad.write_text("workerz = 3\n")
    r = runner.invoke(app, ["prep", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--config", str(bad)])
    assert r.exit_code == 1 and "workerz" in r.stderr


HEAVY = ("torch", "kornia", "cv2", "dlib", "librosa", "scipy", "face_alignment", "moviepy", "numpy")


@pytest.mark.parametrize("args", [["--version"], ["-h"], *[[c, "--help"] for c in
                                  ("edit", "prep", "train", "eval", "inspect")]])
def test_the_cli_answers_without_heavy_imports(args):
    """`stccl --version`, `-h` and `COMMAND --help` answer at once: the heavy libraries load
    inside the commands. Checked with the interpreter's own import log (-X importtime)."""
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "stccl_cli", *args],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in r.stderr.splitlines()
                if line.startswith("import time:")}
    assert "stccl_cli.main" in imported  # the log is what we think it is
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))


@pytest.mark.parametrize("args, loaded", [(["edit", "--help"], {"edit"}), (["eval", "-h"], {"eval"}),
                                          (["-h"], {"edit", "eval", "inspect", "prep", "train"}),
                                          (["--version"], {"edit", "eval", "inspect", "prep", "train"})])
def test_a_run_loads_only_the_command_it_names(args, loaded):
    """`stccl edit ...` builds no other command's options (their help is read from the config
    classes' sources: start-up time); with no command named, all of them are there."""
    code = ("import sys; from stccl_cli.main import run\n"
            "try:\n    run()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m.split('.')[1] for m in sys.modules if m.startswith('stccl_cli.') and "
            "m.split('.')[1] not in ('main', 'common')), file=sys.stderr)")
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert r.stderr.strip().splitlines()[-1] == str(sorted(loaded)), r.stderr[-2000:]
    assert ("Usage: stccl" in r.stdout) or r.stdout.startswith("stccl ")


def test_the_whole_app_has_every_command():
    from typer.main import get_command

    assert set(get_command(app).commands) == {"edit", "eval", "inspect", "prep", "train"}
