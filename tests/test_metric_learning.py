"""The learning test on real cross-emotion pairs: the tiny metric trained on W009 alone finds
the matching moment of speech in M030's takes (a speaker it never saw) better than the same
metric untrained, and better than chance. Figures and what they do not show: docs/metric.md."""

import json

from conftest import RETRIEVAL_STEPS

from stccl.models.io import load_metric


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
