"""The plug-in seams (stccl.registry): trackers and engines registered outside the library
(tests/dummy_plugins.py) are listed by the command line, run an edit, and get what their
entries declare, not what their names say; unknown names are one line everywhere; weights are
found through one declared table."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stccl.config import EditConfig, PrepConfig, load_toml, overlay
from stccl.errors import InputError
from stccl.registry import ENGINES, TRACKERS
from stccl.typed import ConfigError

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


@pytest.fixture
def plugins():
    import dummy_plugins

    dummy_plugins.register()
    for seen in dummy_plugins.SEEN.values():
        seen.clear()
    yield dummy_plugins
    dummy_plugins.unregister()


@pytest.fixture(scope="module")
def short_clip(shared_data, tmp_path_factory):
    from benchmarks.readback import cut

    return cut(shared_data / "wild" / "OzA6jRYjVQs_00004.mp4", 0.64, tmp_path_factory.mktemp("clip") / "ozA6.mp4")


def _fit_checks(monkeypatch) -> list:
    """Count the mouth-fit checks (stccl.face.spread.fit_spread) the edit's face streams run."""
    from stccl.face import stream

    calls = []
    real = stream.fit_spread

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(stream, "fit_spread", counted)
    return calls


@pytest.mark.parametrize("tracker,kind,also,checks", [("dummy-luma", "grey", set(), True),
                                                       ("dummy-rgb", "rgb", set(), False),
                                                       ("dummy-planes", "planes", {"rgb"}, False)])
def test_a_trackers_declared_capabilities_decide_pipes_and_fit_check(plugins, short_clip, tmp_path,
                                                                      monkeypatch, tracker, kind, also, checks):
    """One that declares luma and a mouth-fit check is given the luma plane of yuv420p frames
    and has its fit checked; one that declares neither gets RGB frames and no check; one that
    declares planes gets the luma plane carrying its chroma (and RGB regions for the detection
    check, made from them)."""
    from stccl import Editor
    from stccl.video import probe

    calls = _fit_checks(monkeypatch)
    out = tmp_path / "e.mp4"
    s = Editor(engine="warp", tracker=tracker).edit(short_clip, emotion="happy", out=out)  # pipes auto
    seen = set(plugins.SEEN[tracker])
    assert kind in seen and seen <= {kind} | also, seen
    assert bool(calls) is checks and (len(calls) >= s.frames // 8 if checks else True)
    assert s.edited_frames == s.frames == probe(short_clip).frames == probe(out).frames


def _cli(*args: str, plugins: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT)])}
    env.pop("STCCL_PLUGINS", None)
    if plugins:
        env["STCCL_PLUGINS"] = "dummy_plugins"
    return subprocess.run([sys.executable, "-m", "stccl_cli", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)


def test_plugins_are_listed_by_help_and_run_an_edit(short_clip, tmp_path):
    """`stccl edit --help` lists a registered tracker and engine, and an edit runs through both."""
    from stccl.video import VideoReader

    help_text = " ".join(_cli("edit", "--help").stdout.split())
    for words in ("dummy-shift = test engine", "dummy-luma = test tracker", "dummy-rgb"):
        assert words in help_text, words
    assert "dummy-shift" in " ".join(_cli("eval", "--help").stdout.split())
    out = tmp_path / "shift.mp4"
    r = _cli("edit", str(short_clip), "-e", "happy", "--engine", "dummy-shift", "--tracker", "dummy-rgb",
             "-o", str(out))
    assert r.returncode == 0, r.stderr
    frames = []
    for path in (short_clip, out):
        with VideoReader(path, chunk=32) as reader:
            frames.append(np.concatenate(list(reader)).astype(np.float32))
    before, after = frames
    middle = slice(before.shape[1] // 3, 2 * before.shape[1] // 3), slice(before.shape[2] // 3, 2 * before.shape[2] // 3)
    brighter = (after[:, middle[0], middle[1]] - before[:, middle[0], middle[1]]).mean()
    assert brighter > 8, brighter  # the engine's +0.08 (20 levels) under the face mask
    for corner in (np.s_[:, :24, :24], np.s_[:, :24, -24:]):  # the top corners, off the face: codec noise
        assert np.abs(after[corner] - before[corner]).mean() < 3
    # without the plug-in the same names are unknown: one line, no output
    r = _cli("edit", str(short_clip), "-e", "happy", "--engine", "dummy-shift", "-o", str(tmp_path / "x.mp4"),
             plugins=False)
    assert r.returncode != 0 and r.stderr.count("\n") == 1 and "--engine must be one of auto, neural, warp" in r.stderr
    assert not (tmp_path / "x.mp4").exists()


def test_unknown_names_are_one_line_errors_at_every_entry(tmp_path):
    from stccl import Editor
    from stccl.eval.config import EvalConfig
    from stccl.face import FaceTracker, make_backend
    from stccl.typed import validate

    for call, words in (
        (lambda: make_backend("sfd"), "unknown tracker 'sfd'; use one of auto, mesh, fan, dlib"),
        (lambda: FaceTracker("sfd"), "unknown tracker 'sfd'"),
        (lambda: TRACKERS["sfd"], "unknown tracker 'sfd'"),
        (lambda: ENGINES["gan"], "unknown engine 'gan'; use one of auto, neural, warp, meshwarp"),
        (lambda: Editor(engine="gan"), 'engine must be one of auto, neural, warp, meshwarp, got "gan"'),
        (lambda: Editor(engine="warp", tracker="sfd"), 'track.tracker must be one of auto, mesh, fan, dlib'),
        (lambda: overlay(EditConfig(), {"engine": "gan"}, "f.toml"), "f.toml: engine must be one of"),
        (lambda: validate(EvalConfig(engines=["warp", "gan"])), 'engines[1] must be one of neural, warp'),
        (lambda: validate(EvalConfig(tracker="sfd")), "tracker must be one of auto, mesh, fan, dlib"),
    ):
        with pytest.raises(InputError) as e:
            call()
        assert words in str(e.value) and "\n" not in str(e.value), (words, str(e.value))
    r = _cli("edit", str(tmp_path / "none.mp4"), "--tracker", "sfd", plugins=False)
    assert r.returncode == 1 and "--tracker must be one of auto, mesh, fan, dlib" in r.stderr
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1


def test_face_all_lives_in_the_edit_config_and_old_files_keep_working(tmp_path):
    from stccl import Editor

    old = tmp_path / "old.toml"
    old.write_text('[track]\nface = "all"\ntracker = "dlib"\n')
    cfg = overlay(EditConfig(), load_toml(old), str(old))
    assert cfg.faces == "all" and cfg.track.face == 0 and cfg.track.tracker == "dlib"
    assert Editor(engine="warp", face="all").config.faces == "all"
    assert Editor(engine="warp", config=cfg, face=1).config.faces == "one"
    assert Editor(engine="warp", config=cfg, face=1).config.track.face == 1
    with pytest.raises(ConfigError, match="track.face must be a face index"):
        overlay(PrepConfig(), {"track": {"face": "all"}}, "p.toml")
    with pytest.raises(InputError, match="face must be a face index.*or all"):
        Editor(engine="warp", face="both")


def test_every_kind_of_weights_is_found_by_one_declared_search(tmp_path, monkeypatch):
    from stccl import weights

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    env = tmp_path / "env"
    monkeypatch.setenv("STCCL_WEIGHTS", str(env))
    for kind, spec in weights.FILES.items():
        packaged = weights.find(kind)
        assert packaged == (None if spec.packaged is None else weights.PACKAGE / spec.packaged), kind
        places = {"weights": Path("weights"), "env": env, "hub": tmp_path / "hub" / "hub" / "checkpoints"}
        for place in reversed(spec.places):  # each nearer place, once filled, wins
            places[place].mkdir(parents=True, exist_ok=True)
            (places[place] / spec.file).write_text("x")
            assert weights.find(kind) == places[place] / spec.file, (kind, place)
        assert weights.find(kind, tmp_path / "given") is None  # a given path that is no file
        assert weights.find(kind, first_dir=tmp_path / "nowhere") == Path("weights") / spec.file
        assert weights.find(spec.file) == weights.find(kind)  # by its file name too


def test_listing_the_registries_imports_no_torch_or_numpy():
    code = ("import sys; from stccl.registry import ENGINES, TRACKERS; import stccl.config; "
            "ENGINES.help(); TRACKERS.help(); [e.caps for e in ENGINES.entries() + TRACKERS.entries()]; "
            "print(sorted(m for m in ('torch', 'numpy', 'cv2', 'dlib') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stderr


def test_the_tracker_follows_by_the_backends_own_policy(shared_data, monkeypatch):
    """FaceTracker follows a face with `backend.follow`: a backend that says no face is there
    (presence under its `weak`) has every frame checked by a detection; one that is sure, few."""
    from stccl.config import TrackConfig
    from stccl.face import FaceTracker, Follow
    from stccl.face.dlib_backend import DlibBackend
    from stccl.video import VideoReader

    with VideoReader(shared_data / "mead" / "W015_level_1_neutral_030.mp4", chunk=20, end=0.8) as reader:
        frames = list(next(iter(reader)))

    class Says(DlibBackend):
        def __init__(self, presence):
            super().__init__()
            self.presence, self.follows = presence, 0

        def follow(self, image, previous):
            self.follows += 1
            return Follow(self.landmarks(image, self.box_from_landmarks(previous)), self.presence)

    checks = {}
    for presence in (0.0, 1.0):
        backend = Says(presence)
        tracker = FaceTracker(backend, TrackConfig(detect_every=10))
        assert all(tracker(f) is not None for f in frames)
        assert backend.follows == len(frames) - 1
        checks[presence] = tracker.stats["roi_detections"] + tracker.stats["detections"]
    assert checks[0.0] >= len(frames) and checks[1.0] <= 4, checks


def test_detections_are_confidences_and_the_weak_bar_is_the_trackers(shared_data):
    """dlib's margins leave as confidences in [0, 1); its entry's `weak` (1/6) is the margin 0.2
    the tracker used before the registry (an SVM margin m reads m / (1 + m))."""
    from stccl.face.backend import confidence
    from stccl.face.dlib_backend import CnnDetector, HogDetector
    from stccl.video import VideoReader

    assert confidence(0.2) == pytest.approx(TRACKERS["dlib"].caps.weak)
    assert confidence([-1.0, 0.0, 3.0]).tolist() == pytest.approx([0.0, 0.0, 0.75])
    with VideoReader(shared_data / "wild" / "d20.mp4", chunk=1, end=0.05) as reader:
        frame = next(iter(reader))[0]
    for boxes in (HogDetector()(frame), CnnDetector()(frame)):
        assert len(boxes) and ((boxes[:, 4] > 0) & (boxes[:, 4] < 1)).all(), boxes
