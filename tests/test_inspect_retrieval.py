"""The tiny metric trained on W009's real cross-emotion pairs (conftest.py: `w009_metric`), and
what is done with it, in one file so that the metric is trained once per test worker:

- the learning test: trained on W009 alone, it finds the matching moment of speech in M030's
  takes (a speaker it never saw) better than the same metric untrained, and better than chance
  (figures and what they do not show: docs/metric.md);
- `stccl inspect A B --retrieval` on the real pairs: the similarity matrix with the DTW path,
  scored exactly as training's validation scores it, and its one-line errors."""

import json

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from stccl.data.store import PreparedDataset
from stccl.errors import InputError
from stccl.inspect import inspect_correlations
from stccl.inspect.retrieval import find_pair
from stccl.inspect.sources import Source
from stccl.models.io import load_metric
from stccl.data.retrieval import retrieval_scores
from stccl_cli.main import app

from conftest import RETRIEVAL_STEPS


def test_metric_trained_on_w009_retrieves_on_m030(w009_metric):
    recs = [json.loads(line) for line in (w009_metric / "metric" / "metrics.jsonl").read_text().splitlines()]
    vals = [r for r in recs if "val/retrieval@1" in r]
    assert [r["step"] for r in vals] == [0, RETRIEVAL_STEPS]
    first, last = vals
    chance = first["val/retrieval_chance"]
    assert 0 < chance < 0.05 and last["val/retrieval_chance"] == chance
    assert last["val/retrieval@1"] > first["val/retrieval@1"] + 0.015
    assert last["val/retrieval@1"] > 2 * chance
    # what changes from frame to frame, the take's constant part removed: a clearer gain
    assert last["val/retrieval@1_centred"] > first["val/retrieval@1_centred"] + 0.04
    assert last["val/pos"] > last["val/neg"]
    assert load_metric(w009_metric / "metric.safetensors")[2]["held_out"] == ["M030"]


@pytest.fixture(scope="module")
def metric_file(w009_metric):
    """The tiny metric trained on W009 (conftest.py), window 3."""
    return w009_metric / "metric.safetensors"


def _pair(prep, emotion="happy", actor="W009"):
    ds = PreparedDataset(prep)
    for k, p in enumerate(ds.pairs):
        if p["neutral"].startswith(actor) and f"_{emotion}_" in p["other"]:
            return k, prep / "clips" / p["neutral"], prep / "clips" / p["other"]
    raise AssertionError(f"no {actor} {emotion} pair in {prep}")


def test_the_picture_scores_the_pair_as_validation_does(mead_pairs_prep, metric_file, tmp_path):
    k, neutral, other = _pair(mead_pairs_prep, actor="M030")  # the held-out speaker
    out = tmp_path / "sim.png"
    s = inspect_correlations(neutral, other, metric_path=metric_file, out=out, retrieval=True)
    metric, _, _ = load_metric(metric_file)
    expected = retrieval_scores(metric.eval(), mead_pairs_prep, [k], metric.cfg.size, "cpu", far=3)
    assert s.retrieval == pytest.approx(expected, abs=1e-6)
    assert 0 < s.retrieval["retrieval_chance"] < 0.1
    img = cv2.imread(str(out))
    assert img.shape[:2] == (s.size[1], s.size[0])
    assert "similarity matrix of" in s.describe() and "retrieval@1" in s.describe()
    assert not s.untrained and "trained metric" in s.describe()
    _, pair, swapped = find_pair(Source(other), Source(neutral))  # either order: rows are the neutral take
    assert pair["neutral"] == neutral.name and swapped


def test_retrieval_errors(mead_pairs_prep, metric_file, tmp_path, shared_data):
    _, neutral, other = _pair(mead_pairs_prep)
    _, m030, _ = _pair(mead_pairs_prep, actor="M030")
    video = shared_data / "mead-pairs" / "W009_level_3_happy_001.mp4"
    cases = [((neutral, m030), "are not a pair"), ((neutral, None), "two prepared clip folders"),
             ((neutral, video), "two prepared clip folders")]
    for (a, b), message in cases:
        with pytest.raises(InputError, match=message):
            inspect_correlations(a, b, metric_path=metric_file, out=tmp_path / "x.png", retrieval=True)
    with pytest.raises(InputError, match="write a .png"):
        inspect_correlations(neutral, other, out=tmp_path / "x.mp4", retrieval=True)
    assert not list(tmp_path.iterdir())
    r = CliRunner().invoke(app, ["inspect", str(neutral), str(m030), "--retrieval", "-o", str(tmp_path / "x.png")])
    assert r.exit_code != 0 and len(r.output.strip().splitlines()) == 1 and "not a pair" in r.output


def test_matrix_marks_hits_misses_and_the_path():
    from stccl.draw import ALERT, GOOD
    from stccl.inspect.retrieval import PATH, _matrix_picture

    n = 10
    path = [(i, i) for i in range(n)]
    sim = np.zeros((n, n), np.float32)
    best = [i if i % 2 == 0 else (i + 5) % n for i in range(n)]  # even rows hit, odd rows miss
    sim[np.arange(n), best] = 1.0
    frames = np.arange(n)
    img = _matrix_picture(sim, frames, frames, n, n, path)
    cell = img.shape[0] // n
    centre = lambda i, j: tuple(int(v) for v in img[i * cell + cell // 2, j * cell + cell // 2])  # noqa: E731
    for i in range(n):
        assert centre(i, best[i]) == (GOOD if i % 2 == 0 else ALERT), i
    assert centre(1, 1) == PATH  # a path cell without a dot
    missing = _matrix_picture(sim[1:], frames[1:], frames, n, n, path)  # frame 0 has no face
    assert tuple(int(v) for v in missing[0, -1]) == (200, 200, 200)
