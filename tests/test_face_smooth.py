import cv2
import numpy as np
import pytest

from stccl.config import TrackConfig
from stccl.face import (
    FACE_DETECTED,
    FACE_INTERPOLATED,
    FACE_MISSING,
    FaceTracker,
    LandmarkSmoother,
    OneEuro,
    fill_gaps,
    make_backend,
    smooth_track,
)

MEAD_CLIP = "mead/M030_level_3_angry_016.mp4"
STATIC = [27, 28, 29, 30, 36, 39, 42, 45]  # nose bridge and eye corners
INNER_LIPS = [(61, 67), (62, 66), (63, 65)]


def test_one_euro_quiets_noise():
    rng = np.random.default_rng(0)
    x = 5.0 + 0.1 * rng.standard_normal((200, 3, 2))
    f = OneEuro(25, min_cutoff=1.0, beta=0.5)
    y = np.array([f(v) for v in x])
    assert y.shape == x.shape
    assert y[50:].std() < 0.5 * x[50:].std()
    assert abs(y[50:].mean() - 5.0) < 0.02


def test_one_euro_follows_fast_step_with_little_lag():
    x = np.r_[np.zeros(20), np.ones(20)]
    fast, slow = OneEuro(25, min_cutoff=1.0, beta=3.0), OneEuro(25, min_cutoff=1.0, beta=0.0)
    y_fast = np.array([fast(v) for v in x])
    y_slow = np.array([slow(v) for v in x])
    assert y_fast[22] > 0.9  # within 3 frames
    assert y_slow[22] < 0.7  # what a fixed cutoff would do
    assert np.all(np.diff(y_fast) >= -1e-12) and y_fast.max() <= 1.0 + 1e-9  # no overshoot


def test_one_euro_reset_and_timestamps():
    f = OneEuro(25, min_cutoff=1.0, beta=0.0)
    f(np.zeros(2), t=0.0)
    a = f(np.ones(2), t=0.04)
    f.reset()
    assert np.allclose(f(np.full(2, 7.0)), 7.0)  # first sample after reset passes through
    g = OneEuro(25, min_cutoff=1.0, beta=0.0)
    g(np.zeros(2), t=0.0)
    b = g(np.ones(2), t=0.4)  # a longer step lets the filter move further
    assert np.all(b > a)


def linear_track(n=30):
    t = np.arange(n, dtype=np.float32)[:, None, None]
    base = np.random.default_rng(1).uniform(0, 100, (1, 68, 2)).astype(np.float32)
    return base + t * np.array([1.5, -0.5], np.float32)


def test_fill_gaps_interpolates_short_and_flags_long():
    truth = linear_track(40)
    lmk = truth.copy()
    lmk[5:8] = np.nan  # short, inside
    lmk[15:30] = np.nan  # long
    lmk[38:] = np.nan  # short, at the end
    filled, flags = fill_gaps(lmk, max_gap=5)
    assert flags.dtype == np.uint8 and flags.shape == (40,)
    np.testing.assert_allclose(filled[5:8], truth[5:8], atol=1e-4)
    assert (flags[5:8] == FACE_INTERPOLATED).all()
    assert np.isnan(filled[15:30]).all() and (flags[15:30] == FACE_MISSING).all()
    np.testing.assert_allclose(filled[38:], np.broadcast_to(truth[37], (2, 68, 2)))
    assert (flags[38:] == FACE_INTERPOLATED).all()
    assert (flags[:5] == FACE_DETECTED).all() and (flags[30:38] == FACE_DETECTED).all()
    np.testing.assert_array_equal(filled[:5], truth[:5])


def test_fill_gaps_start_and_empty():
    lmk = linear_track(10)
    lmk[:3] = np.nan
    filled, flags = fill_gaps(lmk, max_gap=3)
    np.testing.assert_allclose(filled[:3], np.broadcast_to(lmk[3], (3, 68, 2)))
    assert (flags[:3] == FACE_INTERPOLATED).all()
    empty, flags = fill_gaps(np.full((4, 68, 2), np.nan), max_gap=3)
    assert np.isnan(empty).all() and (flags == FACE_MISSING).all()


def test_smooth_track_keeps_gaps_and_resets():
    lmk = linear_track(20)
    lmk[8:10] = np.nan
    out = smooth_track(lmk, fps=25)
    assert np.isnan(out[8:10]).all() and np.isfinite(out[:8]).all()
    np.testing.assert_allclose(out[10], lmk[10], atol=1e-4)  # restarts at the measurement


def test_landmark_smoothing_does_not_depend_on_resolution():
    rng = np.random.default_rng(2)
    track = linear_track(30) + rng.normal(0, 0.5, (30, 68, 2)).astype(np.float32)
    small, big = smooth_track(track, 25), smooth_track(4 * track, 25)
    np.testing.assert_allclose(big, 4 * small, rtol=1e-4, atol=1e-3)


def test_landmark_smoother_restarts_at_a_cut():
    smoother = LandmarkSmoother(25)
    face = linear_track(1)[0]
    for _ in range(5):
        smoother(face)
    moved = face + 300.0  # far more than an inter-ocular distance in one frame
    np.testing.assert_allclose(smoother(moved), moved, atol=1e-3)


def iod(track):
    return np.linalg.norm(track[:, 36:42].mean(1) - track[:, 42:48].mean(1), axis=1)


def static_jitter(track) -> float:
    """RMS second temporal difference of the static points, in inter-ocular distances."""
    p = track[:, STATIC]
    acc = np.linalg.norm(p[2:] - 2 * p[1:-1] + p[:-2], axis=-1) / iod(track)[1:-1, None]
    return float(np.sqrt(np.mean(acc**2)))


def mouth_opening(track) -> np.ndarray:
    d = [np.linalg.norm(track[:, a] - track[:, b], axis=-1) for a, b in INNER_LIPS]
    return np.mean(d, axis=0) / iod(track)


@pytest.fixture(scope="module")
def raw_track(shared_data):
    cap = cv2.VideoCapture(str(shared_data / MEAD_CLIP))
    tracker = FaceTracker(make_backend("dlib"), TrackConfig())
    lmk = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        out = tracker(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        lmk.append(np.full((68, 2), np.nan, np.float32) if out is None else out)
    cap.release()
    track = np.array(lmk)
    assert np.isfinite(track).all(), "the test clip should be tracked on every frame"
    return track


def test_smoothing_removes_jitter_but_keeps_speech(raw_track, record_property):
    cfg = TrackConfig()
    smooth = smooth_track(
        raw_track, 25, cfg.min_cutoff, cfg.beta, cfg.mouth_min_cutoff, cfg.mouth_beta
    )
    ratio = static_jitter(smooth) / static_jitter(raw_track)
    corr = float(np.corrcoef(mouth_opening(raw_track), mouth_opening(smooth))[0, 1])
    record_property("jitter_ratio", round(ratio, 3))
    record_property("mouth_correlation", round(corr, 4))
    print(f"static jitter ratio {ratio:.3f}, mouth-opening correlation {corr:.4f}")
    assert ratio < 0.5
    assert corr >= 0.98
