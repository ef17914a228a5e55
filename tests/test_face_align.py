import math

import cv2
import numpy as np
import pytest

from stccl.face import (
    SimilaritySmoother,
    invert,
    make_backend,
    paste_back,
    similarity_from_landmarks,
    template,
    transform_landmarks,
    warp_to_crop,
)
from stccl.face.align import (
    anchors,
    feather_mask,
    fit_similarity,
    similarity_from_params,
    similarity_params,
)

MEAD_CLIP = "mead/W015_level_1_neutral_030.mp4"


def similarity(scale, angle, tx, ty) -> np.ndarray:
    c, s = scale * math.cos(angle), scale * math.sin(angle)
    return np.array([[c, -s, tx], [s, c, ty]])


def opencv_similarity(src, dst) -> np.ndarray:
    """OpenCV's least-squares partial affine: every point an inlier, then refined."""
    M, inliers = cv2.estimateAffinePartial2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=1e6, maxIters=10, refineIters=100
    )
    assert inliers.all()
    return M


def pattern_frame(h=480, w=640) -> np.ndarray:
    """Smooth, distinctive content: low-frequency colour noise plus shapes."""
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (h // 24, w // 24, 3), dtype=np.uint8)
    frame = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    cv2.circle(frame, (300, 220), 60, (250, 30, 30), 12)
    cv2.rectangle(frame, (250, 300), (380, 340), (20, 200, 60), -1)
    return cv2.GaussianBlur(frame, (0, 0), 1.5)


def test_template_fractions():
    t = template(256)
    assert t.shape == (3, 2)
    assert t[0, 1] == t[1, 1] and t[0, 0] < t[1, 0]  # level eyes, left one first
    assert t[2, 1] > t[0, 1] + 50  # mouth below
    np.testing.assert_allclose(template(512), (t + 0.5) * 2 - 0.5)


def test_fit_recovers_similarity_without_reflection():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 500, (10, 2))
    M = similarity(0.7, 0.3, 12.0, -40.0)
    np.testing.assert_allclose(fit_similarity(src, transform_landmarks(src, M)), M, atol=1e-9)
    mirrored = src * [-1, 1]  # the best similarity onto a mirror image still has det > 0
    assert np.linalg.det(fit_similarity(src, mirrored)[:, :2]) > 0


def test_matches_opencv_least_squares():
    rng = np.random.default_rng(1)
    src = rng.uniform(100, 400, (12, 2))
    dst = transform_landmarks(src, similarity(1.3, -0.2, 30, 5)) + rng.normal(0, 2.0, (12, 2))
    ours = fit_similarity(src, dst)
    ref = opencv_similarity(src, dst)
    assert np.abs(transform_landmarks(src, ours) - transform_landmarks(src, ref)).max() < 0.05


def test_invert_and_landmark_round_trip():
    M = similarity(0.42, 0.7, -100.0, 33.0)
    p = np.random.default_rng(2).uniform(0, 1000, (68, 2))
    back = transform_landmarks(transform_landmarks(p, M), invert(M))
    assert np.abs(back - p).max() < 1e-3
    np.testing.assert_allclose(invert(invert(M)), M, atol=1e-12)


def test_params_round_trip():
    M = similarity(0.37, -2.9, 40.0, 120.0)
    np.testing.assert_allclose(similarity_from_params(similarity_params(M, 256), 256), M, atol=1e-9)


def test_crop_paste_round_trip(record_property):
    frame = pattern_frame()
    M = similarity(0.9, 0.25, -150.0, -60.0)
    crop = warp_to_crop(frame, M, 256)
    assert crop.shape == (256, 256, 3) and crop.dtype == np.uint8
    hard = np.ones((256, 256), np.float32)
    back = paste_back(np.zeros_like(frame), crop, M, hard)
    inner = np.zeros((256, 256), np.uint8)
    inner[16:-16, 16:-16] = 1
    region = cv2.warpAffine(inner, invert(M), frame.shape[1::-1], flags=cv2.INTER_NEAREST).astype(
        bool
    )
    err = np.abs(back.astype(float) - frame.astype(float))[region].mean()
    record_property("paste_back_mae", round(float(err), 3))
    print(f"paste-back round trip: mean abs error {err:.3f} grey levels")
    assert err < 2.0
    assert (back[~cv2.dilate(region.astype(np.uint8), np.ones((60, 60))).astype(bool)] == 0).all()


def test_paste_back_default_mask_is_feathered():
    frame = np.zeros((300, 300, 3), np.uint8)
    crop = np.full((128, 128, 3), 200, np.uint8)
    M = similarity(1.0, 0.0, -50.0, -60.0)  # crop covers frame x 50..177, y 60..187
    out = paste_back(frame, crop, M)
    assert out[124, 114].tolist() == [200, 200, 200]  # centre: the crop
    assert 0 < out[61, 114, 0] < 100  # edge: blended
    assert out[20, 20].sum() == 0 and frame.sum() == 0  # outside untouched, input not modified
    mask = feather_mask(128)
    assert mask[64, 64] == 1.0 and mask[0, 0] < 0.01
    soft = paste_back(frame, crop, M, (mask * 255).astype(np.uint8))
    assert np.abs(soft.astype(int) - out.astype(int)).max() <= 1


def test_paste_back_off_frame_is_a_no_op():
    frame = np.full((100, 100, 3), 9, np.uint8)
    out = paste_back(frame, np.zeros((64, 64, 3), np.uint8), similarity(1.0, 0.0, 500.0, 500.0))
    np.testing.assert_array_equal(out, frame)


@pytest.fixture(scope="module")
def real_landmarks(shared_data):
    cap = cv2.VideoCapture(str(shared_data / MEAD_CLIP))
    ok, bgr = cap.read()
    cap.release()
    assert ok
    frame = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    backend = make_backend("dlib")
    box = backend.detect(frame)[0]
    return frame, backend.landmarks(frame, box)


def test_real_face_lands_on_template(real_landmarks):
    frame, lmk = real_landmarks
    M = similarity_from_landmarks(lmk, 256)
    assert np.linalg.det(M[:, :2]) > 0
    eyes = transform_landmarks(anchors(lmk)[:2], M)
    assert np.abs(eyes - template(256)[:2]).max() < 2.0
    crop_lmk = transform_landmarks(lmk, M)
    assert crop_lmk.min() > 0.04 * 256 and crop_lmk.max() < 0.96 * 256  # brows to chin fit
    ref = opencv_similarity(anchors(lmk), template(256))
    assert np.abs(transform_landmarks(lmk, M) - transform_landmarks(lmk, ref)).max() < 0.05
    crop = warp_to_crop(frame, M, 256)
    assert crop.shape == (256, 256, 3)


def test_similarity_smoother_steadies_noisy_transforms():
    rng = np.random.default_rng(3)
    smoother = SimilaritySmoother(25, 256, min_cutoff=0.5, beta=10.0)
    truth = similarity(0.5, 0.1, 20.0, 30.0)
    raw, out = [], []
    for _ in range(100):
        noisy = similarity(
            0.5 * (1 + rng.normal(0, 0.01)),
            0.1 + rng.normal(0, 0.01),
            20.0 + rng.normal(0, 2),
            30.0 + rng.normal(0, 2),
        )
        raw.append(noisy)
        out.append(smoother(noisy))
    raw, out = np.array(raw)[30:], np.array(out)[30:]
    assert np.abs(out - truth).mean() < 0.5 * np.abs(raw - truth).mean()
    assert all(np.linalg.det(m[:, :2]) > 0 for m in out)


def test_similarity_smoother_restarts_at_a_cut():
    smoother = SimilaritySmoother(25, 256)
    a, b = similarity(0.5, 0.0, 0.0, 0.0), similarity(0.5, 0.0, -200.0, 0.0)
    for _ in range(5):
        smoother(a)
    np.testing.assert_allclose(smoother(b), b, atol=1e-9)
