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
