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
