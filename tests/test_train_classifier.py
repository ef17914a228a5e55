"""The emotion-classifier stage on the real-clip fixture: learning, logs, export round trip, resume, errors.

The fixture's "emotions" differ only by a re-timing, half-size re-encode and a small colour change
(tests/pairdata.py), and the held-out actor's emotional take (angry) is an emotion no training
actor has, so only the training curve is a learning signal here; validation is checked for form.
"""

import json

import pytest
import torch

from stccl.config import overlay
from stccl.data.frames import require_labelled
from stccl.emotions import EMOTIONS
from stccl.errors import DataError, InputError, WeightsError
from stccl.models.classifier import EmotionClassifier
from stccl.models.io import load_classifier, load_metric, read_metadata, save_model
from stccl.train.classifier import ClassifierTask, class_weights, train_classifier
from stccl.train.presets import classifier_preset
from stccl.train.trainer import Runtime


def _records(run):
    return [json.loads(line) for line in (run / "classifier" / "metrics.jsonl").read_text().splitlines()]


def _mean(recs, key):
    return sum(r[key] for r in recs) / len(recs)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """The tiny model gains nothing from intra-op threads, and on a 2-core machine that is busy
    with anything else, 2 spinning OpenMP threads make it up to 10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def straight(paired_prep, tmp_path_factory):
    """The tiny preset trained for its 60 steps in one go."""
    run = tmp_path_factory.mktemp("classifier") / "run"
    result = train_classifier(paired_prep, run, classifier_preset("tiny"))
    assert (result.start, result.step, result.skipped) == (0, 60, False)
    return run


def test_classifier_learns_and_logs(straight):
    recs = _records(straight)
    assert [r["step"] for r in recs] == list(range(0, 61, 5))
    logs = [r for r in recs if "loss" in r]
    for key in ("loss", "acc", "lr", "images_per_s", "grad_norm/classifier"):
        assert all(key in r for r in logs), key
    # the training curve: weighted cross-entropy falls well below its start, accuracy rises
    first, last = logs[:3], logs[-3:]
    assert _mean(last, "loss") < 0.7 * _mean(first, "loss")
    assert _mean(last, "acc") > _mean(first, "acc") + 0.2
    # validation at step 0 (untrained), at every val_every and at the end, on the held-out actor
    vals = [r for r in recs if "val/acc" in r]
    assert [r["step"] for r in vals] == [0, 20, 40, 60]
    for r in vals:
        per = {k: v for k, v in r.items() if k.startswith("val/acc/")}
        assert set(per) == {"val/acc/angry", "val/acc/neutral"}  # only the emotions present
        assert all(0 <= v <= 1 for v in per.values()) and r["val/loss"] > 0
        assert r["val/balanced_acc"] == pytest.approx(sum(per.values()) / 2, abs=1e-5)


def test_export_round_trip(paired_prep, straight):
    path = straight / "classifier.safetensors"
    cfg = classifier_preset("tiny")
    model, mcfg, meta = load_classifier(path)
    assert not model.training and mcfg == cfg.model
    assert meta["steps"] == 60 and meta["emotions"] == list(EMOTIONS)
    assert json.loads(read_metadata(path)["held_out"]) == ["W036"]
    assert (straight / "classifier" / "config.toml").is_file()

    # the trained module: the final checkpoint's weights, with the BatchNorm statistics the
    # stage re-estimates for validation and export
    task = ClassifierTask(paired_prep, cfg, Runtime.create(cfg.train))
    state = torch.load(straight / "classifier" / "checkpoint.pt", weights_only=True)
    assert state["step"] == 60
    task.model.load_state_dict(state["modules"]["classifier"])
    trained = task.calibrated()
    x = torch.stack([task.val_set[i][0][0] for i in range(0, len(task.val_set), 20)]
                    + [task.train_set[i][0][0] for i in range(0, len(task.train_set), 80)])
    with torch.no_grad():
        got, want = model(x), trained(x)
        untrained = EmotionClassifier(mcfg).eval()(x)
    assert got.shape == (len(x), len(EMOTIONS))
    assert torch.equal(got, want)
    assert not torch.allclose(got, untrained, atol=1e-3)
    assert task.model.training  # calibrating a copy leaves the training module alone

    with pytest.raises(WeightsError, match="not a correlation metric"):
        load_metric(path)
    other = straight / "not-a-classifier.safetensors"
    save_model(model, mcfg, other, kind="metric")
    with pytest.raises(WeightsError, match="not an emotion classifier"):
        load_classifier(other)


def test_a_larger_steps_continues_the_run(paired_prep, tmp_path):
    run = tmp_path / "run"
    cfg = classifier_preset("tiny")
    first = train_classifier(paired_prep, run, overlay(cfg, {"train": {"steps": 20}}))
    assert (first.start, first.step) == (0, 20)
    assert load_classifier(run / "classifier.safetensors")[2]["steps"] == 20
    more = train_classifier(paired_prep, run, overlay(cfg, {"train": {"steps": 45}}))
    assert (more.start, more.step, more.skipped) == (20, 45, False)
    steps = [r["step"] for r in _records(run)]
    assert steps == [0, 5, 10, 15, 20, 25, 30, 35, 40, 45]  # strictly increasing, no repeats
    assert load_classifier(run / "classifier.safetensors")[2]["steps"] == 45
    again = train_classifier(paired_prep, run, overlay(cfg, {"train": {"steps": 45}}))
    assert again.skipped and again.step == 45


def test_class_weights_balance_the_classes():
    w = class_weights([5] * 6 + [4] * 3 + [2] * 1, len(EMOTIONS))
    assert w[5] * 6 == pytest.approx(w[4] * 3) == pytest.approx(w[2] * 1)
    assert float((w * torch.bincount(torch.tensor([5] * 6 + [4] * 3 + [2]), minlength=8)).sum()) \
        == pytest.approx(10)
    assert w[0] == 0 and w[7] == 0


def test_bad_inputs_get_one_line(paired_prep, tmp_path):
    from stccl.data import store

    with pytest.raises(InputError, match="unknown preset 'huge'"):
        classifier_preset("huge")
    store.write_jsonl_atomic(tmp_path / "index.jsonl", [])
    errors = []
    with pytest.raises(DataError, match="no clip has an emotion label") as e:
        train_classifier(tmp_path, tmp_path / "r", classifier_preset("tiny"))
    errors.append(e.value)
    with pytest.raises(DataError, match="fewer than one batch") as e:
        train_classifier(paired_prep, tmp_path / "r2", overlay(classifier_preset("tiny"), {"train": {"batch": 5000}}))
    errors.append(e.value)
    with pytest.raises(DataError, match="X999") as e:
        train_classifier(paired_prep, tmp_path / "r3",
                         overlay(classifier_preset("tiny"), {"data": {"val_actors": ["X999"]}}))
    errors.append(e.value)
    with pytest.raises(DataError, match="not a prepared dataset") as e:
        train_classifier(tmp_path / "nothing", tmp_path / "r4", classifier_preset("tiny"))
    errors.append(e.value)
    with pytest.raises(InputError, match="n_emotions"):
        train_classifier(paired_prep, tmp_path / "r5", overlay(classifier_preset("tiny"), {"model": {"n_emotions": 3}}))
    assert all("\n" not in str(err) for err in errors)
    assert not (tmp_path / "r2" / "classifier").exists()


def test_one_actor_validates_on_training_frames(paired_prep, monkeypatch, caplog):
    from stccl.train import classifier

    ds, records = require_labelled(paired_prep)
    monkeypatch.setattr(classifier, "require_labelled",
                        lambda root: (ds, [r for r in records if r["actor"] == "M003"]))
    cfg = classifier_preset("tiny")
    with caplog.at_level("WARNING"):
        task = ClassifierTask(paired_prep, cfg, Runtime.create(cfg.train))
    assert task.held_out == [] and task.val_set is task.train_set
    assert "validation uses training frames" in caplog.text
    out = task.validate()
    assert set(out) == {"loss", "acc", "acc/happy", "acc/neutral", "balanced_acc"}
