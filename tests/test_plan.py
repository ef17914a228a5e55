"""Emotion plans and regions as values: parsing, canonical forms, one-line errors that point at
the bad segment, plan files, output names (stccl.plan, stccl.edit.outputs)."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

from stccl.config import EditConfig, overlay
from stccl.edit.outputs import compare_output, default_output, is_edit_output
from stccl.edit.pipeline import schedule
from stccl.errors import InputError
from stccl.plan import check_regions, parse_plan, plan_text, read_plan_file, region_points
from stccl_cli.main import app


def test_a_plan_is_parsed_sorted_and_written_back_canonically():
    segs = parse_plan(" sad:0.7@6-12 , HAPPY@0-6,neutral@20-")
    assert [(s.emotion, s.intensity, s.start, s.end) for s in segs] == [
        ("happy", None, 0.0, 6.0), ("sad", 0.7, 6.0, 12.0), ("neutral", None, 20.0, None)]
    assert plan_text(segs) == "happy@0-6,sad:0.7@6-12,neutral@20-"
    assert parse_plan(plan_text(segs)) == segs


@pytest.mark.parametrize("text, says", [
    ("happy@0-6,sad", "segment 2 ('sad')"),
    ("happy@0-6,sad@6", "segment 2 ('sad@6'): the time span needs a dash"),
    ("happy@0-6,sda@6-8", "segment 2 ('sda@6-8'): unknown emotion 'sda'"),
    ("happy@0-6,sad@5-8", "segments 'happy@0-6' and 'sad@5-8' overlap"),
    ("happy@0-,sad@5-8", "segments 'happy@0-' and 'sad@5-8' overlap"),
    ("happy@4-2", "segment 1 ('happy@4-2'): the end (2 s) must be after the start (4 s)"),
    ("happy:x@0-2", "segment 1 ('happy:x@0-2'): intensity must be a number >= 0"),
    ("happy@-1-2", "segment 1 ('happy@-1-2')"),
    ("happy@a-2", "start must be a time in seconds"),
])
def test_a_bad_plan_names_its_segment(text, says):
    with pytest.raises(InputError, match=None) as e:
        parse_plan(text)
    assert says in str(e.value) and "\n" not in str(e.value)


def test_plan_files(tmp_path):
    good = tmp_path / "plan.toml"
    good.write_text('[[segment]]\nemotion = "Happy"\nstart = 0\nend = 6\n\n'
                    '[[segment]]\nemotion = "sad"\nintensity = 0.7\nstart = 6\n')
    assert plan_text(read_plan_file(good)) == "happy@0-6,sad:0.7@6-"
    cfg = overlay(EditConfig(), {"emotion": f"@{good}"}, "option")
    assert cfg.emotion == "happy@0-6,sad:0.7@6-"  # a plan file is read where the value is checked
    bad = tmp_path / "bad.toml"
    cases = ['[[segment]]\nemotion = "happy"\nstart = 0\nend = 6\n[[segment]]\nemotion = "sad"\nstart = 3\n',
             '[[segment]]\nemotion = "happy"\n', '[[segment]]\nemotion = "happy"\nstart = 0\nwhen = 3\n',
             'emotion = "happy"\n', "[[segment]\n"]
    says = ["overlap", "segment 1: needs an emotion and a start", "unknown keys ['when']",
            "needs [[segment]] tables", "not valid TOML"]
    for text, say in zip(cases, says):
        bad.write_text(text)
        with pytest.raises(InputError) as e:
            read_plan_file(bad)
        assert say in str(e.value), (text, str(e.value))
    with pytest.raises(InputError, match="plan file not found"):
        read_plan_file(tmp_path / "none.toml")


def test_regions_are_checked_and_name_their_points():
    assert check_regions("upper") == "brows,eyes"
    assert check_regions(" Mouth , brows") == "brows,mouth"
    assert check_regions("lower,eyes") == "eyes,mouth"
    assert region_points(None) is None
    upper = region_points("upper")
    assert set(upper) == set(range(17, 27)) | set(range(36, 48))  # the lower lids (AU6) are eyes
    assert set(region_points("lower")) == set(range(48, 68))
    for bad in ("nose", "", "upper,chin"):
        with pytest.raises(InputError, match="region"):
            check_regions(bad)


def test_output_names_of_plans_and_comparisons():
    src = Path("clips/talk.mp4")
    assert default_output(src, "happy@0-6,sad@6-") == Path("clips/talk.plan.mp4")
    assert default_output(src, "happy", codec="prores") == Path("clips/talk.happy.mov")
    assert default_output(src, "sad", codec="ffv1") == Path("clips/talk.sad.mkv")
    assert compare_output(Path("out/talk.plan.mp4")) == Path("out/talk.plan.compare.mp4")
    for name in ("talk.plan.mp4", "talk.happy.compare.mp4", "talk.plan.compare.mp4", "x.HAPPY.mp4",
                 "talk.sad.mov"):
        assert is_edit_output(Path(name)), name
    for name in ("talk.mp4", "plan.mp4", "my.compare.talk.mp4"):
        assert not is_edit_output(Path(name)), name


def test_a_plan_schedules_one_window_per_segment():
    info = SimpleNamespace(fps=25.0, duration=12.0)
    cfg = overlay(EditConfig(), {"emotion": "happy@0-6,sad:0.7@6-", "intensity": 0.8}, "option")
    windows = schedule(cfg, info)
    assert [(w.emotion, w.intensity, w.first, w.last) for w in windows] == [
        ("happy", 0.8, 0, 149), ("sad", 0.7, 150, None)]
    with pytest.raises(InputError, match="leave out --start/--end"):
        schedule(overlay(cfg, {"start": 1.0}, "option"), info)
    with pytest.raises(InputError, match="starts after the end of the video"):
        schedule(overlay(cfg, {"emotion": "happy@0-6,sad@13-"}, "option"), info)
    one = schedule(overlay(EditConfig(), {"emotion": "sad", "start": 2.0, "end": 4.0}, "option"), info)
    assert [(w.emotion, w.first, w.last) for w in one] == [("sad", 50, 99)]


def test_the_cli_says_what_is_wrong_with_a_plan_in_one_line(tmp_path):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"not read: the plan is refused first")
    before = video.read_bytes()
    for args, says in ((["-e", "happy@0-2,angri@2-4"], "unknown emotion 'angri'"),
                       (["-e", "happy@0-3,sad@2-4"], "overlap"),
                       (["-e", "happy", "--regions", "nose"], "unknown region 'nose'"),
                       (["-e", "happy", "--codec", "prores", "-o", str(tmp_path / "x.mp4")],
                        "--codec prores cannot go in .mp4")):
        r = CliRunner().invoke(app, ["edit", str(video), *args])
        assert r.exit_code != 0
        assert len(r.output.strip().splitlines()) == 1 and says in r.output, r.output
    assert video.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]


def test_the_warp_engine_moves_only_the_regions_asked_for():
    from stccl.edit.warp import WarpEngine, load_prototypes

    protos = load_prototypes()
    rng = np.random.default_rng(0)
    base = _frontal()
    lmk = (base + rng.normal(0, 0.3, base.shape)).astype(np.float32)[None]
    crops = np.empty((1, 3, 256, 256), np.float32)
    mouth, brows = list(range(48, 68)), list(range(17, 27))
    # surprised moves no mouth point (its jaw drop is speech's to keep): with `lower` nothing moves
    for emotion, regions, still, moving in (("happy", "upper", mouth, range(36, 48)),
                                            ("surprised", "lower", brows, None),
                                            ("fear", "lower", brows, mouth),
                                            ("angry", "brows", mouth + list(range(36, 48)), brows)):
        full = WarpEngine(absolute=False)
        part = WarpEngine(absolute=False, regions=regions)
        assert np.abs(protos[emotion][still]).max() > 0.02  # the emotion does move these points
        f_full = _flow_at(full(crops, lmk, emotion, np.ones(1, np.float32)).flow, lmk[0, still])
        flow = part(crops, lmk, emotion, np.ones(1, np.float32)).flow
        f_part = _flow_at(flow, lmk[0, still])
        assert np.abs(f_full).max() > 1.0  # px
        assert np.abs(f_part).max() < 0.15 * np.abs(f_full).max(), (emotion, regions)
        if moving is not None:
            assert np.abs(_flow_at(flow, lmk[0, list(moving)])).max() > 0.5, (emotion, regions)


def _frontal() -> np.ndarray:
    from stccl.edit.warp import load_expression_model

    model = load_expression_model()
    shape = np.asarray(model.neutral, np.float64)  # IOD units, eye centre at the origin
    return shape * 60 + 128


def _flow_at(flow: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(1,2,g,g) flow on a grid over the 256² crop, read at `points` (nearest node)."""
    g = flow.shape[-1]
    ij = np.clip(np.round(points / 255 * (g - 1)).astype(int), 0, g - 1)
    return np.stack([flow[0, :, j, i] for i, j in ij])
