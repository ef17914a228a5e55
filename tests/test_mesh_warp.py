"""The warp on the 468-point mesh (stccl.edit.mesh_warp): its prototypes, their fit, and what its
edits do to real faces, read back afresh by dlib (a reader that did not drive the edit: the
default tracker is the mesh)."""

import json

import numpy as np
import pytest

from stccl import Editor
from stccl.config import EditConfig
from stccl.edit.facs import PACKAGED as PACKAGED_68
from stccl.edit.mesh_facs import PACKAGED_MESH as PACKAGED
from stccl.edit.mesh_facs import EMOTION_AUS, NOSE, UNITS, mirror_map, unit_fields
from stccl.edit.limits import EYE_FLOOR, soft_intensity
from stccl.edit.mesh_warp import MeshWarpEngine, build
from stccl.edit.expression import EXPRESSIVE
from stccl.edit.warp import WarpEngine
from stccl.face.fresh import read_landmarks
from stccl.face.measures import normalise
from stccl.train.mesh_prototypes import FACS_WEIGHT, UNSEEN, mesh_part, take_displacement



@pytest.fixture(scope="module")
def shipped():
    return json.loads(PACKAGED.read_text())


def test_shipped_mesh_prototypes(shipped):
    mesh = shipped["mesh"]
    canonical = np.asarray(mesh["canonical"])
    mirror = mirror_map(canonical)
    assert (mirror[mirror] == np.arange(468)).all()
    assert np.abs(canonical[mirror] * [-1, 1, 1] - canonical).max() < 1e-3  # symmetric
    fields = unit_fields(canonical)
    for unit in UNITS:
        f = fields[unit]
        assert np.abs(f).max() > 0.01, unit
        if unit != "AU14R":  # one-sided by definition
            assert np.abs(f[mirror] * [-1, 1, 1] - f).max() < 1e-3, unit
    for emotion, v in mesh["emotions"].items():
        d = np.asarray(v["displacement"])
        assert d.shape == (468, 3)
        assert np.abs(d[list(NOSE)]).max() < 1e-3, emotion  # the nose keeps its length
        assert set(v["aus"]) == set(EMOTION_AUS[emotion])
    assert "W009" in mesh["source"] and "M030" not in mesh["source"]  # fitted on W009 only
    assert shipped["version"] == 3


def _takes(canonical, weights, rng, frames=40):
    """Image-pixel meshes of a synthetic speaker: the canonical face plus `weights` of units,
    turned and moved a little every frame, the lower face opening and closing with speech."""
    fields = unit_fields(canonical)
    shape = canonical + sum((w * fields[u] for u, w in weights.items()), np.zeros_like(canonical))
    out = []
    for _ in range(frames):
        s = shape.copy()
        s[:, 1] += rng.uniform(0, 0.15) * (canonical[:, 1] > 1.0)  # the jaw and lower lip drop
        yaw, roll = rng.normal(0, 0.05, 2)
        r = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
        r = np.array([[np.cos(roll), -np.sin(roll), 0], [np.sin(roll), np.cos(roll), 0], [0, 0, 1]]) @ r
        out.append(s @ r.T * 80 + [200 + rng.normal(0, 3), 220, 0])
    return np.asarray(out)


def test_the_fit_recovers_known_unit_weights(shipped):
    rng = np.random.default_rng(0)
    canonical = np.asarray(shipped["mesh"]["canonical"])
    truth = {"happy": {"AU6": 0.8, "AU12": 0.5}, "sad": {"AU1": 0.6, "AU4": 0.0, "AU6": 0.0, "AU15": 1.1}}
    neutral = [_takes(canonical, {}, rng)]
    observed = {e: [take_displacement(neutral[0], _takes(canonical, w, rng), canonical)] for e, w in truth.items()}
    part = mesh_part(neutral, observed, "synthetic")
    for emotion, w in truth.items():
        got = part["emotions"][emotion]["aus"]
        assert got == pytest.approx(w, abs=0.08), emotion
        assert part["fit"][emotion]["cos"] > 0.95
    assert part["fit"]["angry"]["kept"] == "facs"  # no takes: FACS kept, and said so


def test_the_lids_keep_their_facs_weight_and_the_rest_is_fitted(shipped):
    """The mesh tracker barely sees lids move (UNSEEN): a take whose lids moved little still
    gets the lid raiser at its FACS weight, and the brows are fitted as before."""
    rng = np.random.default_rng(1)
    canonical = np.asarray(shipped["mesh"]["canonical"])
    truth = {"AU1": 0.6, "AU2": 0.4, "AU5": 0.2}
    neutral = _takes(canonical, {}, rng)
    part = mesh_part([neutral], {"surprised": [take_displacement(neutral, _takes(canonical, truth, rng), canonical)]},
                     "synthetic")
    got = part["emotions"]["surprised"]["aus"]
    assert "AU5" in UNSEEN and got["AU5"] == FACS_WEIGHT
    assert got["AU1"] == pytest.approx(0.6, abs=0.08) and got["AU2"] == pytest.approx(0.4, abs=0.08)


def test_soft_intensity():
    i = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 4.0, 100.0])
    s = soft_intensity(i)
    assert s[:3] == pytest.approx(i[:3])
    assert (np.diff(s) > 0).all() and s[-1] < 2.0 and s[4] == pytest.approx(1.5)


def test_68_point_files_load_and_the_68_point_warp_stays(tmp_path):
    assert isinstance(build(EditConfig(prototypes=str(PACKAGED_68))), WarpEngine)
    assert isinstance(build(EditConfig()), MeshWarpEngine)
    assert Editor(engine="meshwarp").engine.name == "meshwarp"
    assert Editor(engine="warp").engine.name == "warp"  # the default stays the 68-point warp


def _mouth_width(lmk):
    n = normalise(lmk)
    return n[:, 54, 0] - n[:, 48, 0]


def test_the_mouth_width_follows_speech_in_the_engine(shipped):
    """On a face whose mouth narrows and widens (o, ee), the corners' offset yields: the output
    width stays proportional to the input's; the 68-point warp adds a fixed offset."""
    from stccl.face.mesh_map import ibug68

    face = ibug68(np.asarray(shipped["mesh"]["canonical"])[:, :2]).astype(np.float64) * 60 + 128
    t = np.linspace(0, 2 * np.pi, 24)
    lmk = np.repeat(face[None], len(t), 0)
    for side, corner in ((-1, (48, 60)), (1, (54, 64))):
        lmk[:, list(corner), 0] += side * (8 * np.sin(t))[:, None]
    engine = MeshWarpEngine(absolute=False)
    m68, _ = engine._moves(lmk, "happy", np.ones(len(t)), None)
    width_in = _mouth_width(lmk)
    width_out = width_in + m68[:, 54, 0] - m68[:, 48, 0]
    ratio = width_out / width_in
    assert ratio.std() < 1e-6 and ratio.mean() != pytest.approx(1.0, abs=1e-3)


def test_the_width_follows_speech_where_the_reading_follows_it_too(shipped):
    """Absolute edits: a mouth that widens with speech reads as a little happy (the reading
    follows the width), and removing that reading at its full size would narrow the mouth just
    where speech widened it. The mouth's width stays far nearer proportional to the input's
    than under the 68-point warp, which removes it at full size, on the same frames."""
    from stccl.face.mesh_map import ibug68

    face = ibug68(np.asarray(shipped["mesh"]["canonical"])[:, :2]).astype(np.float64) * 60 + 128
    t = np.linspace(0, 2 * np.pi, 24)
    lmk = np.repeat(face[None], len(t), 0)
    for side, corner in ((-1, (48, 60)), (1, (54, 64))):
        lmk[:, list(corner), 0] += side * (8 * np.sin(t))[:, None]
    engine, warp = MeshWarpEngine(), WarpEngine()
    weights = engine.expression.weights(lmk)
    assert np.ptp(weights[:, EXPRESSIVE.index("happy")]) > 0.1  # the reading does follow the width
    shown = engine.expression.shown(weights)
    width_in = _mouth_width(lmk)
    for target in ("happy", "sad", "neutral"):
        m68, _ = engine._moves(lmk, target, np.ones(len(t)), shown)
        m68_warp = warp.prototypes[target] - shown
        mesh = (width_in + m68[:, 54, 0] - m68[:, 48, 0]) / width_in
        flat = (width_in + m68_warp[:, 54, 0] - m68_warp[:, 48, 0]) / width_in
        assert mesh.std() < 0.5 * flat.std(), target


def test_a_face_keeps_what_it_shows_of_the_target(shipped):
    """A broad smile edited to happy is not made smaller: the fitted happy prototype is smaller
    than the reading's, so removing all the smile shown and adding the prototype would pull the
    corners down. Another target still removes the smile."""
    from stccl.face.mesh_map import ibug68

    face = ibug68(np.asarray(shipped["mesh"]["canonical"])[:, :2]).astype(np.float64)[None] * 60 + 128
    engine = MeshWarpEngine()
    weights = np.zeros((1, len(EXPRESSIVE)))
    weights[0, EXPRESSIVE.index("happy")] = 0.9
    shown = engine.expression.shown(weights)
    corners = [48, 54]
    happy, _ = engine._moves(face, "happy", np.ones(1), shown)
    sad, _ = engine._moves(face, "sad", np.ones(1), shown)
    assert happy[0, corners, 1].mean() < 0.002  # not pulled down (y down +)
    lifted = -shown[0, corners, 1].mean()  # how far the smile shown lifts the corners
    assert lifted > 0 and sad[0, corners, 1].mean() > lifted  # the smile removed, and sad's corners added


def test_the_eyes_never_close_past_the_floor(shipped):
    """Narrow eyes edited to sad (the prototype that narrows the eyes most) at any intensity:
    the lids' moves are cut so that each eye keeps EYE_FLOOR of its opening, where the prototype
    alone would close it further."""
    from stccl.face.mesh_map import ibug68

    face = ibug68(np.asarray(shipped["mesh"]["canonical"])[:, :2]).astype(np.float64) * 60 + 128
    for up, lo in ((37, 41), (38, 40), (43, 47), (44, 46)):  # a squint: a quarter of the opening
        middle = (face[up, 1] + face[lo, 1]) / 2
        face[up, 1], face[lo, 1] = middle + (face[up, 1] - middle) / 4, middle + (face[lo, 1] - middle) / 4
    lmk = np.repeat(face[None], 3, 0)
    intensity = np.array([1.0, 2.0, 50.0])
    engine = MeshWarpEngine(absolute=False)
    m68, _ = engine._moves(lmk, "sad", intensity, None)
    n = normalise(lmk)
    raw = engine.moves68["sad"][None] * soft_intensity(intensity)[:, None, None]
    assert (_eye_opening(n) + _lid_change(raw) < EYE_FLOOR * _eye_opening(n)).all()  # it would close past
    assert _eye_opening(n) + _lid_change(m68) == pytest.approx(EYE_FLOOR * _eye_opening(n), rel=1e-6)


def _lid_change(moves):
    return np.mean([moves[:, lo, 1] - moves[:, up, 1] for up, lo in ((37, 41), (38, 40), (43, 47), (44, 46))], 0)


@pytest.fixture(scope="module")
def mesh_editor():
    return Editor(engine="meshwarp")


_READ = {}


def _edit_read(editor, edit_clips, dlib_backend, tmp_path, key, emotion, intensity):
    """The edit's landmarks read by dlib; each edit made once per run (two tests read the
    68-point warp's)."""
    name = (key, emotion, intensity, editor.engine.name)
    if name not in _READ:
        out = tmp_path / f"{key}.{emotion}.{intensity}.{editor.engine.name}.mp4"
        editor.edit(edit_clips[key], emotion=emotion, out=out, intensity=intensity)
        _READ[name] = read_landmarks(out, dlib_backend)
    return _READ[name]


def _both(a, b):
    ok = np.isfinite(a).all((1, 2)) & np.isfinite(b).all((1, 2))
    assert ok.sum() >= 10
    return normalise(a[ok]), normalise(b[ok])


def _nose_length(lmk):
    """The nose's tip (30) below the eye corners' line, over the corners' span: the corners, not
    the eye centres, which move with the lids (a surprised edit raises them); the tip, not the
    base (33), which AU9 lifts and its removal lowers with the nose's wings."""
    corners = lmk[:, [36, 39, 42, 45]]
    span = np.linalg.norm(lmk[:, 45] - lmk[:, 36], axis=1)
    return ((lmk[:, 30, 1] - corners[..., 1].mean(1)) / span).mean()


def _eye_opening(n):
    return np.mean([n[:, lo, 1] - n[:, up, 1] for up, lo in ((37, 41), (38, 40), (43, 47), (44, 46))], 0)


_SOFT_TOO = pytest.mark.xfail(strict=True, reason=(
    "the 68-point warp's intensities now grow softly too: at x3 its nose reads 1.026 (0.73 before), "
    "and the mesh warp's 0.954 is no longer half as far off as it"))


@pytest.mark.parametrize("key, emotion, intensity", [pytest.param("d12", "angry", 3.0, marks=_SOFT_TOO),
                                                     ("d20", "happy", 2.0), ("M026", "surprised", 1.5)])
def test_no_stretched_features_on_real_faces(mesh_editor, warp_editor, edit_clips, fresh_inputs, dlib_backend,
                                             tmp_path, key, emotion, intensity):
    """Read back by dlib: the nose keeps its length (bridge to tip) far better than the 68-point
    warp's edit of the same frames, the inner brows are not pressed together, the eyes stay open
    past the floor; and the edit did move the face. (dlib's nose tip drifts a little when the
    brows move: no edit reads exactly 1.)"""
    a, b = _both(fresh_inputs[key], _edit_read(mesh_editor, edit_clips, dlib_backend, tmp_path, key, emotion, intensity))
    a68, b68 = _both(fresh_inputs[key], _edit_read(warp_editor, edit_clips, dlib_backend, tmp_path, key,
                                                   emotion, intensity))
    nose, nose68 = _nose_length(b) / _nose_length(a), _nose_length(b68) / _nose_length(a68)
    brows = np.linalg.norm(b[:, 22] - b[:, 21], axis=1).mean() / np.linalg.norm(a[:, 22] - a[:, 21], axis=1).mean()
    eyes = _eye_opening(b).mean() / _eye_opening(a).mean()
    moved = np.linalg.norm(b[:, 17:68] - a[:, 17:68], axis=-1).mean()
    print(f"{key} {emotion} x{intensity}: nose {nose:.3f} (68-point warp {nose68:.3f}), inner brows {brows:.3f}, "
          f"eyes {eyes:.3f}, moved {moved:.3f} IOD")
    assert abs(nose - 1) < 0.07 and abs(nose - 1) < 0.5 * abs(nose68 - 1)
    assert brows > 0.9
    assert eyes > EYE_FLOOR - 0.05  # dlib reads lids to about 0.05 of their opening
    assert moved > 0.01  # the edit did move the face: the checks above are not of an unchanged one


_GOGGLES = pytest.mark.xfail(strict=True, reason=(
    "the 68-point warp's surprised x1.5 on M026's disgusted take: his lowered brows are removed and "
    "surprise's raised by 0.28 IOD, the skin above the eyes stretches into dark hollows, and dlib reads "
    "the eye corners up with it: the nose 1.15 long"))
_HAPPY_CORNERS = pytest.mark.xfail(strict=True, reason=(
    "the 68-point warp's happy raises the outer eye corners (AU6), from which the nose is measured: "
    "d20 happy x2 reads 1.072, the bar is 1.07"))


@pytest.mark.parametrize("key, emotion, intensity", [
    ("d12", "angry", 3.0), pytest.param("d20", "happy", 2.0, marks=_HAPPY_CORNERS),
    pytest.param("M026", "surprised", 1.5, marks=_GOGGLES)])
def test_the_68_point_warp_stretches_no_feature(warp_editor, edit_clips, fresh_inputs, dlib_backend, tmp_path,
                                                key, emotion, intensity):
    """The default engine held to the same bars at intensities above 1, read back by dlib: the
    nose within 7% (d12 angry x3 read 0.73 before its intensities grew softly), the inner brows
    not pressed together, the eyes open past the floor, and the face moved."""
    a, b = _both(fresh_inputs[key], _edit_read(warp_editor, edit_clips, dlib_backend, tmp_path, key, emotion,
                                               intensity))
    nose = _nose_length(b) / _nose_length(a)
    brows = np.linalg.norm(b[:, 22] - b[:, 21], axis=1).mean() / np.linalg.norm(a[:, 22] - a[:, 21], axis=1).mean()
    eyes = _eye_opening(b).mean() / _eye_opening(a).mean()
    moved = np.linalg.norm(b[:, 17:68] - a[:, 17:68], axis=-1).mean()
    print(f"warp {key} {emotion} x{intensity}: nose {nose:.3f}, inner brows {brows:.3f}, eyes {eyes:.3f}, "
          f"moved {moved:.3f} IOD")
    assert abs(nose - 1) < 0.07
    assert brows > 0.9
    assert eyes > EYE_FLOOR - 0.05
    assert moved > 0.01


@pytest.mark.xfail(strict=True, reason="issue 35 item 5 is open: the expression shown is read as the 68-point "
                   "warp reads it, which reads W036's smile as happy 0.39 and sad 0.31; removing both lowers "
                   "the lids by 0.006 IOD but lifts the corners by 0.008 (removing sad lifts them)")
def test_neutral_lowers_cheeks_and_lower_lids(mesh_editor, edit_clips, fresh_inputs, dlib_backend, tmp_path):
    """A real level-3 smile (W036) edited to neutral: the lower lids and the corners come down."""
    a, b = _both(fresh_inputs["W036"], _edit_read(mesh_editor, edit_clips, dlib_backend, tmp_path, "W036", "neutral", 1.0))
    lids = (b[:, [40, 41, 46, 47], 1] - a[:, [40, 41, 46, 47], 1]).mean()
    corners = (b[:, [48, 54], 1] - a[:, [48, 54], 1]).mean()
    print(f"W036 happy -> neutral: lower lids {lids:+.4f}, corners {corners:+.4f} IOD (down +)")
    assert lids > 0.005 and corners > 0.01
