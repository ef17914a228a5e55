import json
import os

import numpy as np
import pytest
import torch

from stccl.edit.engine import apply_output
from stccl.emotions import EMOTIONS
from stccl.edit.facs import facs_prototypes
from stccl.edit.paste import face_mask
from stccl.edit.tps import tps_eval, tps_fit
from stccl.edit.warp import (
    WarpEngine,
    find_prototypes,
    load_prototypes,
    target_landmarks,
)
from stccl.errors import DataError, InputError
from stccl.train.prototypes import refit_prototypes, save_prototypes
from stccl.face.align import template
from stccl.face.measures import mouth_opening

S = 256


def mean_face(open_mouth: float = 0.0) -> np.ndarray:
    """A plausible 68-point face in crop pixels around the alignment template."""
    rng = np.random.default_rng(0)
    t = template(S)
    iod = t[1, 0] - t[0, 0]
    pts = np.zeros((68, 2))
    pts[0:17] = np.stack([np.linspace(0.22, 0.78, 17) * S, 0.45 * S + 0.35 * S * np.sin(np.linspace(0, np.pi, 17))], 1)
    pts[17:22] = np.stack([np.linspace(0.27, 0.45, 5) * S, np.full(5, 0.28 * S)], 1)
    pts[22:27] = np.stack([np.linspace(0.55, 0.73, 5) * S, np.full(5, 0.28 * S)], 1)
    pts[27:36] = np.stack([np.full(9, 0.5 * S), np.linspace(0.36, 0.55, 9) * S], 1)
    for k, cx in ((36, t[0, 0]), (42, t[1, 0])):
        ang = np.linspace(np.pi, -np.pi, 7)[:6]
        pts[k:k + 6] = np.stack([cx + 0.18 * iod * np.cos(ang), t[0, 1] - 0.06 * iod * np.sin(ang)], 1)
    my = t[2, 1]
    ang = np.linspace(np.pi, -np.pi, 13)[:12]
    pts[48:60] = np.stack([0.5 * S + 0.22 * S * np.cos(ang) * 0.5, my - 0.03 * S * np.sin(ang)], 1)
    ang = np.linspace(np.pi, -np.pi, 9)[:8]
    pts[60:68] = np.stack([0.5 * S + 0.08 * S * np.cos(ang), my - (0.01 + open_mouth) * S * np.sin(ang)], 1)
    return pts + rng.normal(0, 0.3, pts.shape)


def _engine_out(emotion, intensity, lmk=None):
    eng = WarpEngine()
    lmk = np.asarray(mean_face() if lmk is None else lmk, np.float32)[None]
    return eng, lmk, eng(np.zeros((1, 3, S, S), np.float32), lmk, emotion, np.array([intensity], np.float32))


def test_zero_intensity_and_neutral_do_nothing():
    for emotion, a in (("happy", 0.0), ("neutral", 1.0)):
        _, _, out = _engine_out(emotion, a)
        assert np.abs(out.flow).max() < 1e-4 and out.delta is None
    x = torch.rand(2, 3, 32, 32)
    from stccl.edit.engine import EngineOutput

    assert torch.allclose(apply_output(x, EngineOutput(torch.zeros(2, 2, 32, 32))), x, atol=1e-5)
    assert torch.allclose(apply_output(x, EngineOutput(np.zeros((2, 2, 8, 8), np.float32))), x, atol=1e-5)


def test_the_default_edit_is_torch_free(shared_data, tmp_path):
    """The warp engine is numpy, and a whole default edit (engine auto without weights, tracker
    auto: the mesh) imports no torch, which would cost more start-up than the edit, and no dlib,
    whose two models cost ≈ 1.5 s to load."""
    import subprocess
    import sys

    code = ("import sys; from stccl import Editor; "
            "s = Editor().edit(sys.argv[1], emotion='happy', out=sys.argv[2]); "
            "print(s.edited_frames > 0, 'torch' in sys.modules, 'dlib' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code, str(shared_data / "wild/OzA6jRYjVQs_00004.mp4"),
                        str(tmp_path / "out.mp4")], capture_output=True, text=True, cwd=tmp_path,
                       env={**os.environ, "STCCL_WEIGHTS": str(tmp_path), "TORCH_HOME": str(tmp_path)})
    assert r.returncode == 0 and r.stdout.split()[-3:] == ["True", "False", "False"], r.stderr[-2000:]


def test_dense_flow_is_the_bilinear_field_between_nodes():
    from stccl.edit.engine import EngineOutput

    rng = np.random.default_rng(0)
    grid = rng.normal(size=(1, 2, 5, 5)).astype(np.float32)
    dense = EngineOutput(grid).dense(9)  # node k at pixel 2k
    assert dense.shape == (1, 2, 9, 9)
    np.testing.assert_allclose(dense[..., ::2, ::2], grid, atol=1e-6)
    np.testing.assert_allclose(dense[..., 1, 0], (grid[..., 0, 0] + grid[..., 1, 0]) / 2, atol=1e-6)
    ref = torch.nn.functional.interpolate(torch.from_numpy(grid), size=(9, 9), mode="bilinear", align_corners=True)
    np.testing.assert_allclose(dense, ref.numpy(), atol=1e-5)


def test_tps_interpolates_and_reproduces_affine():
    rng = np.random.default_rng(0)
    c = rng.uniform(-1, 1, (1, 20, 2))
    v = rng.normal(size=(1, 20, 2))
    w, a = tps_fit(c, v)
    assert np.allclose(tps_eval(c, c, w, a), v, atol=1e-8)
    A = np.array([[1.2, 0.1], [-0.3, 0.9]])
    w, a = tps_fit(c, c @ A + 0.5)
    x = rng.uniform(0, 1, (1, 50, 2))
    assert np.allclose(tps_eval(x, c, w, a), x @ A + 0.5, atol=1e-8)


@pytest.mark.parametrize("emotion", [e for e in EMOTIONS if e != "neutral"])
def test_flow_moves_landmarks_to_targets(emotion):
    eng, lmk, out = _engine_out(emotion, 1.0)
    from stccl.edit.warp import views

    moved = target_landmarks(lmk, eng.prototypes[emotion], np.ones(1), views(lmk))[0]
    flow = out.dense(S)[0]
    errors = []
    for p, q in zip(lmk[0], moved):
        x, y = np.clip(np.round(q).astype(int), 0, S - 1)
        # backward flow: the source pixel of target q is q + flow(q) ~ p (read at the rounded
        # pixel, from a field evaluated on a 48 x 48 grid)
        errors.append(np.linalg.norm(q + flow[:, y, x] - p))
    assert np.mean(errors) < 0.75 and np.max(errors) < 4.0, (np.mean(errors), np.max(errors))
    # what reaches the frame is the flow under the paste mask: nothing near the crop border
    mask = face_mask(lmk[0], S)
    masked = flow * mask
    border = int(0.08 * S)
    edge = np.concatenate([masked[:, :border].ravel(), masked[:, -border:].ravel(),
                           masked[:, :, :border].ravel(), masked[:, :, -border:].ravel()])
    assert np.abs(edge).max() < 0.5


@pytest.mark.parametrize("intensity", [0.5, 1.0, 2.0])
def test_lip_opening_and_jaw_kept_exactly(intensity):
    eng = WarpEngine()
    for opening in (0.0, 0.04):
        lmk = mean_face(opening)[None]
        for emotion in EMOTIONS:
            moved = target_landmarks(lmk, eng.prototypes[emotion], np.array([intensity]))
            assert mouth_opening(moved) == pytest.approx(mouth_opening(lmk), abs=1e-9)
            assert np.array_equal(moved[0, :17], lmk[0, :17])


def test_prototypes_file_and_lookup(tmp_path, monkeypatch):
    shipped = find_prototypes()
    assert json.loads(shipped.read_text())["emotions"]["happy"]["aus"]
    data, facs = json.loads(shipped.read_text()), json.loads(json.dumps(facs_prototypes()))
    assert data["emotions"] == facs["emotions"] and data["source"] == "facs"  # file == generator
    mine = tmp_path / "prototypes.json"
    save_prototypes(facs_prototypes(), mine)
    monkeypatch.setenv("STCCL_WEIGHTS", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert find_prototypes() == mine
    with pytest.raises(InputError):
        find_prototypes(tmp_path / "nope.json")
    mine.write_text("{}")
    with pytest.raises(DataError):
        load_prototypes(mine)


def _write_clip(root, clip_id, lmk):
    from stccl.data import store

    d = root / "clips" / clip_id
    d.mkdir(parents=True)
    n = len(lmk)
    np.savez(d / "track.npz", landmarks_aligned=lmk.astype(np.float32), flags=np.ones(n, np.uint8))
    meta = {"id": clip_id, "frames": n, "format_version": store.FORMAT_VERSION, "status": "ok"}
    (d / "meta.json").write_text(json.dumps(meta))
    return meta


def test_refit_recovers_a_known_displacement_despite_speech(tmp_path):
    from stccl.data import store

    rng = np.random.default_rng(1)
    base = mean_face()
    iod = base[42:48].mean(0)[0] - base[36:42].mean(0)[0]
    true = np.zeros((68, 2))
    true[[48, 60], 1] = true[[54, 64], 1] = -0.1  # corners up 0.1 IOD
    true[17:27, 1] = -0.05
    n = 40
    speech = np.abs(rng.normal(0, 0.05, n))
    neutral = np.stack([mean_face(o) for o in speech])
    # the emotional take opens the mouth more (different speech amplitude) and adds `true`
    emo = np.stack([mean_face(o * 1.5) + true * iod for o in speech])
    recs = [_write_clip(tmp_path, "n", neutral), _write_clip(tmp_path, "h", emo)]
    store.write_jsonl_atomic(tmp_path / "index.jsonl", recs)
    path = [[i, i] for i in range(n)]
    store.write_jsonl_atomic(tmp_path / "pairs.jsonl", [{"neutral": "n", "other": "h", "emotion": "happy", "path": path}])
    protos = refit_prototypes(tmp_path)
    got = np.array(protos["emotions"]["happy"]["displacement"])
    assert protos["pairs"]["happy"] == 1 and "sad" in protos["kept_facs"]
    assert got[48, 1] == pytest.approx(-0.1, abs=0.01) and got[54, 1] == pytest.approx(-0.1, abs=0.01)
    assert got[17:27, 1] == pytest.approx(-0.05, abs=0.01)
    assert load_prototypes(protos)["happy"].shape == (68, 2)


def test_inner_lip_contour_opening_kept_between_landmarks():
    """Points a third and two thirds along each inner-lip segment, upper and lower, are moved
    together: the warp keeps the opening along the whole contour, not only at landmarks."""
    from stccl.edit.warp import inner_lip_contour, views

    eng = WarpEngine()
    lmk = mean_face(0.04)[None]
    for emotion in ("happy", "sad", "disgusted"):
        moved = target_landmarks(lmk, eng.prototypes[emotion], np.ones(1), views(lmk))
        src, dst = inner_lip_contour(lmk)[0], inner_lip_contour(moved)[0]
        k = len(src) // 2  # upper contour, then lower, at the same fractions
        assert np.allclose(dst[:k] - dst[k:], src[:k] - src[k:], atol=1e-9)
        out = eng(np.zeros((1, 3, S, S), np.float32), lmk.astype(np.float32), emotion, np.ones(1))
        flow = out.dense(S)[0]
        errors = []
        for q, p in zip(dst, src):
            x, y = np.clip(np.round(q).astype(int), 0, S - 1)  # read at the rounded pixel, as above
            errors.append(np.linalg.norm(q + flow[:, y, x] - p))
        assert np.mean(errors) < 0.75 and np.max(errors) < 2.0, errors


def test_turned_head_foreshortens_the_prototype():
    """On a face turned 40 degrees, sideways moves shrink by about cos(40) relative to vertical
    ones, as the camera sees them; frontal, the view is the identity."""

    from stccl.edit.warp import views
    from stccl.face.pose import MEAN_FACE

    def seen(yaw):
        r = np.radians(yaw)
        R = np.array([[np.cos(r), 0, -np.sin(r)], [0, 1, 0], [np.sin(r), 0, np.cos(r)]])
        return ((MEAN_FACE @ R.T)[:, :2] * 60 + 128)[None]

    front, turned = views(seen(0)), views(seen(40))
    assert np.allclose(front, np.eye(2)[None], atol=0.03)
    d = np.array([1.0, 1.0])
    iod = lambda p: np.linalg.norm(p[0, 42:48].mean(0) - p[0, 36:42].mean(0))  # noqa: E731
    for view, pts in ((front, seen(0)), (turned, seen(40))):
        move = (view[0] @ d) * iod(pts)
        ratio = float(move[0] / move[1])
        expected = 1.0 if view is front else np.cos(np.radians(40))
        assert ratio == pytest.approx(expected, abs=0.08), ratio


def _mouth_width(lmk):
    from stccl.face.measures import normalise

    n = normalise(np.asarray(lmk, np.float64))
    return n[:, 54, 0] - n[:, 48, 0]


def test_the_mouth_offset_follows_the_speech_width():
    """A mouth that narrows and widens with speech (o, ee): the emotion's sideways offset of the
    mouth is scaled with its width, so the output's width stays proportional to the input's (an
    "o" stays an "o"); the prototype added as it is would add a fixed width."""
    eng = WarpEngine(absolute=False)
    t = np.linspace(0, 2 * np.pi, 24)
    lmk = np.repeat(mean_face()[None], len(t), 0)
    for side, corner in ((-1, (48, 60)), (1, (54, 64))):
        lmk[:, list(corner), 0] += side * (6 * np.sin(t))[:, None]
    moves = eng._moves(lmk, "happy", np.ones(len(t)), None)
    width = _mouth_width(lmk)
    ratio = (width + moves[:, 54, 0] - moves[:, 48, 0]) / width
    fixed = (width + eng.prototypes["happy"][54, 0] - eng.prototypes["happy"][48, 0]) / width
    assert ratio.std() < 1e-6 and ratio.mean() > 1.05
    assert fixed.std() > 0.01  # the baseline: a fixed offset is not proportional


def test_the_mouth_offset_discounts_the_width_a_smile_shown_accounts_for():
    """The share follows the speech: a face whose width is a smile's (read as shown) gets the
    same share as the same face without the smile."""
    eng = WarpEngine()
    plain = mean_face()[None]
    smile = plain + 0.0
    shown = np.zeros((1, 68, 2))
    shown[0, 48, 0], shown[0, 54, 0] = -0.05, 0.05
    iod = np.linalg.norm(plain[0, 36:42].mean(0) - plain[0, 42:48].mean(0))
    smile[0, [48, 60], 0] -= 0.05 * iod
    smile[0, [54, 64], 0] += 0.05 * iod
    from stccl.edit.limits import width_share
    from stccl.face.measures import normalise

    assert width_share(normalise(smile), eng._rest_width, shown) == pytest.approx(
        width_share(normalise(plain), eng._rest_width), abs=1e-5)
    assert width_share(normalise(smile), eng._rest_width) > width_share(normalise(plain), eng._rest_width) + 0.05


@pytest.mark.parametrize("intensity", [1.0, 2.0, 50.0])
def test_the_eyes_never_close_past_the_floor(intensity):
    """Eyes narrowed to a quarter of their opening, edited to happy (which narrows them): at any
    intensity, each eye keeps EYE_FLOOR of its opening, where the prototype alone would close it
    further."""
    from stccl.edit.limits import EYE_FLOOR, LIDS, soft_intensity
    from stccl.face.measures import normalise

    face = mean_face()
    for up, lo in LIDS:
        middle = (face[up, 1] + face[lo, 1]) / 2
        face[up, 1], face[lo, 1] = middle + (face[up, 1] - middle) / 4, middle + (face[lo, 1] - middle) / 4
    eng = WarpEngine(absolute=False)
    moves = eng._moves(face[None], "happy", np.array([intensity]), None)
    n = normalise(face[None])
    for eye in (LIDS[:2], LIDS[2:]):
        opening = np.mean([n[0, lo, 1] - n[0, up, 1] for up, lo in eye])
        raw = np.mean([eng.prototypes["happy"][lo, 1] - eng.prototypes["happy"][up, 1] for up, lo in eye])
        after = opening + np.mean([moves[0, lo, 1] - moves[0, up, 1] for up, lo in eye])
        assert opening + raw * soft_intensity(intensity) < EYE_FLOOR * opening  # it would close past
        assert after == pytest.approx(EYE_FLOOR * opening, rel=1e-6)


def test_intensities_above_one_grow_softly():
    """The move at intensity 2 is 1.5 times the move at 1, at 3 1.67 times (never twice)."""
    eng = WarpEngine(absolute=False)
    lmk = np.repeat(mean_face()[None], 3, 0)
    moves = eng._moves(lmk, "sad", np.array([1.0, 2.0, 3.0]), None)
    assert np.abs(moves[0]).max() > 0.05
    assert moves[1] == pytest.approx(1.5 * moves[0]) and moves[2] == pytest.approx(5 / 3 * moves[0])


def test_an_engine_seen_by_another_tracker_moves_its_prior():
    """For a tracker whose 68-point view sits off dlib's, the reading's expression-free face and
    the mouth's expression-free width move with it; the engine itself is left as it was."""
    eng = WarpEngine()
    offset = np.zeros((68, 2))
    offset[48, 0], offset[54, 0] = 0.02, -0.02
    seen = eng.seen_by(offset)
    assert seen._rest_width == pytest.approx(eng._rest_width - 0.04)
    assert seen.expression.neutral == pytest.approx(eng.expression.neutral + offset)
    assert seen.expression.mouth_seconds == eng.expression.mouth_seconds is not None
    assert eng.seen_by(None) is eng and eng._rest_width != seen._rest_width
