"""`python -m benchmarks --quick --json`: the structure of its one table of ratios.

Nothing here checks speed: the figures depend on the machine and its load.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def quick(shared_data) -> dict:
    r = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--json"], cwd=ROOT,
                       capture_output=True, text=True, timeout=3600)
    assert r.returncode == 0, r.stderr[-4000:]
    return json.loads(r.stdout)  # stdout holds the JSON and nothing else


@pytest.mark.slow
@pytest.mark.shared
def test_quick_json_table_structure(quick):
    assert quick["quick"] is True
    assert quick["sections"] == ["prep", "edit", "tracker", "train"]
    rows = quick["rows"]
    assert rows
    assert {r["section"] for r in rows} == {"prep", "edit", "tracker", "train"}
    names = [r["name"] for r in rows]
    assert len(names) == len(set(names)), "row names must be unique"
    for r in rows:
        for key in ("name", "unit", "baseline"):
            assert isinstance(r[key], str) and r[key].strip(), (key, r)
        for key in ("ratio", "value", "baseline_value"):
            assert isinstance(r[key], (int, float)), (key, r)
            assert math.isfinite(r[key]) and r[key] > 0, (key, r)
        assert r["baseline"] != r["name"]
        assert r["ratio"] == pytest.approx(r["value"] / r["baseline_value"], rel=1e-9)
    # every part of the suite is there
    assert any(n.startswith("prep (dlib)") for n in names)
    assert any(n.startswith("edit warp") for n in names)
    assert {"stccl edit, whole process, 1080p", "stccl edit, whole process, 512²"} <= set(names)
    assert "peak RSS, warp edit of the clip looped 8x" in names  # 20x without --quick
    assert "tracker mesh, LiteRT, M003 (1080p)" in names  # bench_tracker, against dlib
    assert any(n.startswith("tracker mesh, OpenCV + spread check") for n in names)
    assert any(n.startswith("metric tiny") for n in names)
    assert any(n.startswith("generator tiny") for n in names)


@pytest.mark.slow
@pytest.mark.shared
def test_quick_json_describes_the_machine(quick):
    m = quick["machine"]
    for key in ("cpu", "torch", "device", "date"):
        assert isinstance(m[key], str) and m[key], key
    assert isinstance(m["cores"], int) and m["cores"] >= 1
    assert "gpu" in m  # None without a GPU
    assert m["device"] in ("cpu", "cuda")
    assert (m["gpu"] is None) == (m["device"] == "cpu")
    assert quick["seconds"] > 0


@pytest.mark.slow
def test_gpu_script_runs_at_tiny_sizes_without_a_gpu():
    """benchmarks/gpu.py, the prepared script for a lent GPU, runs on the CPU at tiny sizes
    (and says so in every row)."""
    r = subprocess.run([sys.executable, "-m", "benchmarks.gpu", "--device", "cpu", "--json"], cwd=ROOT,
                       capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stderr[-4000:]
    out = json.loads(r.stdout)
    assert out["device"] == "cpu" and out["tiny"] is True and out["gpu"] is None
    units = [row["unit"] for row in out["rows"]]
    assert units == ["frames/s", "img/s", "steps/s"]
    for row in out["rows"]:
        assert row["tiny"] is True and math.isfinite(row["value"]) and row["value"] > 0, row


def test_peak_rss_is_the_child_own_not_its_parents():
    """The memory rows run the edit in a child of the benchmark process. Linux keeps ru_maxrss
    across exec, so a child of a process that had grown large reported the parent's peak."""
    from benchmarks.common import PRINT_PEAK_RSS

    grown = bytearray(600 * 2**20)
    grown[::4096] = b"\1" * len(grown[::4096])  # resident, not just reserved
    out = subprocess.run([sys.executable, "-c", "x = bytearray(50 * 2**20)\nx[::4096] = b'1' * len(x[::4096])\n"
                          + PRINT_PEAK_RSS], capture_output=True, text=True, check=True).stdout
    peak_mib = json.loads(out) / 1024
    assert 50 <= peak_mib < 300, peak_mib
    del grown


@pytest.mark.shared
def test_the_stage_profile_times_every_stage(shared_data, tmp_path):
    """benchmarks/profile_edit.py wraps the library's stage functions: each one a real edit runs
    gets time (a renamed function fails here, not as a silent zero)."""
    from benchmarks.readback import cut

    src = cut(shared_data / "wild/d12.mp4", 1.0, tmp_path / "d12.mp4")
    r = subprocess.run([sys.executable, "-m", "benchmarks.profile_edit", str(src), "--seconds", "0"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-4000:]
    cells = {c[0]: c[1:] for c in (line.strip("|").split("|") for line in r.stdout.splitlines()
                                   if line.startswith("| "))}
    cells = {k.strip(): [v.strip() for v in vs] for k, vs in cells.items()}
    for stage in ("track", "spread", "smooth + align", "expression + spline", "paste", "encode (pipe)"):
        assert float(cells[stage][0]) > 0 and float(cells[stage][1]) >= 0, (stage, cells[stage])
    assert "pipes auto, tracker mesh" in r.stdout and "edit / floor, wall:" in r.stdout


def test_the_pipes_comparison_holds_lips_to_the_readers_floor(tmp_path):
    """benchmarks/readback_pipes.py: an edit's lips read the same by both paths when they differ
    by no more than the reader gets wrong on the unchanged re-encode."""
    from benchmarks.readback_pipes import compare

    def run(folder, happy_corr):
        folder.mkdir()
        mesh = [dict(clip="c", emotion="same", mouth_std=0.1, mouth_corr=0.99, mouth_dev=0.005, brows_up=0.0,
                     corners_up=0.0, faces=1.0),
                dict(clip="c", emotion="happy", mouth_std=0.1, mouth_corr=happy_corr, mouth_dev=0.01,
                     brows_up=0.0, corners_up=0.05, faces=1.0)]
        dlib = [dict(r, clip="wild/c.mp4", expr_cos=0.5, expr_shift_ratio=0.5) for r in mesh]
        (folder / "facemesh.json").write_text(json.dumps(mesh))
        (folder / "dlib.json").write_text(json.dumps(dlib))
        return folder

    rgb = run(tmp_path / "rgb", 0.97)
    lines, s = compare(rgb, run(tmp_path / "near", 0.965))  # 0.005 apart, floor 0.01
    assert s == {"lips_within_floor": 1, "edits": 1, "passed_rgb": 1, "passed_yuv": 1,
                 "same_verdicts": 1, "verdicts": 1} and "| yes |" in lines[-1]
    lines, s = compare(rgb, run(tmp_path / "far", 0.93))  # 0.04 apart
    assert s["lips_within_floor"] == 0 and "**no**" in lines[-1]


def test_real_targets_picks_one_take_per_emotion(tmp_path):
    """benchmarks/real_targets.py reads takes by name: `<actor>_level_<k>_<emotion>_<NNN>.mp4`,
    the highest level of an emotion (neutral: the lowest); other names are ignored."""
    from benchmarks.real_targets import find_takes

    for name in ("W009_level_1_happy_001.mp4", "W009_level_3_happy_001.mp4", "W009_level_2_neutral_001.mp4",
                 "W009_level_1_neutral_001.mp4", "W009_level_3_sad_002.mp4", "M1_level_3_joy_001.mp4",
                 "W009_happy.mp4", "W009_level_3_happy_001.mp4.txt", "notes.md"):
        (tmp_path / name).touch()
    assert find_takes(tmp_path) == {"W009": {
        "001": {"happy": tmp_path / "W009_level_3_happy_001.mp4", "neutral": tmp_path / "W009_level_1_neutral_001.mp4"},
        "002": {"sad": tmp_path / "W009_level_3_sad_002.mp4"}}}


@pytest.mark.shared
def test_real_targets_on_a_folder_of_takes(shared_data, tmp_path, capsys):
    """`python -m benchmarks.real_targets` on a folder of two real takes (W009 happy and
    neutral): one edit, read by dlib, one table row; an unknown arm is one line."""
    from benchmarks.real_targets import main

    pairs = shared_data / "mead-pairs"
    for name in ("W009_level_1_neutral_001.mp4", "W009_level_3_happy_001.mp4"):
        (tmp_path / name).symlink_to(pairs / name)
    (tmp_path / "W009_happy.mp4").symlink_to(pairs / "W009_level_3_happy_001.mp4")  # not a take's name
    args = ["--pairs", str(tmp_path), "--actors", "W009", "--targets", "neutral", "--sources", "happy",
            "--readers", "dlib"]
    assert main(args + ["--arms", "warp"]) == 0
    out = capsys.readouterr().out
    assert "### read by dlib" in out and "facemesh" not in out
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in out.splitlines()
            if line.startswith("| neutral |")]
    assert len(rows) == 1, out
    target, arm, mode, takes, before, after, change, nearer = rows[0]
    assert (arm, mode, takes) == ("warp", "absolute", "1") and nearer in ("0/1", "1/1")
    assert all(math.isfinite(float(v)) and float(v) > 0 for v in (before, after)), rows[0]
    assert change.endswith("%")

    with pytest.raises(SystemExit) as e:
        main(args + ["--arms", "warp,no-such-engine"])
    assert isinstance(e.value.code, str) and "no-such-engine" in e.value.code and "\n" not in e.value.code


@pytest.mark.shared
def test_engine_frames_writes_one_picture_per_emotion(shared_data, tmp_path, capsys):
    """benchmarks.engine_frames: input and each engine's edit of one frame, side by side."""
    import cv2

    from benchmarks import engine_frames

    out = tmp_path / "frames"
    assert engine_frames.main([str(out), "--clips", "wild/0Fi83BHQsMA_00002.mp4", "--emotions", "happy",
                               "--engines", "warp,meshwarp", "--seconds", "1"]) == 0
    png = out / "0Fi83BHQsMA_00002.happy.png"
    image = cv2.imread(str(png))
    assert image.shape == (320, 3 * 320, 3)
    # below the labels: the faces themselves
    before, warp, mesh = (image[40:, k * 320:(k + 1) * 320].astype(np.float32) for k in range(3))
    assert np.abs(warp - before).mean() > 0.5 and np.abs(mesh - before).mean() > 0.5  # both edited
