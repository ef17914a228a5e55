import cv2
import numpy as np
import pytest

from stccl.config import AlignConfig, TrackConfig
from stccl.face import (
    FACE_DETECTED,
    FACE_INTERPOLATED,
    FACE_MISSING,
    FaceStream,
    FaceTracker,
    make_backend,
    transform_landmarks,
)

MEAD_CLIP = "mead/W036_level_3_happy_007.mp4"
BASE = np.random.default_rng(0).uniform(100, 200, (68, 2)).astype(np.float32)
BASE[36:42] = [100, 100]
BASE[42:48] = [160, 100]
BASE[48], BASE[54] = [110, 170], [150, 170]


class ScriptedTracker:
    """Stands in for FaceTracker: a face that drifts right, present where the script says."""

    dense = None  # no dense points, like a 68-point tracker

    def __init__(self, present):
        self.present = present
        self.calls = 0

    def __call__(self, frame):
        i = int(frame[0, 0, 0]) + 256 * int(frame[0, 0, 1])
        self.calls += 1
        return BASE + [2.0 * i, 0.0] if self.present[i] else None


def tiny_frame(i):
    frame = np.zeros((4, 4, 3), np.uint8)
    frame[0, 0, :2] = (i % 256, i // 256)
    return frame


def run(present, max_gap=4, smooth=False):
    cfg = TrackConfig(max_gap=max_gap, smooth=smooth)
    stream = FaceStream(ScriptedTracker(present), 25.0, cfg, AlignConfig(size=128))
    out, held = [], []
    for i in range(len(present)):
        out += stream.push(tiny_frame(i))
        held.append(i + 1 - len(out))
    out += stream.finish()
    return out, max(held), stream


def test_order_gaps_and_flags():
    present = [True] * 5 + [False] * 3 + [True] * 5 + [False] * 9 + [True] * 4 + [False] * 2
    out, held, stream = run(present, max_gap=4)
    assert [f.index for _, f in out] == list(range(len(present)))
    assert all(
        int(frame[0, 0, 0]) == face.index for frame, face in out
    )  # each frame with its own record
    assert held <= 4 + 1 and stream.max_held <= 4 + 1
    flags = [f.flag for _, f in out]
    assert flags[:5] == [FACE_DETECTED] * 5
    assert flags[5:8] == [FACE_INTERPOLATED] * 3
    assert flags[13:22] == [FACE_MISSING] * 9
    assert flags[22:26] == [FACE_DETECTED] * 4
    assert flags[26:] == [FACE_INTERPOLATED] * 2  # short gap at the end: nearest face
    for _, f in out:
        if f.flag == FACE_MISSING:
            assert f.landmarks is None and f.M is None and f.Minv is None
        else:
            assert f.landmarks.shape == (68, 2) and f.M.shape == (2, 3)
            np.testing.assert_allclose(
                f.M @ np.vstack([f.Minv, [0, 0, 1]]), np.eye(3)[:2], atol=1e-9
            )
    # unsmoothed, the short gap is the straight line between the faces around it
    for i in (5, 6, 7):
        np.testing.assert_allclose(out[i][1].landmarks, BASE + [2.0 * i, 0.0], atol=1e-4)
    np.testing.assert_allclose(out[27][1].landmarks, BASE + [2.0 * 25, 0.0], atol=1e-4)


def test_gaps_at_the_start():
    out, _, _ = run([False] * 3 + [True] * 3, max_gap=4)
    assert [f.flag for _, f in out] == [FACE_INTERPOLATED] * 3 + [FACE_DETECTED] * 3
    np.testing.assert_allclose(out[0][1].landmarks, BASE + [6.0, 0.0], atol=1e-4)
    out, held, stream = run([False] * 6 + [True] * 2, max_gap=4)
    assert [f.flag for _, f in out] == [FACE_MISSING] * 6 + [FACE_DETECTED] * 2
    assert held == 4 and stream.max_held == 5  # the 5th frame of the gap releases them all


def test_no_face_at_all_and_empty_stream():
    out, _, _ = run([False] * 3, max_gap=4)
    assert [f.flag for _, f in out] == [FACE_MISSING] * 3
    stream = FaceStream(ScriptedTracker([]), 25.0)
    assert stream.finish() == []


def test_smoothing_keeps_a_still_face_still():
    out, _, _ = run([True] * 10, smooth=True)
    first = out[0][1]
    for _, f in out:
        assert np.isfinite(f.landmarks).all()
    # the face drifts by 2 px/frame: smoothed output lags behind but follows it
    assert out[-1][1].landmarks[30, 0] > first.landmarks[30, 0] + 10


@pytest.fixture(scope="module")
def mead_frames(shared_data):
    cap = cv2.VideoCapture(str(shared_data / MEAD_CLIP))
    frames = []
    while len(frames) < 30:
        ok, bgr = cap.read()
        assert ok
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


def test_real_clip_with_black_gaps(mead_frames):
    cfg = TrackConfig(max_gap=6)
    align = AlignConfig(size=128)
    black = np.zeros_like(mead_frames[0])
    seq = mead_frames[:10] + [black] * 3 + mead_frames[10:20] + [black] * 8 + mead_frames[20:30]
    stream = FaceStream(FaceTracker(make_backend("dlib"), cfg), 25.0, cfg, align)
    out, most_held = [], 0
    for i, frame in enumerate(seq):
        out += stream.push(frame)
        most_held = max(most_held, i + 1 - len(out))
    out += stream.finish()
    assert [f.index for _, f in out] == list(range(len(seq)))
    assert all(frame is seq[f.index] for frame, f in out)
    assert most_held <= cfg.max_gap + 1
    flags = np.array([f.flag for _, f in out])
    assert (flags[10:13] == FACE_INTERPOLATED).all()
    assert (flags[23:31] == FACE_MISSING).all()
    assert (flags[:10] == FACE_DETECTED).all() and (flags[31:] == FACE_DETECTED).all()
    for _, f in out:
        if f.landmarks is not None:
            eyes = transform_landmarks(f.landmarks[36:48], f.M)
            assert (eyes > 0).all() and (eyes < 128).all()


def test_the_fit_spread_is_measured_every_few_frames_and_carried_between(monkeypatch):
    """spread_every=4: measured on the 1st, 5th, 9th... fitted frame; the frames between and a
    filled gap carry the last measure; after a face is lost the next fit is measured."""
    import math

    import stccl.face.stream as fs

    measured = []

    def fake_spread(backend, image, lmk):
        i = int(image[0, 0, 0])
        measured.append(i)
        return float(i)

    monkeypatch.setattr(fs, "fit_spread", fake_spread)
    present = [True] * 6 + [False] * 2 + [True] * 3 + [False] * 6 + [True] * 3
    tracker = ScriptedTracker(present)
    tracker.backend = None
    stream = FaceStream(tracker, 25.0, TrackConfig(max_gap=4, smooth=False), AlignConfig(size=128),
                        spread_every=4)
    out = []
    for i in range(len(present)):
        out += stream.push(tiny_frame(i))
    out += stream.finish()
    assert measured == [0, 4, 10, 17]  # fitted frames 1, 5 and 9 (after the filled gap); 17 after a loss
    spread = [face.spread for _, face in out]
    assert spread[:4] == [0.0] * 4 and spread[4:10] == [4.0] * 6  # 6 and 7: the filled gap
    assert spread[10] == 10.0
    assert all(math.isnan(s) for s in spread[11:17])  # no face
    assert spread[17:] == [17.0] * 3
    assert all(math.isnan(f.spread) for _, f in run(present)[0])  # spread_every=0: never
