"""`stccl inspect`: the correlation maps against naive loops, and pictures of real clips."""

import hashlib
import subprocess

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from stccl.errors import InputError, NoFaceError, WeightsError
from stccl.inspect import (
    disparity_map,
    inspect_correlations,
    match_map,
    second_frame_for,
    temporal_map,
    weight_map,
)
from stccl.models.correlation import NEIGHBOURS, CorrelationMetric, MetricConfig, adaptive_weights
from stccl.models.io import save_model
from stccl.video import VideoReader, ffmpeg_exe, probe
from stccl_cli.main import app

runner = CliRunner()
SMALL = MetricConfig(depth=18, size=64, centers=[16, 8, 4, 2])


def _sha(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _trim(src, dst, seconds):
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-i", str(src), "-t", str(seconds),
                    "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(dst)], check=True)
    return dst


@pytest.fixture(scope="module")
def clips(shared_data, tmp_path_factory):
    """Real clips cut short (1080p MEAD neutral and happy, a 480² wild clip), and a face image."""
    tmp = tmp_path_factory.mktemp("inspect_clips")
    out = {
        "neutral": _trim(shared_data / "mead" / "W015_level_1_neutral_030.mp4", tmp / "neutral.mp4", 1.0),
        "happy": _trim(shared_data / "mead" / "M003_level_1_happy_024.mp4", tmp / "happy.mp4", 0.6),
        "lrs3": shared_data / "wild" / "OzA6jRYjVQs_00004.mp4",
        "d20": _trim(shared_data / "wild" / "d20.mp4", tmp / "d20.mp4", 1.0),
    }
    for i, frame in enumerate(VideoReader(out["neutral"]).frames()):
        if i == 12:
            cv2.imwrite(str(tmp / "face.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            break
    out["image"] = tmp / "face.png"
    return out


@pytest.fixture(scope="module")
def metric_files(tmp_path_factory):
    """Small metric files: trained for 3 steps (VD), 0 steps, and a CM variant."""
    tmp = tmp_path_factory.mktemp("inspect_metrics")
    torch.manual_seed(1)
    files = {}
    for name, cfg, steps in [("trained", SMALL, 3), ("zero", SMALL, 0),
                             ("cm", MetricConfig(depth=18, size=64, centers=[16, 8, 4, 2],
                                                 variant="cm"), 5)]:
        files[name] = tmp / f"{name}.safetensors"
        save_model(CorrelationMetric(cfg), cfg, files[name], kind="metric", extra={"steps": steps})
    return files


def _read(png):
    img = cv2.imread(str(png))
    assert img is not None, f"{png} is not a readable picture"
    return img


# ---------------------------------------------------------------------------------------------
# The maps, against naive loops over positions and neighbours


@torch.no_grad()
def test_maps_equal_naive_loops():
    torch.manual_seed(3)
    metric = CorrelationMetric(SMALL).eval()
    fa, fb = torch.randn(1, 128, 5, 6), torch.randn(1, 128, 5, 6)
    disp, wts = disparity_map(fa)[0], weight_map(fa, 0.6)[0]
    match = match_map(metric, fa, fb, 2)[0]
    proj = metric.spatial_proj[1]
    assert disp.shape == (3, 4)
    for y in range(1, 4):
        for x in range(1, 5):
            d = [fa[0, :, y, x] - fa[0, :, y + dy, x + dx] for dy, dx in NEIGHBOURS]
            e = [fb[0, :, y, x] - fb[0, :, y + dy, x + dx] for dy, dx in NEIGHBOURS]
            assert disp[y - 1, x - 1] == pytest.approx(float(np.mean([float(v.norm()) for v in d])), rel=1e-5)
            w = adaptive_weights(torch.stack(d)[None], 0.6)[0].mean()
            assert wts[y - 1, x - 1] == pytest.approx(float(w), rel=1e-5)
            cos = [float(torch.nn.functional.cosine_similarity(proj(a), proj(b), dim=0))
                   for a, b in zip(d, e)]
            assert match[y - 1, x - 1] == pytest.approx(float(np.mean(cos)), abs=1e-5)
    assert torch.allclose(match_map(metric, fa, fa, 2), torch.ones(1, 3, 4), atol=1e-5)
    seq = torch.randn(4, 8, 3, 3)
    tm = temporal_map(seq)
    assert tm.shape == (3, 3, 3)
    assert tm[1, 2, 0] == pytest.approx(float((seq[1, :, 2, 0] - seq[2, :, 2, 0]).norm()), rel=1e-5)


def test_weights_are_boosted_only_past_the_threshold():
    feat = torch.zeros(1, 4, 3, 3)
    feat[0, :, 1, 1] = 10.0  # the centre differs hugely from all 8 neighbours
    assert weight_map(feat, 0.8)[0, 0, 0] > 1.9
    assert weight_map(feat * 0, 0.8)[0, 0, 0] == 1.0


def test_second_frame_is_at_the_same_relative_time():
    assert second_frame_for(60, 120, 63) == round(60 * 63 / 120)
    assert second_frame_for(119, 120, 63) == 62
    assert second_frame_for(5, 10, 1) == 0


# ---------------------------------------------------------------------------------------------
# Pictures of real clips


def test_video_png_untrained(clips, tmp_path):
    src = clips["neutral"]
    before = _sha(src)
    calls = []
    s = inspect_correlations(src, out=tmp_path / "v.png", device="cpu", tracker="dlib",
                             progress=lambda d, t: calls.append((d, t)))
    n = probe(src).frames
    assert s.untrained and s.metric.startswith("UNTRAINED metric (random weights)")
    assert s.panels == ["input", "disparity", "weights", "temporal"]
    assert s.frame == n // 2 and s.second_frame is None and s.stage == 2
    assert s.frame in s.strip and len(s.strip) == 10 and s.strip == list(range(s.strip[0], s.strip[0] + 10))
    assert s.map_size == (32, 32)
    img = _read(s.out)
    assert img.shape[1] == s.size[0] >= 1000 and img.shape[0] == s.size[1]
    lo, mean, hi = s.stats["disparity"]
    assert 0 <= lo < mean < hi
    assert s.stats["temporal"][2] > 0
    assert calls and calls[-1][0] == calls[-1][1]
    assert _sha(src) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.png"]  # no temporary left


def test_two_inputs_add_the_match_panel(clips, tmp_path):
    a, b = clips["neutral"], clips["happy"]
    one = inspect_correlations(a, out=tmp_path / "one.png", frame=20, tracker="dlib", device="cpu")
    two = inspect_correlations(a, b, out=tmp_path / "two.png", frame=20, tracker="dlib", device="cpu")
    same = inspect_correlations(a, a, out=tmp_path / "same.png", frame=20, tracker="dlib", device="cpu")
    assert "match" not in one.panels and "match" not in one.stats
    assert two.panels == ["input", "disparity", "weights", "match", "second", "temporal"]
    assert two.second_frame == round(20 * probe(b).frames / probe(a).frames)
    assert two.stats["disparity"] == pytest.approx(one.stats["disparity"])
    lo, mean, hi = two.stats["match"]
    assert -1 <= lo < hi <= 1 and mean < 0.999  # another face: its correlations differ
    assert same.stats["match"][0] == pytest.approx(1.0, abs=1e-4)  # the same face matches itself
    p1, p2 = _read(one.out), _read(two.out)
    assert p2.shape[1] > p1.shape[1]  # two more panels in the top row


def test_trained_metric_is_not_flagged(clips, metric_files, tmp_path):
    s = inspect_correlations(clips["image"], metric_path=metric_files["trained"],
                             out=tmp_path / "t.png", tracker="dlib", device="cpu")
    assert not s.untrained
    assert s.metric.startswith("metric: ") and "3 steps" in s.metric
    assert "IResNet-18" in s.metric and "size 64" in s.metric and "variant vd" in s.metric
    assert s.map_size == (16, 16) and s.panels == ["input", "disparity", "weights"]
    assert s.frame == 0 and s.strip == []
    z = inspect_correlations(clips["image"], metric_path=metric_files["zero"],
                             out=tmp_path / "z.png", tracker="dlib", device="cpu")
    assert z.untrained and z.metric.startswith("UNTRAINED metric (random weights)")
    _read(s.out), _read(z.out)


def test_cm_variant_has_no_adaptive_weights(clips, metric_files, tmp_path):
    s = inspect_correlations(clips["image"], clips["image"], metric_path=metric_files["cm"],
                             out=tmp_path / "cm.png", tracker="dlib", device="cpu", stage=3)
    assert "weights-off" in s.panels and "weights" not in s.stats
    assert s.stats["match"][0] == pytest.approx(1.0, abs=1e-4)
    assert s.map_size == (8, 8)


def test_stages_change_the_map(clips, tmp_path):
    sizes = {}
    for stage in (1, 4):
        s = inspect_correlations(clips["image"], out=tmp_path / f"s{stage}.png", stage=stage,
                                 tracker="dlib", device="cpu")
        sizes[stage] = s.map_size
    assert sizes == {1: (64, 64), 4: (8, 8)}


def test_video_output(clips, tmp_path):
    src = clips["lrs3"]
    calls = []
    s = inspect_correlations(src, out=tmp_path / "v.mp4", tracker="dlib", device="cpu",
                             progress=lambda d, t: calls.append((d, t)))
    info, out = probe(src), probe(tmp_path / "v.mp4")
    assert s.kind == "mp4" and s.frames_written == info.frames == out.frames
    assert (out.width, out.height) == s.size and out.width >= 1000
    assert out.fps == pytest.approx(info.fps)
    assert s.stats["temporal"][2] > s.stats["temporal"][0] >= 0
    assert calls[-1][0] == calls[-1][1]
    frames = list(VideoReader(tmp_path / "v.mp4").frames())
    assert not np.array_equal(frames[0], frames[len(frames) // 2])  # the picture follows the video


def test_prepared_clip_input(clips, tmp_path):
    tree = tmp_path / "in"
    tree.mkdir()
    (tree / "d20.mp4").symlink_to(clips["d20"])
    r = runner.invoke(app, ["prep", str(tree), "-o", str(tmp_path / "prep"), "--tracker", "dlib",
                            "--size", "128"])
    assert r.exit_code == 0, r.output
    clip = tmp_path / "prep" / "clips" / "d20"
    n = probe(clips["d20"]).frames
    s = inspect_correlations(clip, out=tmp_path / "c.png", frame=n - 1, device="cpu")
    assert s.frames == n and s.frame == n - 1 and s.strip[-1] == n - 1
    assert s.panels[-1] == "temporal"
    _read(s.out)
    with pytest.raises(InputError, match="prepared dataset"):
        inspect_correlations(tmp_path / "prep", out=tmp_path / "d.png")


def test_errors_are_stccl_errors(clips, tmp_path):
    img = clips["image"]
    with pytest.raises(InputError, match="stage"):
        inspect_correlations(img, out=tmp_path / "x.png", stage=0)
    with pytest.raises(InputError, match="frame"):
        inspect_correlations(img, out=tmp_path / "x.png", frame=1)
    with pytest.raises(InputError, match="video output"):
        inspect_correlations(img, out=tmp_path / "x.mp4")
    with pytest.raises(InputError, match="overwrite the input"):
        inspect_correlations(img, out=img)
    with pytest.raises(WeightsError):
        inspect_correlations(img, metric_path=tmp_path / "none.safetensors", out=tmp_path / "x.png")
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((240, 320, 3), 128, np.uint8))
    kept = tmp_path / "kept.png"
    kept.write_bytes(b"old")
    with pytest.raises(NoFaceError):
        inspect_correlations(blank, out=kept, tracker="dlib", overwrite=True)
    assert kept.read_bytes() == b"old"  # a failed run leaves an existing output as it was


# ---------------------------------------------------------------------------------------------
# The command


def test_cli_writes_and_summarises(clips, tmp_path):
    r = runner.invoke(app, ["inspect", str(clips["image"]), "-o", str(tmp_path / "o.png"),
                            "--tracker", "dlib", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert "wrote" in r.stdout and "o.png" in r.stdout and "UNTRAINED" in r.stdout
    _read(tmp_path / "o.png")


def test_cli_help_has_examples():
    r = runner.invoke(app, ["inspect", "--help"])
    assert r.exit_code == 0 and "Examples" in r.stdout and "stccl inspect" in r.stdout


@pytest.mark.parametrize("case", ["missing", "text_mp4", "stage7", "frame_past_end", "unsupported"])
def test_cli_bad_input_is_one_line(case, clips, tmp_path):
    args = {
        "missing": [str(tmp_path / "nope.mp4")],
        "text_mp4": [str(tmp_path / "text.mp4")],
        "stage7": [str(clips["image"]), "--stage", "7"],
        "frame_past_end": [str(clips["image"]), "--frame", "5"],
        "unsupported": [str(tmp_path / "notes.txt")],
    }[case]
    (tmp_path / "text.mp4").write_text("not a video\n")
    (tmp_path / "notes.txt").write_text("hello\n")
    watched = [tmp_path / "text.mp4", clips["image"]]
    before = [_sha(p) for p in watched]
    r = runner.invoke(app, ["inspect", *args, "-o", str(tmp_path / "o.png"), "--tracker", "dlib"])
    assert r.exit_code != 0
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), r.stderr
    assert "Traceback" not in r.output and "internal error" not in r.output
    assert not (tmp_path / "o.png").exists()
    assert [_sha(p) for p in watched] == before
