"""Reading the expression a face shows (stccl.edit.expression) and moving it to a target
(absolute expressions), on synthetic faces built from the shipped prior and prototypes."""

import json

import numpy as np
import pytest

from stccl.edit.expression import EXPRESSIVE, Smoother
from stccl.edit.facs import PACKAGED
from stccl.edit.warp import WarpEngine, load_expression_model, target_landmarks
from stccl.errors import DataError
from stccl.face.measures import MIRROR
from stccl.train.prototypes import neutral_prior

IOD = 60.0
CENTRE = np.array([128.0, 110.0])


@pytest.fixture(scope="module")
def model():
    return load_expression_model()


def face(model, mix: dict[str, float] | None = None, mouth: float = 0.0) -> np.ndarray:
    """Crop-pixel landmarks (68,2) of the prior's neutral face plus `mix` of prototypes, with the
    lower lip and the jaw lowered by `mouth` IOD (speech)."""
    n = np.asarray(model.neutral).copy()
    for e, w in (mix or {}).items():
        n = n + w * model.prototypes[e]
    n[[8, 7, 9, 56, 57, 58, 65, 66, 67], 1] += mouth
    return CENTRE + IOD * n


def weights(model, lmk) -> dict[str, float]:
    return dict(zip(EXPRESSIVE, model.weights(np.asarray(lmk)[None])[0]))


def test_the_prior_face_reads_neutral(model):
    assert max(weights(model, face(model)).values()) < 0.05


def test_a_known_mix_is_read_back(model):
    w = weights(model, face(model, {"happy": 0.8, "surprised": 0.5}))
    assert w["happy"] == pytest.approx(0.8, abs=0.1) and w["surprised"] == pytest.approx(0.5, abs=0.1)
    assert max(v for e, v in w.items() if e not in ("happy", "surprised")) < 0.1


def test_speech_does_not_read_as_an_expression(model):
    """An open mouth (0.3 IOD, a wide vowel) reads as (almost) no expression."""
    assert max(weights(model, face(model, mouth=0.3)).values()) < 0.15


def test_position_size_and_roll_do_not_change_the_reading(model):
    lmk = face(model, {"sad": 0.7})
    a = np.radians(15)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    moved = (lmk - CENTRE) @ rot.T * 1.7 + [300.0, 40.0]
    assert np.allclose(model.weights(lmk[None]), model.weights(moved[None]), atol=0.02)


def test_a_target_replaces_what_is_shown(model):
    """The move is target - shown: a happy face edited to happy stays, to neutral it lands on
    the expression-free face, and intensity 0.5 lands halfway."""
    lmk = face(model, {"happy": 1.0})[None].astype(np.float64)
    shown = model.shown(model.weights(lmk))
    one = np.ones(1)
    happy = np.asarray(model.prototypes["happy"])
    neutral = np.zeros((68, 2))
    stay = target_landmarks(lmk, happy - shown, one)
    assert np.abs(stay - lmk).max() < 0.1 * IOD * 0.1
    back = target_landmarks(lmk, neutral - shown, one)[0]
    assert np.abs(back - face(model)).max() < 0.02 * IOD
    half = target_landmarks(lmk, neutral - shown, 0.5 * one)[0]
    assert np.allclose(half, (lmk[0] + back) / 2, atol=1e-6)


def test_engine_moves_nothing_when_the_face_is_at_the_target(model):
    eng = WarpEngine()
    lmk = face(model, {"surprised": 1.0})[None].astype(np.float32)
    crops = np.zeros((1, 3, 256, 256), np.float32)
    shown = model.shown(model.weights(lmk.astype(np.float64)))
    at = np.abs(eng(crops, lmk, "surprised", np.ones(1), shown=shown).flow).max()
    added = np.abs(eng(crops, lmk, "surprised", np.ones(1)).flow).max()  # the relative edit
    assert at < 0.15 * added


def test_relative_engine_reads_nothing():
    assert WarpEngine(absolute=False).expression is None
    assert WarpEngine().expression is not None


def test_smoother_follows_slowly_and_starts_again_after_a_gap():
    s = Smoother(fps=25, seconds=0.4)
    w = np.zeros((20, 7))
    w[10:, 0] = 1.0
    out = s(list(range(20)), w)
    assert out[9, 0] == 0 and 0.05 < out[10, 0] < 0.15 and out[19, 0] > 0.5
    again = s([40], np.full((1, 7), 0.3))  # a gap: no memory of before
    assert np.allclose(again, 0.3)


def test_a_version_1_file_uses_the_shipped_prior():
    data = json.loads(PACKAGED.read_text())
    old = {k: v for k, v in data.items() if k not in ("neutral_shape", "speech_spread")}
    assert np.allclose(load_expression_model(old).neutral, data["neutral_shape"])
    with pytest.raises(DataError, match="68 x 2"):
        load_expression_model({**data, "neutral_shape": [[0, 0]]})


def test_neutral_prior_is_symmetric_and_discounts_a_labelled_expression(model):
    rng = np.random.default_rng(0)
    base = np.asarray(model.neutral)
    clip = np.stack([face(model, mouth=m) for m in rng.uniform(0, 0.2, 30)])
    happy = np.stack([face(model, {"happy": 0.8}, mouth=m) for m in rng.uniform(0, 0.2, 30)])
    alone = np.asarray(neutral_prior([clip])["neutral_shape"])
    prior = neutral_prior([clip], [(happy, model.prototypes["happy"])])
    shape = np.asarray(prior["neutral_shape"])
    assert prior["prior_identities"] == 2
    assert np.allclose(shape[MIRROR] * [-1, 1], shape, atol=1e-3)
    assert np.abs(alone[17:48] - base[17:48]).max() < 0.01  # jaw and mouth: the median speech opening
    assert np.abs(shape - alone).max() < 0.02  # the happy take's smile is not taken for identity
    assert np.asarray(prior["speech_spread"])[57, 1] > 0.03  # the lower lip moves with speech


def test_the_mean_face_of_dlibs_predictor_is_read_from_its_file(tmp_path):
    from stccl.errors import WeightsError
    from stccl.face.backends import dlib_model_path
    from stccl.face.measures import normalise
    from stccl.face.predictor_mean import initial_shape

    path = dlib_model_path()
    shape = initial_shape(path)
    assert shape.shape == (68, 2) and (-0.2 < shape).all() and (shape < 1.2).all()  # about the unit box
    n = normalise(shape)
    assert np.abs(n[MIRROR] * [-1, 1] - n).max() < 0.05  # a (nearly) symmetric face
    assert n[17:27, 1].max() < 0 < n[48:68, 1].min()  # brows above the eyes, mouth below
    bad = tmp_path / "cut.dat"
    bad.write_bytes(path.read_bytes()[:100])
    with pytest.raises(WeightsError, match="not a dlib 68-point shape predictor"):
        initial_shape(bad)


def test_the_shipped_prior_is_symmetric_and_says_where_it_comes_from():
    data = json.loads(PACKAGED.read_text())
    shape = np.asarray(data["neutral_shape"])
    assert data["version"] == 2 and data["prior_population"] is True and "W009" in data["prior_source"]
    assert np.allclose(shape[MIRROR] * [-1, 1], shape, atol=1e-3)


def test_refit_leaves_excluded_actors_out(mead_pairs_prep):
    """On the real pairs: W009 alone gives 7 pairs and 1 neutral clip; M030's are not used."""
    from stccl.train.prototypes import refit_prototypes

    w009 = refit_prototypes(mead_pairs_prep, exclude_actors=["M030"])
    both = refit_prototypes(mead_pairs_prep)
    assert sum(w009["pairs"].values()) == 7 and w009["neutral_clips"] == 1
    assert sum(both["pairs"].values()) == 14 and both["neutral_clips"] == 2
    assert w009["emotions"]["happy"]["displacement"] != both["emotions"]["happy"]["displacement"]
    none = refit_prototypes(mead_pairs_prep, exclude_actors=["M030", "W009"])
    assert len(none["kept_facs"]) == 7 and "neutral_clips" not in none


def test_nnls_agrees_with_scipys(model):
    from scipy.optimize import nnls as reference

    from stccl.edit.expression import nnls

    rng = np.random.default_rng(3)
    A = model._wbasis
    B = A @ rng.normal(0.3, 0.5, (20, A.shape[1])).T + rng.normal(0, 0.5, (A.shape[0], 20))
    ours = nnls(A, B.T)
    theirs = np.stack([reference(A, b)[0] for b in B.T])
    assert (ours >= 0).all() and np.abs(ours - theirs).max() < 1e-5


def test_a_mean_first_smoother_does_not_hold_on_to_the_first_frame():
    w = np.zeros((5, 7))
    w[0, 0] = 1.0
    held = Smoother(fps=25, seconds=2.0)(list(range(5)), w)
    mean = Smoother(fps=25, seconds=2.0, mean_first=True)(list(range(5)), w)
    assert held[4, 0] > 0.9 and mean[4, 0] == pytest.approx(0.2)


def test_the_mouths_sideways_part_is_read_over_seconds(model):
    """A mouth widening and narrowing with speech (2 Hz) reads as a little happy and back: the
    68-point warp's reading (mouth_seconds=MOUTH_SECONDS) keeps the mouth's sideways part from a
    reading over those seconds, which follows the speech's width far less than the 0.4 s reading
    of the rest."""
    from stccl.edit.expression import MOUTH_SECONDS, ShownReader

    t = np.arange(100) / 25.0
    lmk = np.repeat(face(model)[None], len(t), 0)
    slow = load_expression_model(mouth_seconds=MOUTH_SECONDS)
    for side, corner in ((-1, (48, 60)), (1, (54, 64))):
        lmk[:, list(corner), 0] += side * (0.06 * IOD * np.sin(2 * np.pi * 2 * t))[:, None]
    shown = ShownReader(slow, 25)(list(range(len(t))), lmk)
    assert ShownReader(model, 25)(list(range(len(t))), lmk) == pytest.approx(
        model.shown(Smoother(25)(list(range(len(t))), model.weights(lmk))))  # without mouth_seconds: as it was
    fast = model.shown(Smoother(25)(list(range(len(t))), model.weights(lmk)))
    late = t > MOUTH_SECONDS
    follows = np.ptp(fast[late, 54, 0])
    assert follows > 0.003  # the 0.4 s reading does follow the width
    assert np.ptp(shown[late, 54, 0]) < 0.3 * follows
    assert shown[:, 17:48] == pytest.approx(fast[:, 17:48])  # the rest as before
