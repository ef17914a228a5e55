"""A tracker that reads colour only in its crops (the mesh) tracks on the planes of yuv420p
frames: stccl.face.pixels makes each crop from the planes, and it is the RGB frame's crop."""

import math

import cv2
import numpy as np
import pytest

from stccl.face import pixels
from stccl.video import VideoReader, probe, yuv

CLIPS = ["wild/d12.mp4", "mead/W015_level_1_neutral_030.mp4"]  # 512² BT.601 tags, 1080p untagged


def _frames(path, n, pix_fmt):
    with VideoReader(path, chunk=n, end=n / probe(path).fps, pix_fmt=pix_fmt) as r:
        return next(iter(r))


def _both(path):
    info = probe(path)
    planes, rgb = _frames(path, 1, "yuv420p")[0], _frames(path, 1, "rgb24")[0]
    return info, planes, rgb


def test_a_whole_frames_luma_carries_its_colour_and_a_region_of_it_does_not():
    w, h = 8, 6
    frame = np.arange(yuv.frame_size(w, h), dtype=np.uint8)
    luma = yuv.luma(frame, w, h, "bt709")
    u, v, matrix = luma.colour
    assert matrix == "bt709" and u.shape == v.shape == (3, 4) and u[0, 0] == 48
    assert luma[1:4, 2:6].colour is None  # a region's offsets would be wrong: it carries none
    assert yuv.luma(frame, w, h).colour is None  # no matrix: the luma alone (dlib)
    grey = luma[1:4, 2:6]
    assert pixels.region(grey, (0, 0, 2, 2), (0, 0, 0, 0), 1.0).shape == (2, 2)  # plain grey stays grey


@pytest.mark.parametrize("clip, colourful", [(CLIPS[0], True), (CLIPS[1], False)])
def test_crops_made_from_the_planes_are_the_rgb_frames_crops(shared_data, clip, colourful):
    """A turned crop reaching off the frame (the mesh's), a letterbox (BlazeFace's), a padded,
    shrunk region (the tracker's detection check) and the whole frame, from the planes and from ffmpeg's RGB
    frame: within about a grey level on average (ffmpeg upsamples the chroma its own way). On
    d12's saturated colours the other matrix is clearly further off (2.9-4.2 against 0.8-1.3
    grey levels); W015's greys read nearly the same by either."""
    info, planes, rgb = _both(shared_data / clip)
    w, h = info.width, info.height
    right = yuv.luma(planes, w, h, yuv.rgb_matrix(info.colour))
    wrong = yuv.luma(planes, w, h, "bt709" if yuv.rgb_matrix(info.colour) == "bt601" else "bt601")
    c, s = math.cos(0.3), math.sin(0.3)
    k = 192 / (0.7 * h)
    M = np.array([[c * k, s * k, 0.0], [-s * k, c * k, 0.0]])
    M[:, 2] = 96 - M[:, :2] @ np.array([w * 0.45, h * 0.1])  # the crop's top reaches off the frame
    made = {
        "warped": lambda img: pixels.warped(img, M, (192, 192)),
        "resized": lambda img: pixels.resized(img, (128, 72 if w > h else 128), cv2.INTER_AREA),
        "region": lambda img: pixels.region(img, (w // 4, h // 4, w // 2 + 1, h // 2 + 3), (6, 0, 0, 4), 0.4),
        "rgb": pixels.rgb,
    }
    for name, make in made.items():
        want = make(rgb).astype(int)
        got, off = make(right), make(wrong)
        assert got.shape == want.shape and got.dtype == np.uint8, name
        err, other = np.abs(got - want).mean(), np.abs(off.astype(int) - want).mean()
        assert err < 1.5 and (other > 2 * err or not colourful), (name, err, other)
    black = pixels.warped(right, M, (192, 192))[:4]  # off the frame: black, as the RGB path pads
    assert black.max() <= 1, black.max()


@pytest.mark.parametrize("clip", CLIPS)
def test_the_mesh_tracks_the_planes_as_it_tracks_the_rgb_frames(shared_data, clip):
    """40 frames tracked on ffmpeg's RGB frames, on the planes (crops converted from them), and
    on the luma alone: the planes read what RGB reads (d12 0.002, W015 0.001 IOD on average);
    the grey luma, which has no colour, reads 5-10x further off, so colour is what is kept."""
    from stccl.config import TrackConfig
    from stccl.face.mesh_backend import MeshBackend
    from stccl.face.smooth import inter_ocular
    from stccl.face.tracker import FaceTracker

    src = shared_data / clip
    info = probe(src)
    backend = MeshBackend()

    def track(pix_fmt, matrix=None):
        tracker = FaceTracker(backend, TrackConfig())
        frames = _frames(src, 40, pix_fmt)
        if pix_fmt == "yuv420p":
            frames = [yuv.luma(f, info.width, info.height, matrix) for f in frames]
        return [tracker(f) for f in frames]

    rgb = track("rgb24")
    planes = track("yuv420p", yuv.rgb_matrix(info.colour))
    grey = track("yuv420p")

    def off(other):
        return float(np.mean([np.linalg.norm(a - b, axis=1).mean() / inter_ocular(a) for a, b in zip(rgb, other)]))

    assert all(p is not None for p in rgb + planes)
    assert off(planes) < 0.005 and off(planes) < 0.4 * off(grey), (off(planes), off(grey))
