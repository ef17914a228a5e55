import os
import shutil
from pathlib import Path

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):
    # the workers share the cores: torch's OpenMP threads then sleep instead of spinning while
    # they wait (two spinning pools on two cores ran a training 2.8x slower), and numpy's BLAS
    # keeps to one thread
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# the longest files first (measured, --durations=0), so that no worker starts one near the end
LONGEST_FIRST = ("test_train_metric", "test_edit_readback", "test_train_generator",
                 "test_benchmarks", "test_inspect_retrieval", "test_edit", "test_edit_plan",
                 "test_absolute_edit", "test_eval", "test_expression")


def pytest_collection_modifyitems(config, items):
    """pytest -n (--dist loadfile) hands whole files to workers in this order."""
    rank = {name: k for k, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))  # stable: order kept within


ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (real clips). Skips when absent; fails instead under STCCL_REQUIRE_SHARED=1."""
    if not (SHARED / "README.md").is_file():
        msg = f"shared clips not found at {SHARED}"
        if os.environ.get("STCCL_REQUIRE_SHARED") == "1":
            pytest.fail(msg + " (STCCL_REQUIRE_SHARED=1)")
        pytest.skip(msg)
    return SHARED


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same random state, so results do not depend on test order."""
    import numpy as np
    import torch

    torch.manual_seed(0)
    np.random.seed(0)


def built_once(tmp_path_factory, name: str, build) -> Path:
    """A folder that `build(folder)` fills once for the whole test run. Under pytest-xdist the
    workers share it: the first to ask builds it under a file lock, the others wait for it and
    reuse it (each worker building its own copy of a prepared dataset cost minutes). Whoever
    uses it must not change it."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        folder = tmp_path_factory.mktemp(name)
        build(folder)
        return folder
    from filelock import FileLock  # a dependency of torch

    root = tmp_path_factory.getbasetemp().parent / "built-once"  # the run's folder, above each worker's
    root.mkdir(exist_ok=True)
    folder, done = root / name, root / f"{name}.done"
    with FileLock(str(root / f"{name}.lock")):
        if not done.is_file():
            shutil.rmtree(folder, ignore_errors=True)  # a build that failed in another worker
            folder.mkdir()
            build(folder)
            done.touch()
    return folder


def _prep_tree(tree: Path, out: Path) -> Path:
    """`stccl prep TREE -o OUT --tracker dlib --size 128`, asserted to succeed."""
    from typer.testing import CliRunner

    from stccl_cli.main import app

    r = CliRunner().invoke(app, ["prep", str(tree), "-o", str(out), "--tracker", "dlib", "--size", "128"])
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture(scope="session")
def paired_prep(shared_data, tmp_path_factory) -> Path:
    """A prepared dataset of 4 actors, each with a real clip as 'neutral' and a re-timed copy in
    another emotion (tests/pairdata.py): 4 cross-emotion pairs, 128 px crops, dlib tracker."""
    from pairdata import build_pair_tree

    tmp = built_once(tmp_path_factory, "paired",
                     lambda tmp: _prep_tree(build_pair_tree(shared_data, tmp / "MEAD"), tmp / "prep"))
    return tmp / "prep"


@pytest.fixture(scope="session")
def mead_pairs_prep(shared_data, tmp_path_factory) -> Path:
    """The real cross-emotion pairs of ../shared/data/mead-pairs (W009 and M030, sentence 001 in
    all 8 emotions) prepared as MEAD: 14 pairs, 128 px crops, dlib tracker."""
    from pairdata import build_mead_pairs_tree

    tmp = built_once(tmp_path_factory, "mead_pairs",
                     lambda tmp: _prep_tree(build_mead_pairs_tree(shared_data, tmp / "MEAD"), tmp / "prep"))
    return tmp / "prep"


# `stccl train` with no stage on paired_prep: the metric trains its tiny preset as it is (so it is
# also what tests/test_train_metric.py checks a metric run against); the classifier fewer steps
CHAIN_TOML = "[classifier.train]\nsteps = 10\nval_every = 10\ncheckpoint_every = 10\n"


@pytest.fixture(scope="session")
def chain(paired_prep, tmp_path_factory) -> tuple[Path, Path, str]:
    """`stccl train` with no stage: metric -> generator -> classifier, tiny preset, exported:
    (the run folder, the export folder, what the command printed). Built once per test run
    and shared by the workers: whoever uses it must not change it."""
    from typer.testing import CliRunner

    from stccl_cli.main import app

    def build(base: Path) -> None:
        (base / "chain.toml").write_text(CHAIN_TOML)
        r = CliRunner().invoke(app, ["train", "--data", str(paired_prep), "--preset", "tiny", "-o",
                                     str(base / "run"), "--export", str(base / "weights"),
                                     "--config", str(base / "chain.toml")])
        assert r.exit_code == 0, r.output
        (base / "output.txt").write_text(r.output)

    base = built_once(tmp_path_factory, "chain", build)
    return base / "run", base / "weights", (base / "output.txt").read_text()


RETRIEVAL_STEPS = 40


@pytest.fixture(scope="session")
def w009_metric(mead_pairs_prep, tmp_path_factory) -> Path:
    """The tiny metric trained for RETRIEVAL_STEPS steps on W009's real pairs alone, validated
    on M030's (4 of its 7 pairs, evenly spread) at step 0 and at the end: the run folder."""
    from stccl.train import run

    out = tmp_path_factory.mktemp("w009") / "run"
    run(mead_pairs_prep, out, stage="metric", preset="tiny",
        overrides={"train.steps": RETRIEVAL_STEPS, "train.val_every": RETRIEVAL_STEPS,
                   "train.checkpoint_every": RETRIEVAL_STEPS, "data.val_actors": ["M030"],
                   "data.val_pairs": 4})
    return out


@pytest.fixture(scope="session")
def dlib_backend():
    from stccl.face import make_backend

    return make_backend("dlib")


@pytest.fixture(scope="session")
def warp_editor():
    from stccl import Editor

    return Editor(engine="warp")


@pytest.fixture(scope="session")
def edit_clips(shared_data, tmp_path_factory) -> dict[str, Path]:
    """tests/edit_clips.EDIT_CLIPS, cut once per session to the seconds kept (H.264 + AAC)."""
    from benchmarks.readback import cut
    from edit_clips import EDIT_CLIPS

    def paths(tmp: Path) -> dict[str, Path]:
        return {key: tmp / f"{key}.mp4" if seconds else shared_data / rel
                for key, (rel, seconds) in EDIT_CLIPS.items()}

    def build(tmp: Path) -> None:
        for (rel, seconds), dst in zip(EDIT_CLIPS.values(), paths(tmp).values()):
            assert cut(shared_data / rel, seconds, dst) == dst

    return paths(built_once(tmp_path_factory, "edit_clips", build))


@pytest.fixture(scope="session")
def fresh_inputs(edit_clips, dlib_backend, tmp_path_factory) -> dict:
    """Landmarks of each edit clip read afresh on every frame (stccl.face.fresh), once."""
    import numpy as np

    from stccl.face.fresh import read_landmarks

    def build(tmp: Path) -> None:
        np.savez(tmp / "landmarks.npz", **{key: read_landmarks(path, dlib_backend) for key, path in edit_clips.items()})

    with np.load(built_once(tmp_path_factory, "fresh_inputs", build) / "landmarks.npz") as saved:
        return {key: saved[key] for key in edit_clips}
