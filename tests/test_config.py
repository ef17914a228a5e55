import pytest

from stccl.config import PrepConfig, load_toml, overlay, save_toml
from stccl.errors import InputError
from stccl_cli.common import resolve_config


def test_toml_round_trip(tmp_path):
    cfg = overlay(PrepConfig(), {"workers": 3, "track": {"detect_every": 5}, "align": {"size": 128}})
    save_toml(cfg, tmp_path / "c.toml")
    back = overlay(PrepConfig(), load_toml(tmp_path / "c.toml"))
    assert back == cfg
    assert back.track.detect_every == 5 and back.track.max_gap == PrepConfig().track.max_gap


def test_cli_beats_file_beats_default(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("workers = 4\nshard = '2/3'\n[align]\nsize = 192\n")
    cfg = resolve_config(PrepConfig(), f, {"workers": 2})
    assert cfg.workers == 2  # CLI
    assert cfg.shard == "2/3" and cfg.align.size == 192  # file
    assert cfg.layout == "auto"  # default


def test_unknown_keys_and_bad_toml(tmp_path):
    with pytest.raises(InputError, match="nope"):
        overlay(PrepConfig(), {"track": {"nope": 1}})
    f = tmp_path / "bad.toml"
    f.write_text("= broken")
    with pytest.raises(InputError, match="TOML"):
        load_toml(f)


# ---- typed values: a wrong type or an unknown choice is one line that names the key ----------

from stccl.config import EditConfig, validate  # noqa: E402
from stccl.typed import ConfigError, describe  # noqa: E402


def test_types_and_choices_are_checked():
    for bad, message in [
        ({"intensity": "abc"}, 'f.toml: intensity must be a number, got "abc"'),
        ({"emotion": 3}, "f.toml: emotion must be a string, got 3"),
        ({"emotion": "joyful"}, "f.toml: emotion: unknown emotion 'joyful'"),
        ({"engine": "gan"}, 'f.toml: engine must be one of auto, neural, warp, meshwarp, got "gan"'),
        ({"track": {"tracker": "sfd"}}, "f.toml: track.tracker must be one of auto, mesh, fan, dlib"),
        ({"track": {"face": -1}}, "f.toml: track.face must be a face index"),
        ({"device": "tpu"}, "f.toml: device: unknown device 'tpu'"),
        ({"batch": True}, "f.toml: batch must be a whole number, got true"),
        ({"start": -2}, "f.toml: start must be at least 0, got -2.0"),
        ({"weights": 7}, "f.toml: weights must be a string, got 7"),
        ({"track": 3}, "f.toml: track must be a table, got 3"),
    ]:
        with pytest.raises(ConfigError) as e:
            overlay(EditConfig(), bad, "f.toml")
        assert str(e.value).startswith(message), (bad, str(e.value))
    with pytest.raises(ConfigError, match=r'levels\[1\] must be a whole number, got "x"'):
        overlay(PrepConfig(), {"levels": [1, "x"]}, "f.toml")


def test_values_are_normalised_and_validate_checks_python_built_configs():
    cfg = overlay(EditConfig(), {"emotion": " Sad", "intensity": 1, "start": 2})
    assert cfg.emotion == "sad" and isinstance(cfg.intensity, float) and cfg.start == 2.0
    with pytest.raises(ConfigError, match="intensity must be a number >= 0"):
        validate(EditConfig(intensity=float("nan")))


def test_field_help_comes_from_the_dataclass():
    info = describe(EditConfig, "track.tracker")
    assert info.default == "auto" and info.choices == ("auto", "mesh", "fan", "dlib")
    assert "landmark tracker" in info.doc


@pytest.mark.parametrize(("command", "toml", "message"), [
    ("edit", 'intensity = "abc"', 'intensity must be a number, got "abc"'),
    ("edit", '[track]\ntracker = "sfd"', 'track.tracker must be one of auto, mesh, fan, dlib, got "sfd"'),
    ("prep", 'workers = "two"', 'workers must be a whole number, got "two"'),
    ("prep", 'layout = "lrs3"', 'layout must be one of auto, mead, ravdess, folder, got "lrs3"'),
    ("train", '[metric.train]\nlr = "fast"', 'metric.train.lr must be a number, got "fast"'),
    ("train", '[generator.train]\namp = "fp16"', 'generator.train.amp must be one of auto, bf16, off'),
    ("eval", 'tracker = "sfd"', 'tracker must be one of auto, mesh, fan, dlib, got "sfd"'),
    ("eval", 'max_frames = 1.5', "max_frames must be a whole number, got 1.5"),
])
def test_cli_config_errors_are_one_line_naming_the_key(command, toml, message, tmp_path):
    from typer.testing import CliRunner

    from stccl_cli.main import app

    cfg = tmp_path / "talk.toml"
    cfg.write_text(toml + "\n")
    (tmp_path / "data").mkdir()
    args = {"edit": ["in.mp4"], "prep": [str(tmp_path / "data"), "-o", str(tmp_path / "out")],
            "train": ["--data", str(tmp_path / "data"), "-o", str(tmp_path / "run")],
            "eval": ["a.mp4", "b.mp4"]}[command]
    r = CliRunner().invoke(app, [command, *args, "--config", str(cfg)])
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.exit_code == 1 and len(lines) == 1, r.output
    assert lines[0] == f"error: --config {cfg}: {message}" or lines[0].startswith(f"error: --config {cfg}: {message}")
    assert not (tmp_path / "out").exists() and not (tmp_path / "run").exists()


def test_cli_option_errors_name_the_flag(tmp_path):
    from typer.testing import CliRunner

    from stccl_cli.main import app

    r = CliRunner().invoke(app, ["edit", "in.mp4", "--engine", "gan"])
    assert r.exit_code == 1 and 'error: --engine must be one of auto, neural, warp, meshwarp, got "gan"' in r.stderr
    r = CliRunner().invoke(app, ["train", "--data", str(tmp_path), "--lr", "-1"])
    assert r.exit_code == 1 and "error: --lr must be at least 0, got -1.0" in r.stderr


def test_the_python_api_checks_its_arguments_where_it_enters(tmp_path):
    from stccl import Editor

    with pytest.raises(ConfigError, match="intensity must be a number >= 0, got -1"):
        Editor(engine="warp", intensity=-1)
    with pytest.raises(ConfigError, match="unknown key.*colour"):
        Editor(engine="warp", colour="red")
    with pytest.raises(ConfigError, match="emotion: unknown emotion 'joyful'"):
        Editor(engine="warp").edit(tmp_path / "missing.mp4", emotion="joyful")


def test_eval_reads_its_config_file(shared_data, tmp_path):
    import json

    from typer.testing import CliRunner

    from stccl_cli.main import app

    clip = shared_data / "wild" / "0Fi83BHQsMA_00002.mp4"
    cfg = tmp_path / "eval.toml"
    cfg.write_text('max_frames = 6\nemotion = "Sad"\n[scoring]\nclassifier = "none.safetensors"\n')
    r = CliRunner().invoke(app, ["eval", str(clip), str(clip), "--json", "--config", str(cfg)])
    assert r.exit_code == 1 and "none.safetensors" in r.stderr  # the [scoring] table was read
    cfg.write_text('max_frames = 6\nemotion = "Sad"\n')
    r = CliRunner().invoke(app, ["eval", str(clip), str(clip), "--json", "--config", str(cfg)])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["frames"]["compared"] == 6 and res["emotion"] == "sad"
    r = CliRunner().invoke(app, ["eval", str(clip), str(clip), "--json", "--config", str(cfg),
                                 "--max-frames", "4"])
    assert json.loads(r.stdout)["frames"]["compared"] == 4  # the option beats the file
