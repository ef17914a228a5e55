"""`stccl eval` on one edit: metric functions, third-party model paths with random weights, a
real warp edit of a shared MEAD clip, and every kind of bad input."""

import json
import subprocess

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from stccl.emotions import EMOTIONS
from stccl.edit.warp import load_prototypes
from stccl.errors import WeightsError
from stccl.eval.arcface import TEMPLATE_112, ArcFaceR50, align_112, five_points
from stccl.eval.emonet import EmoNet
from stccl.eval.fad import ResNetFace18, fad_input, frechet_distance
from stccl.eval.landmarks import expression_shift, face_lmd, landmark_metrics
from stccl.eval.pixels import PSNR_CAP, PixelStats, psnr, ssim_map
from stccl.eval.syncnet import SyncNet, dct2_ortho, lse, mel_filterbank, mfcc, sync_crop
from stccl.eval.weights import load_into
from stccl.models.io import read_state_dict
from stccl.models.classifier import EmotionClassifier
from stccl.models.config import ClassifierConfig
from stccl.models.io import save_model
from stccl.video import ffmpeg_exe
from stccl_cli.main import app

runner = CliRunner()
M003 = "mead/M003_level_1_happy_024.mp4"
LRS3 = "wild/0Fi83BHQsMA_00002.mp4"  # 224², 25 fps, 41 frames, audio
LRS3_B = "wild/OzA6jRYjVQs_00004.mp4"  # 224², 25 fps, 27 frames, audio


@pytest.fixture(autouse=True)
def _one_thread():
    """The CPU is shared with other runs: one torch thread avoids oversubscription stalls."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _ffmpeg(*args):
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", *map(str, args)], check=True)


def _one_error_line(r):
    assert r.exit_code != 0
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), r.stderr
    assert "Traceback" not in r.output
    return lines[0]


def _face(seed=0) -> np.ndarray:
    """A plausible 68-point shape in image pixels (eyes level, 60 px apart) with jitter."""
    rng = np.random.default_rng(seed)
    pts = rng.normal(0, 8, (68, 2)) + [200, 230]
    for sl, centre in ((slice(36, 42), [170, 200]), (slice(42, 48), [230, 200])):
        j = rng.normal(0, 2, (6, 2))
        pts[sl] = centre + j - j.mean(0)  # eye centres exactly level, 60 px apart
    return pts


# -- metric functions --------------------------------------------------------------------------
def test_frechet_distance_matches_closed_form_and_scipy():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, (4000, 3)) * [1, 2, 3]
    b = rng.normal(0, 1, (4000, 3)) * [2, 2, 1] + [1, 0, 0]
    sa, sb = np.var(a, 0, ddof=1), np.var(b, 0, ddof=1)
    closed = ((a.mean(0) - b.mean(0)) ** 2).sum() + (sa + sb - 2 * np.sqrt(sa * sb)).sum()
    assert frechet_distance(a, b) == pytest.approx(closed, rel=0.02)  # off-diagonals are ~0
    from scipy import linalg

    x, y = rng.normal(size=(50, 8)), rng.normal(size=(40, 8)) @ rng.normal(size=(8, 8))
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    ref = ((x.mean(0) - y.mean(0)) ** 2).sum() + np.trace(s1 + s2 - 2 * linalg.sqrtm(s1 @ s2).real)
    assert frechet_distance(x, y) == pytest.approx(ref, rel=1e-6)
    assert frechet_distance(x, y) == pytest.approx(frechet_distance(y, x), rel=1e-6)
    assert frechet_distance(x, x) == pytest.approx(0, abs=1e-8)
    few = rng.normal(size=(5, 64))  # fewer samples than dimensions: singular covariances
    assert np.isfinite(frechet_distance(few, few + 1))
    with pytest.raises(ValueError):
        frechet_distance(x[:1], y)


def test_mfcc_follows_python_speech_features_conventions():
    from scipy.fft import dct

    x = np.random.default_rng(0).normal(size=(7, 26))
    assert np.allclose(x @ dct2_ortho(26).T, dct(x, type=2, axis=1, norm="ortho"))
    fb = mel_filterbank()
    assert fb.shape == (26, 257) and fb.max() <= 1 and (fb.sum(1) > 0).all()
    sig = np.random.default_rng(1).normal(0, 3000, 16000)  # 1 s in 16-bit scale
    m = mfcc(sig)
    assert m.shape == (1 + int(np.ceil((16000 - 400) / 160)), 13)  # 25 ms windows, 10 ms hop
    pre = np.append(sig[0], sig[1:] - 0.97 * sig[:-1])
    energy0 = (np.abs(np.fft.rfft(pre[:400], 512)) ** 2 / 512).sum()
    assert m[0, 0] == pytest.approx(np.log(energy0))  # c0 = log frame energy


def test_lse_finds_a_known_offset():
    rng = np.random.default_rng(0)
    aud = rng.normal(size=(60, 1024))
    shift = 3
    lip = np.full_like(aud, np.nan)
    lip[:-shift] = aud[shift:] + rng.normal(0, 0.01, (60 - shift, 1024))  # lip i = audio i + 3
    r = lse(lip, aud)
    assert r["offset"] == -shift
    assert r["lse_d"] < 1.0 and r["lse_c"] > 10
    assert np.isnan(lse(np.full_like(aud, np.nan), aud)["lse_d"])


def test_ssim_psnr_and_flicker():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (64, 80)).astype(np.float32)
    assert np.allclose(ssim_map(a, a), 1.0)
    noisy = np.clip(a + rng.normal(0, 20, a.shape), 0, 255).astype(np.float32)
    noisier = np.clip(a + rng.normal(0, 60, a.shape), 0, 255).astype(np.float32)
    assert 1 > ssim_map(a, noisy).mean() > ssim_map(a, noisier).mean()
    assert psnr(0.0) == PSNR_CAP and psnr(255.0 ** 2) == pytest.approx(0.0)
    frames = rng.integers(0, 256, (4, 40, 50, 3), dtype=np.uint8)
    face = np.zeros((40, 50), bool)
    face[10:30, 15:35] = True
    stats = PixelStats()
    for f in frames:
        g = f.copy()
        g[face] = 0  # the "edit" blanks the face: background identical, no flicker inside
        stats.add(f, g, face)
    r = stats.result()
    assert r["bg_psnr"] == PSNR_CAP and r["bg_ssim"] == pytest.approx(1.0, abs=1e-5)
    assert r["flicker_edited"] == 0 and r["flicker_input"] > 50 and r["flicker"] < -50


def test_landmark_metrics_identity_and_prototype_shift():
    a = np.stack([_face(s) for s in range(6)])
    a[:, 62, 1] += np.arange(6) * 3  # the mouth opens and closes: the opening varies
    m = landmark_metrics(a, a, None)
    assert m["m_lmd"] == 0 and m["f_lmd"] == 0 and m["mouth_corr"] == pytest.approx(1.0)
    assert m["width_corr"] == pytest.approx(1.0) and m["rounding_corr"] == pytest.approx(1.0)
    proto = load_prototypes()["happy"].copy()
    proto[36:48] = 0  # eye centres fixed: the normalisation does not move
    iod = 60.0
    b = a + proto * iod  # the eye line is horizontal, so IOD units map straight to pixels
    s = expression_shift(a, b, proto)
    assert s["expr_shift_ratio"] == pytest.approx(1.0, abs=1e-6)
    assert s["expr_cos"] == pytest.approx(1.0, abs=1e-6)
    assert s["expr_shift"] == pytest.approx(np.linalg.norm(proto), rel=1e-6)
    assert expression_shift(a, a - proto * iod, proto)["expr_cos"] == pytest.approx(-1.0, abs=1e-6)
    assert np.isnan(expression_shift(a, b, None)["expr_shift"])
    assert face_lmd(a, b) > 0
    b[2] = np.nan  # a frame without a face is left out
    assert np.isfinite(face_lmd(a, b))


def _speaking(n: int = 40) -> np.ndarray:
    """(n,68,2) pixels, IOD 60: the lower lip opens and closes (period 10 frames) while the corners
    48/54 spread and narrow (width 0.77..0.93 IOD, period 7): an "o" and an "ee" in turn."""
    base = _face(1)
    base[48], base[54] = [176, 265], [224, 265]  # corners 0.8 IOD apart
    out = []
    for k in range(n):
        f = base.copy()
        f[[56, 57, 58, 65, 66, 67], 1] += 9 + 6 * np.sin(2 * np.pi * k / 10)
        w = 0.85 - 0.08 * np.sin(2 * np.pi * k / 7 + 1)
        f[48, 0], f[54, 0] = 200 - 30 * w, 200 + 30 * w
        out.append(f)
    return np.stack(out)


def test_landmark_metrics_see_the_mouth_shape():
    """width_corr / rounding_corr: 1 where the output keeps the corners' motion under a constant
    offset; low where it holds them still; null (nan) where the input's width does not move."""
    a = _speaking()
    wider = a.copy()
    wider[:, 48, 0] -= 4  # a smile holds the corners 8 px (0.13 IOD) wider on every frame
    wider[:, 54, 0] += 4
    m = landmark_metrics(a, wider, None)
    assert m["mouth_corr"] == pytest.approx(1.0) and m["width_corr"] == pytest.approx(1.0)
    assert m["rounding_corr"] > 0.98
    held = a.copy()
    held[:, 48, 0], held[:, 54, 0] = 174.5, 225.5  # the width no longer follows the speech
    held[:, 54, 0] += np.random.default_rng(3).normal(0, 0.3, len(a))  # a tracker's jitter
    m = landmark_metrics(a, held, None)
    assert m["mouth_corr"] == pytest.approx(1.0) and abs(m["width_corr"]) < 0.4
    still = a.copy()
    still[:, 48, 0], still[:, 54, 0] = 175, 225  # the input's width does not move
    m = landmark_metrics(still, a, None)
    assert np.isnan(m["width_corr"]) and np.isfinite(m["rounding_corr"])  # its rounding still does


def test_shape_metrics_are_reported_like_mouth_corr():
    """In METRICS (the JSON schema, the one-edit table), the protocol's key metrics, eval.md and the chart."""
    from stccl.eval.metrics import KEY_METRICS, METRICS
    from stccl.eval.report import chart, markdown

    for k, label in (("width_corr", "mouth-width corr"), ("rounding_corr", "mouth-rounding corr")):
        assert (METRICS[k].label, METRICS[k].unit, METRICS[k].better) == (label, "-1..1", "higher")
        assert k in KEY_METRICS
    cell = {"mouth_corr": 0.95, "width_corr": 0.9, "rounding_corr": 0.8, "m_lmd": 0.02, "bg_psnr": 50.0}
    result = {"protocol": "mead-intra", "data": "prep", "emotions": ["happy"], "tracker": "dlib",
              "tracked_by": "mesh", "real_set": "input", "weights": {}, "stccl_version": "0", "seconds": 1,
              "actors": {"M003": {"reference": "M003", "neutral_clips": ["c"]}}, "engines": {"warp": {"weights": "-"}},
              "table": {"warp": {"happy": cell, "avg": cell}}}
    md = markdown(result)
    assert "mouth-width corr ↑" in md and "mouth-rounding corr ↑" in md
    assert "### mouth-width corr (-1..1, higher is better)" in md and "| warp | 0.900 | 0.900 |" in md
    assert "### mouth-rounding corr (-1..1, higher is better)" in md and "| warp | 0.800 | 0.800 |" in md
    five = chart({**result, "table": {"warp": {g: {"mouth_corr": 0.9, "m_lmd": 0.02} for g in ("happy", "avg")}}})
    assert chart(result).shape[0] > five.shape[0]  # a panel each


def test_align_112_puts_five_points_on_insightface_template():
    lmk = _face()
    lmk[30] = [200, 235]
    lmk[48], lmk[54] = [175, 265], [225, 265]
    img = np.zeros((400, 400, 3), np.uint8)
    for p in five_points(lmk):
        cv_p = tuple(int(round(v)) for v in p)
        img[cv_p[1] - 1:cv_p[1] + 2, cv_p[0] - 1:cv_p[0] + 2] = 255
    out = align_112(img, lmk)
    assert out.shape == (112, 112, 3)
    ys, xs = np.nonzero(out[..., 0] > 60)
    assert np.abs(np.array([xs.mean(), ys.mean()]) - TEMPLATE_112.mean(0)).max() < 6


# -- third-party model definitions with random weights -------------------------------------------
@pytest.mark.parametrize("name", ["arcface", "arcface18", "expression", "syncnet"])
def test_models_shapes_and_weight_files_round_trip(name, tmp_path):
    net, x = {
        "arcface": (ArcFaceR50(), torch.rand(2, 3, 112, 112)),
        "arcface18": (ResNetFace18(), torch.rand(2, 1, 128, 128) * 2 - 1),
        "expression": (EmoNet(8), torch.rand(1, 3, 256, 256)),
        "syncnet": (SyncNet(), torch.rand(2, 3, 5, 224, 224) * 255),
    }[name]
    net.eval()

    def run(m):
        with torch.no_grad():
            if name == "arcface":
                return m.embed(x)
            if name == "syncnet":
                return torch.cat([m.forward_lip(x), m.forward_aud(torch.randn(2, 1, 13, 20))], 1)
            return m(x)

    torch.manual_seed(1)
    y = run(net)
    dim = {"arcface": 512, "arcface18": 512, "expression": 256, "syncnet": 2048}[name]
    assert y.shape == (len(x), dim) and torch.isfinite(y).all()
    # saved the ways the upstream checkpoints are: plain, DataParallel-prefixed, wrapped, safetensors
    state = {k: v.clone() for k, v in net.state_dict().items()}
    path = tmp_path / "w.pth"
    if name == "arcface18":
        torch.save({f"module.{k}": v for k, v in state.items()}, path)
    elif name == "expression":
        torch.save({"state_dict": state}, path)
    elif name == "syncnet":
        from safetensors.torch import save_file

        path = tmp_path / "w.safetensors"
        save_file({k: v.contiguous() for k, v in state.items() if "num_batches" not in k}, str(path))
    else:
        torch.save(state, path)
    fresh = type(net)(8) if name == "expression" else type(net)()
    load_into(fresh, path, name)
    torch.manual_seed(1)
    assert torch.allclose(run(fresh), y, atol=1e-5)


def test_weights_mismatch_names_the_keys(tmp_path):
    state = ResNetFace18().state_dict()
    state.pop("fc5.weight")
    state["extra.weight"] = torch.zeros(3)
    state["bn5.bias"] = torch.zeros(7)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError) as e:
        load_into(ResNetFace18(), path, "resnet_face18")
    msg = str(e.value)
    assert "1 missing key fc5.weight" in msg and "1 unexpected key extra.weight" in msg
    assert "bn5.bias: the model's (512,), the file's (7,)" in msg
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError):
        read_state_dict(tmp_path / "junk.pth")
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(WeightsError, match="not a state dict"):
        read_state_dict(tmp_path / "list.pth")


def test_fad_input_and_sync_crop_geometry():
    crop = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    g = fad_input(crop)
    assert g.shape == (128, 128) and g.dtype == np.float32 and -1 <= g.min() < g.max() <= 1
    lmk = _face() * 0.6
    s = sync_crop(crop, lmk)
    assert s.shape == (224, 224, 3) and s.dtype == np.uint8


# -- real clips ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def warp_edit(shared_data, tmp_path_factory):
    """M003 edited to sad by the warp engine over its first 2 s (the rest passes through)."""
    out = tmp_path_factory.mktemp("eval") / "M003.sad.mp4"
    r = runner.invoke(app, ["edit", str(shared_data / M003), "--emotion", "sad", "--engine", "warp",
                            "--tracker", "dlib", "--end", "2", "-o", str(out)])
    assert r.exit_code == 0, r.output
    return shared_data / M003, out


def test_eval_of_a_warp_edit(warp_edit):
    src, out = warp_edit
    r = runner.invoke(app, ["eval", str(src), str(out), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)  # stdout holds only the JSON
    m = res["metrics"]
    print(json.dumps(m, indent=1))
    assert res["emotion"] == "sad"  # read from the output's name
    assert (res["tracker"], res["tracked_by"], res["warning"]) == ("mesh", "dlib", None)  # not its own tracker
    assert res["frames"]["compared"] == 63 and res["frames"]["both_face"] >= 60
    assert m["mouth_corr"] > 0.95  # the warp keeps every frame's lip opening
    for k in ("width_corr", "rounding_corr"):  # null only where the input's width / rounding does not move
        assert k in m and k not in res["skipped"] and (m[k] is None or -1 <= m[k] <= 1), k
    assert m["rounding_corr"] is not None and m["rounding_corr"] > 0.8  # it follows the opening
    assert m["m_lmd"] < 0.05
    assert m["expr_shift_ratio"] > 0.3 and m["expr_cos"] > 0.6  # moved toward the sad prototype
    assert m["bg_psnr"] > 38 and m["bg_ssim"] > 0.98  # outside the face only the re-encode differs
    assert abs(m["flicker"]) < 0.5
    for k in ("fad", "identity_cos", "expr_sim", "lse_d", "emotion_acc"):
        assert m[k] is None and k in res["skipped"]
    for k in ("arcface", "arcface18", "expression", "syncnet"):
        assert res["weights"][k] == "not given: skipped"


def test_eval_prints_a_table(warp_edit):
    src, out = warp_edit
    r = runner.invoke(app, ["eval", str(src), str(out), "--max-frames", "10", "--emotion", "sad"])
    assert r.exit_code == 0, r.output
    for text in ("mouth-opening corr", "mouth-width corr", "mouth-rounding corr", "M-LMD", "background PSNR",
                 "skipped", "weights used",
                 "not given: skipped", "target: sad", "reader: mesh (the edit was tracked by dlib)"):
        assert text in r.stdout, text


def test_video_against_itself(shared_data):
    src = shared_data / M003
    r = runner.invoke(app, ["eval", str(src), str(src), "--json", "--max-frames", "20", "-e", "happy"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert (res["tracker"], res["tracked_by"]) == ("dlib", None)  # no stccl_tracker tag: dlib reads it
    m = res["metrics"]
    assert m["m_lmd"] == 0 and m["f_lmd"] == 0 and m["expr_shift"] == 0
    assert m["mouth_corr"] == pytest.approx(1.0)
    assert m["rounding_corr"] == pytest.approx(1.0) and (m["width_corr"] is None or m["width_corr"] == pytest.approx(1.0))
    assert m["bg_psnr"] == PSNR_CAP and m["bg_ssim"] == pytest.approx(1.0) and m["flicker"] == 0


def test_the_reader_is_not_the_tracker_that_drove_the_edit():
    from stccl.eval.reader import pick_reader

    assert pick_reader("auto", "mesh") == ("dlib", None)
    assert pick_reader("auto", None) == ("dlib", None)  # an edit that names no tracker
    assert pick_reader("auto", "dlib") == ("mesh", None)
    assert pick_reader("auto", "fan") == ("mesh", None)
    assert pick_reader("fan", "mesh") == ("fan", None)  # an asked reader is kept
    reader, warning = pick_reader("mesh", "mesh")
    assert reader == "mesh" and "self-agreement" in warning


def test_a_mesh_edit_is_read_by_dlib(shared_data, tmp_path):
    src, edited = shared_data / LRS3, tmp_path / "lrs3.sad.mp4"
    r = runner.invoke(app, ["edit", str(src), "-e", "sad", "--engine", "warp", "--end", "0.6", "-o", str(edited)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["eval", str(src), str(edited), "--max-frames", "8"])
    assert r.exit_code == 0, r.output
    assert "reader: dlib (the edit was tracked by mesh)" in r.stdout
    assert "warning" not in r.stderr


def test_reading_an_edit_with_its_own_tracker_warns(warp_edit):
    src, out = warp_edit  # tracked by dlib
    r = runner.invoke(app, ["eval", str(src), str(out), "--tracker", "dlib", "--max-frames", "8", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)  # the warning goes to stderr: stdout holds only the JSON
    assert (res["tracker"], res["tracked_by"]) == ("dlib", "dlib") and "self-agreement" in res["warning"]
    lines = [ln for ln in r.stderr.splitlines() if ln.strip().startswith("warning:")]
    assert len(lines) == 1 and "own tracker (dlib)" in lines[0], r.stderr


def test_third_party_metrics_with_random_weights(shared_data, tmp_path):
    """Every third-party path and the classifier, with randomly initialised weights saved here."""
    paths = {}
    for name, net in (("arcface", ArcFaceR50()), ("arcface18", ResNetFace18()), ("expression", EmoNet(8)),
                      ("syncnet", SyncNet())):
        paths[name] = tmp_path / f"{name}.pth"
        torch.save(net.state_dict(), paths[name])
    cfg = ClassifierConfig(size=64, base_channels=8)
    paths["classifier"] = tmp_path / "classifier.safetensors"
    save_model(EmotionClassifier(cfg).eval(), cfg, paths["classifier"], kind="classifier",
               extra={"steps": 0, "emotions": list(EMOTIONS)})
    src = shared_data / LRS3
    edited = tmp_path / "lrs3.happy.mp4"
    r = runner.invoke(app, ["edit", str(src), "-e", "happy", "--engine", "warp", "--tracker", "dlib",
                            "-o", str(edited)])
    assert r.exit_code == 0, r.output
    args = [a for k, p in paths.items() for a in (f"--{k}", str(p))]
    r = runner.invoke(app, ["eval", str(src), str(edited), "--json", "--max-frames", "5",
                            "--reference", str(shared_data / LRS3_B), *args])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    m = res["metrics"]
    for k in ("emotion_acc", "emotion_acc_input", "fad", "identity_cos", "expr_sim", "lse_d", "lse_c",
              "lse_d_input", "lse_c_input"):
        assert m[k] is not None and np.isfinite(m[k]), k
    assert not res["skipped"]
    assert 0 <= m["emotion_acc"] <= 1 and m["fad"] >= 0 and -1 <= m["identity_cos"] <= 1
    assert m["lse_d"] > 0 and abs(m["lse_offset"]) <= 10
    assert res["weights"]["arcface"] == str(paths["arcface"])
    assert res["weights"]["classifier"].startswith(str(paths["classifier"]))
    assert res["real_set"] == str(shared_data / LRS3_B)
    # weights of the wrong network: one line naming the keys
    line = _one_error_line(runner.invoke(app, ["eval", str(src), str(edited), "--arcface",
                                               str(paths["arcface18"])]))
    assert "does not fit ArcFace" in line and "missing keys" in line


def test_bad_inputs_are_one_line(shared_data, tmp_path):
    a, b = shared_data / LRS3, shared_data / LRS3_B
    assert "no such file" in _one_error_line(runner.invoke(app, ["eval", str(a), str(tmp_path / "x.mp4")]))
    assert "cannot align frames" in _one_error_line(runner.invoke(app, ["eval", str(a), str(b)]))
    small = tmp_path / "small.mp4"
    _ffmpeg("-i", a, "-vf", "scale=112:112", "-c:v", "libx264", "-preset", "ultrafast", small)
    assert "112x112" in _one_error_line(runner.invoke(app, ["eval", str(a), str(small)]))
    blank = tmp_path / "blank.mp4"
    _ffmpeg("-f", "lavfi", "-i", "color=c=gray:s=160x120:r=25:d=0.4", "-c:v", "libx264", blank)
    assert "no face" in _one_error_line(runner.invoke(app, ["eval", str(blank), str(blank)]))
    assert "INPUT and EDITED" in _one_error_line(runner.invoke(app, ["eval", str(a)]))
    assert "unknown emotion" in _one_error_line(runner.invoke(app, ["eval", str(a), str(a), "-e", "glad"]))
    assert "not found" in _one_error_line(runner.invoke(app, ["eval", str(a), str(a), "--classifier",
                                                              str(tmp_path / "none.safetensors")]))


def test_help_has_examples():
    r = runner.invoke(app, ["eval", "--help"])
    assert r.exit_code == 0 and "Examples" in r.stdout and "stccl eval" in r.stdout
