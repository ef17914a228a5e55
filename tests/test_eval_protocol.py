"""`stccl eval --data PREP`: the protocol runner on a small synthetic prepared set whose actors
are named like two MEAD test actors (built from the shared clips, 2 s each, 640x360)."""

import json
import subprocess

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from stccl.emotions import EMOTIONS
from stccl.eval.fad import ResNetFace18
from stccl.eval.protocol import MEAD_TEST, PROTOCOLS, RAVDESS_TEST, cross_map
from stccl.models.classifier import EmotionClassifier
from stccl.models.config import ClassifierConfig
from stccl.models.generator import Generator, GeneratorConfig
from stccl.models.io import save_model
from stccl.video import ffmpeg_exe
from stccl_cli.main import app

runner = CliRunner()

# actor -> [(emotion, level, shared clip, start s, extra filter)]: each actor's own face, 2 s cuts;
# the "happy" takes are other stretches of the same clips (labels are synthetic)
TREE = {
    "M003": [("neutral", 1, "M003_level_1_happy_024.mp4", 0.0, ""),
             ("happy", 3, "M003_level_1_happy_024.mp4", 0.5, "")],
    "W015": [("neutral", 1, "W015_level_1_neutral_030.mp4", 0.0, ""),
             ("happy", 3, "W015_level_1_neutral_030.mp4", 2.5, ",eq=saturation=1.2")],
}


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def test_actor_prep(shared_data, tmp_path_factory):
    """MEAD layout (<actor>/video/front/<emotion>/level_<k>/001.mp4) -> `stccl prep` -> PREP."""
    tmp = tmp_path_factory.mktemp("protocol")
    for actor, takes in TREE.items():
        for emotion, level, name, start, extra in takes:
            dst = tmp / "MEAD" / actor / "video" / "front" / emotion / f"level_{level}" / "001.mp4"
            dst.parent.mkdir(parents=True)
            subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-ss", str(start), "-t", "2",
                            "-i", str(shared_data / "mead" / name), "-vf", f"scale=640:360{extra}",
                            "-r", "25", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(dst)],
                           check=True)
    prep = tmp / "prep"
    r = runner.invoke(app, ["prep", str(tmp / "MEAD"), "-o", str(prep), "--tracker", "dlib"])
    assert r.exit_code == 0, r.output
    return prep


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Tiny random generators (STCCL loss weight 1 and 0), a random classifier, random FAD net."""
    tmp = tmp_path_factory.mktemp("weights")
    out = {}
    for name, w in (("stccl", 1.0), ("base", 0.0)):
        cfg = GeneratorConfig(size=64, base_channels=8, n_down=2, n_res=1)
        g = Generator(cfg)
        with torch.no_grad():  # untrained heads start at zero (no change): make them move pixels
            for p in g.parameters():
                p.add_(torch.randn_like(p) * 0.02)
        out[name] = tmp / f"{name}.safetensors"
        save_model(g, cfg, out[name], kind="generator", extra={"steps": 0, "loss": {"stccl": w}})
    cfg = ClassifierConfig(size=64, base_channels=8)
    out["classifier"] = tmp / "classifier.safetensors"
    save_model(EmotionClassifier(cfg).eval(), cfg, out["classifier"], kind="classifier",
               extra={"steps": 0, "emotions": list(EMOTIONS)})
    out["arcface18"] = tmp / "resnet18_110.pth"
    torch.save({f"module.{k}": v for k, v in ResNetFace18().state_dict().items()}, out["arcface18"])
    return out


def test_protocol_tables():
    assert MEAD_TEST == ("M003", "M009", "W029", "M012", "M030", "W015")
    assert cross_map(MEAD_TEST) == {"M003": "W015", "M009": "M003", "W029": "M009", "M012": "W029",
                                    "M030": "M012", "W015": "M030"}
    assert cross_map(RAVDESS_TEST)["Actor_01"] == "Actor_06"
    assert PROTOCOLS["mead-intra"].reference("M009") == "M009"
    assert PROTOCOLS["ravdess-cross"].reference("Actor_03") == "Actor_02"
    assert len(PROTOCOLS["mead-intra"].targets) == 7 and "calm" not in PROTOCOLS["ravdess-intra"].targets


def test_intra_protocol_writes_json_table_and_chart(test_actor_prep, weights, tmp_path):
    out = tmp_path / "eval"
    r = runner.invoke(app, ["eval", "--data", str(test_actor_prep), "--protocol", "mead-intra",
                            "--weights", str(weights["stccl"]), "--weights-no-stccl", str(weights["base"]),
                            "--classifier", str(weights["classifier"]), "--emotions", "happy,sad",
                            "--max-frames", "20", "-o", str(out), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res == json.loads((out / "eval.json").read_text())
    assert list(res["engines"]) == ["warp", "neural", "neural-no-stccl"]
    assert (res["tracker"], res["tracked_by"], res["warning"]) == ("mesh", "dlib", None)  # PREP's tracker drove the edits
    assert res["engines"]["neural"]["stccl_loss_weight"] == 1.0
    assert res["engines"]["neural-no-stccl"]["stccl_loss_weight"] == 0.0
    assert res["actors"] == {"M003": {"reference": "M003", "neutral_clips": ["M003_front_neutral_1_001"]},
                             "W015": {"reference": "W015", "neutral_clips": ["W015_front_neutral_1_001"]}}
    assert set(res["missing_actors"]) == {"M009", "W029", "M012", "M030"}
    assert res["weights"]["classifier"].startswith(str(weights["classifier"]))
    assert res["weights"]["arcface18"] == "not given: skipped" and "fad" in res["skipped"]
    assert len(res["clips"]) == 2 * 3 * 2  # clips x engines x emotions
    for eng, t in res["table"].items():
        assert list(t) == ["happy", "sad", "avg"]
        happy = t["happy"]
        assert 0.5 < happy["mouth_corr"] <= 1 and happy["m_lmd"] >= 0
        assert 0 <= happy["emotion_acc"] <= 1 and happy["fad"] is None
        assert happy["bg_psnr"] > 60  # the change is limited to the face mask
    warp = res["table"]["warp"]["avg"]
    assert warp["expr_shift_ratio"] > 0.3 and warp["expr_cos"] > 0.5  # the warp follows its prototypes
    assert any("no sad clip" in n for n in res["notes"])
    md = (out / "eval.md").read_text()
    for text in ("# stccl eval: mead-intra", "## Mean over emotions", "### M-LMD", "| warp |",
                 "| neural-no-stccl |", "| engine | happy | sad | avg |", "## Skipped",
                 "reader: mesh (the edits were tracked by dlib)"):
        assert text in md, text
    png = cv2.imread(str(out / "eval.png"))
    assert png is not None and png.shape[1] >= 700 and png.shape[0] > 1000
    assert len(np.unique(png.reshape(-1, 3), axis=0)) > 50  # bars, text and colours were drawn


def test_cross_protocol_maps_references_and_scores_fad(test_actor_prep, weights, tmp_path):
    out = tmp_path / "cross"
    r = runner.invoke(app, ["eval", "--data", str(test_actor_prep), "--protocol", "mead-cross",
                            "--emotions", "happy,sad", "--max-frames", "12", "--real-frames", "16",
                            "--arcface18", str(weights["arcface18"]), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "wrote" in r.stdout and "warp" in r.stdout
    res = json.loads((out / "eval.json").read_text())
    assert {a: v["reference"] for a, v in res["actors"].items()} == {"M003": "W015", "W015": "M030"}
    assert any("M030: no happy clip" in n for n in res["notes"])
    assert list(res["engines"]) == ["warp"]
    assert res["weights"]["arcface18"] == str(weights["arcface18"])
    fad = {(p["actor"], p["emotion"]): p.get("fad") for p in res["per_actor"]}
    assert fad[("M003", "happy")] >= 0  # M003's edits against W015's real happy frames
    assert fad[("W015", "happy")] is None and fad[("M003", "sad")] is None  # no real set
    assert res["table"]["warp"]["happy"]["fad"] == fad[("M003", "happy")]
    assert "### FAD" in (out / "eval.md").read_text()
    assert (out / "eval.png").is_file() and (out / "eval.md").is_file()


def test_protocol_errors_are_one_line(tmp_path):
    prep = tmp_path / "prep"
    prep.mkdir()
    (prep / "index.jsonl").write_text(json.dumps({"id": "X", "actor": "M999", "emotion": "neutral",
                                                  "status": "ok"}) + "\n")
    for args, expect in (
        (["--data", str(prep), "-o", str(tmp_path / "o")], "no mead-intra test actor"),
        (["--data", str(prep)], "needs -o"),
        (["--data", str(prep), "-o", str(tmp_path / "o"), "--protocol", "lrs3"], "unknown protocol"),
        (["--data", str(tmp_path / "missing"), "-o", str(tmp_path / "o")], "not a prepared dataset"),
        (["in.mp4", "--data", str(prep), "-o", str(tmp_path / "o")], "not both"),
        (["--data", str(prep), "-o", str(tmp_path / "o"), "-e", "sad"], "cannot be used with --data"),
        (["a.mp4", "b.mp4", "--weights", "g.safetensors"], "cannot be used with INPUT EDITED"),
    ):
        r = runner.invoke(app, ["eval", *args])
        assert r.exit_code != 0
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and expect in lines[0], (args, r.stderr)


@pytest.fixture
def dummy_engine():
    """tests/dummy_plugins.py's engines and trackers registered for this test only."""
    import dummy_plugins

    dummy_plugins.register()
    yield dummy_plugins
    dummy_plugins.unregister()


def test_protocol_scores_a_registered_engine_with_no_other_change(test_actor_prep, dummy_engine, tmp_path):
    """An engine registered outside the library is one of the protocol's columns: by default
    (it needs no weights) and by name; its edits are scored like warp's."""
    from stccl.eval.config import EvalConfig
    from stccl.eval.engines import engine_columns
    from stccl.eval.protocol import run_protocol

    assert [c for c, _, _ in engine_columns(EvalConfig())] == ["warp", "dummy-shift"]
    res = run_protocol(test_actor_prep, tmp_path / "ev", EvalConfig(engines=["dummy-shift", "warp"],
                       emotions=["happy"], max_frames=12, real_frames=8))
    assert list(res["engines"]) == ["dummy-shift", "warp"]
    rows = {(r["engine"], r["actor"]): r["metrics"] for r in res["clips"]}
    assert {e for e, _ in rows} == {"dummy-shift", "warp"} and len(rows) == 4
    for actor in ("M003", "W015"):  # it moved every face (8 crop px up: 0.019 IOD read; an unchanged pass reads about 0.005)
        assert rows[("dummy-shift", actor)]["f_lmd"] > 0.01, rows[("dummy-shift", actor)]
    assert "dummy-shift" in res["table"] and "| dummy-shift |" in (tmp_path / "ev" / "eval.md").read_text()
