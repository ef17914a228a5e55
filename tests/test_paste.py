"""paste_change builds its sampling map on a coarse grid over the face box; it must paste what
the per-pixel map would, and leave every pixel outside the mask exactly as it was."""

import math

import cv2
import numpy as np
import pytest

from stccl.edit.paste import MASK_SIZE, face_mask, paste_change
from stccl.face.align import invert

S = 256


def _similarity(scale, angle, tx, ty):
    c, s = scale * math.cos(angle), scale * math.sin(angle)
    return np.array([[c, -s, tx], [s, c, ty]])


def _face(size=S):
    """68 points of a roughly frontal face in crop px (eyes, brows, nose, mouth, jaw)."""
    rng = np.random.default_rng(0)
    t = np.linspace(0, np.pi, 17)
    jaw = np.stack([128 - 90 * np.cos(t), 120 + 100 * np.sin(t)], 1)
    pts = np.concatenate([jaw, rng.uniform([60, 60], [196, 200], (51, 2))])
    pts[36:42] = [85, 110] + rng.normal(0, 3, (6, 2))
    pts[42:48] = [171, 110] + rng.normal(0, 3, (6, 2))
    pts[48:68] = [128, 185] + rng.normal(0, 8, (20, 2))
    return (128 + 0.6 * (pts - 128)) * size / S  # the face in the middle of the crop


def _dense_reference(frame, M, flow, mask):
    """The per-pixel paste: flow and mask sampled at every frame pixel (flow: S x S)."""
    h, w = frame.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    cx = M[0, 0] * gx + M[0, 1] * gy + M[0, 2]
    cy = M[1, 0] * gx + M[1, 1] * gy + M[1, 2]
    k = (mask.shape[0] - 1) / (S - 1)
    alpha = cv2.remap(mask, (cx * k).astype(np.float32), (cy * k).astype(np.float32), cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_CONSTANT)
    f = cv2.remap(flow, cx.astype(np.float32), cy.astype(np.float32), cv2.INTER_LINEAR,
                  borderMode=cv2.BORDER_CONSTANT) * alpha[..., None]
    L = invert(M)[:, :2]
    fx = L[0, 0] * f[..., 0] + L[0, 1] * f[..., 1]
    fy = L[1, 0] * f[..., 0] + L[1, 1] * f[..., 1]
    return cv2.remap(frame, (gx + fx).astype(np.float32), (gy + fy).astype(np.float32), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def _on_grid(field, n):
    """`field` resampled to n x n nodes, node k at position k * (side - 1) / (n - 1)."""
    t = np.linspace(0, field.shape[0] - 1, n, dtype=np.float32)
    gx, gy = np.meshgrid(t, t)
    return cv2.remap(field, gx, gy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _scene(scale):
    rng = np.random.default_rng(1)
    frame = cv2.GaussianBlur(rng.integers(0, 256, (720, 960, 3), dtype=np.uint8), (0, 0), 1.5)
    M = _similarity(scale, 0.2, -250 * scale, -120 * scale)  # image -> crop
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    flow = np.stack([9 * np.sin(xx / 25) * np.cos(yy / 30), 8 * np.cos(xx / 20)], -1).astype(np.float32)
    return frame, M, flow


@pytest.mark.parametrize("scale", [0.25, 0.45, 1.0, 2.5])  # face 4x, 2x larger in the frame, same, smaller
def test_coarse_paste_matches_the_per_pixel_paste(scale):
    frame, M, flow = _scene(scale)
    lmk = _face()
    mask = face_mask(lmk, S, raster=MASK_SIZE)
    ref = _dense_reference(frame, M, flow, mask)
    grid = _on_grid(flow, 48)  # a smooth field on nodes, as the warp engine gives
    ref_grid = _dense_reference(frame, M, _on_grid(grid, S), mask)
    out = paste_change(frame.copy(), M, grid, None, mask, S)
    _close(out, ref_grid, frame)
    full = paste_change(frame.copy(), M, flow, None, mask, S)  # a per-pixel field (neural engine)
    _close(full, ref, frame)
    # outside the mask the frame is exactly unchanged
    assert (out != frame).any()
    h, w = frame.shape[:2]
    gx, gy = np.meshgrid(np.arange(w), np.arange(h))
    k = (MASK_SIZE - 1) / (S - 1)
    cx = (M[0, 0] * gx + M[0, 1] * gy + M[0, 2]) * k
    cy = (M[1, 0] * gx + M[1, 1] * gy + M[1, 2]) * k
    far = cv2.remap(cv2.dilate((mask > 0).astype(np.uint8), np.ones((5, 5))), cx.astype(np.float32),
                    cy.astype(np.float32), cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT) == 0
    assert far.any() and (out[far] == frame[far]).all()


def _close(out, ref, frame):
    """Where the paste changed the frame, it differs from the reference by a small fraction of
    the change itself."""
    changed = (ref != frame).any(-1)
    change = np.abs(ref.astype(int) - frame.astype(int))[changed].mean()
    diff = np.abs(out.astype(int) - ref.astype(int))[changed]
    assert change > 5 and diff.mean() < 0.03 * change and np.percentile(diff, 99) <= 3, \
        (change, diff.mean(), np.percentile(diff, 99))


def test_zero_change_copies_the_frame_exactly():
    frame, M, _ = _scene(1.0)
    mask = face_mask(_face(), S, raster=MASK_SIZE)
    out = paste_change(frame.copy(), M, np.zeros((48, 48, 2), np.float32), None, mask, S)
    np.testing.assert_array_equal(out, frame)


def test_colour_change_is_added_under_the_mask():
    frame, M, _ = _scene(1.0)
    mask = face_mask(_face(), S, raster=MASK_SIZE)
    delta = np.full((S, S, 3), 0.1, np.float32)
    out = paste_change(frame.copy(), M, np.zeros((S, S, 2), np.float32), delta, mask, S)
    centre = tuple(np.round(invert(M) @ [128, 140, 1]).astype(int))
    gain = out[centre[1], centre[0]].astype(int) - frame[centre[1], centre[0]].astype(int)
    assert (np.abs(gain - 25.5) <= 1).all(), gain
    assert (out[0, 0] == frame[0, 0]).all()


def test_face_mask_raster_matches_the_full_mask():
    lmk = _face()
    full = face_mask(lmk, S)
    small = face_mask(lmk, S, raster=MASK_SIZE)
    k = (MASK_SIZE - 1) / (S - 1)
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    up = cv2.remap(small, xx * k, yy * k, cv2.INTER_LINEAR)
    assert np.abs(up - full).mean() < 0.02 and np.abs(up - full).max() < 0.15
