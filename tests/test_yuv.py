"""The edit carries frames in ffmpeg's yuv420p from decoder to encoder (stccl.video.yuv): the
reader and writer take them, the warp pastes on the planes, and the result is what the RGB
path gives, without the colour conversions."""

import math

import cv2
import numpy as np
import pytest

from stccl.edit.paste import MASK_SIZE, face_mask, paste_change, paste_change_yuv
from stccl.edit.pipeline import carried_format
from stccl.registry import TRACKERS, EngineCaps
from stccl.video import VideoReader, VideoWriter, probe, yuv

CLIP = "wild/d12.mp4"  # 512², 25 fps, with audio


def _rgb(frame, w, h):
    return cv2.cvtColor(frame.reshape(h * 3 // 2, w), cv2.COLOR_YUV2RGB_I420)


def _first(path, n, pix_fmt):
    with VideoReader(path, chunk=n, end=n / probe(path).fps, pix_fmt=pix_fmt) as r:
        return next(iter(r))


def test_planes_views_and_grey():
    w, h = 6, 4
    frame = np.arange(yuv.frame_size(w, h), dtype=np.uint8)
    y, u, v = yuv.planes(frame, w, h)
    assert y.shape == (4, 6) and u.shape == v.shape == (2, 3)
    assert y.base is not None and u[0, 0] == 24 and v[0, 0] == 30
    y[0, 0] = 200
    assert frame[0] == 200  # views, not copies
    g = yuv.grey(np.array([[16, 235, 126, 0]], np.uint8))
    assert g.tolist() == [[0, 255, 128, 0]]
    assert not yuv.fits(5, 4) and yuv.fits(6, 4)
    turned = yuv.rotate(frame, w, h, 1)
    ty, tu, _ = yuv.planes(turned, h, w)
    np.testing.assert_array_equal(ty, np.rot90(y))
    np.testing.assert_array_equal(tu, np.rot90(u))


def test_reader_gives_the_decoders_frames_and_the_writer_takes_them(shared_data, tmp_path):
    src = shared_data / CLIP
    info = probe(src)
    w, h = info.width, info.height
    frames = _first(src, 10, "yuv420p")
    assert frames.shape == (10, yuv.frame_size(w, h)) and frames.dtype == np.uint8
    rgb = _first(src, 10, "rgb24")
    # the same pictures (ffmpeg's own RGB conversion and OpenCV's differ by a level or two)
    diff = np.abs(np.stack([_rgb(f, w, h) for f in frames]).astype(int) - rgb.astype(int))
    assert diff.mean() < 3.0, diff.mean()
    out = tmp_path / "copy.mp4"
    with VideoWriter(out, info.fps, w, h, pix_fmt="yuv420p", crf=0, preset="ultrafast") as wr:
        wr.write(frames)
        with pytest.raises(ValueError):
            wr.write(rgb)  # RGB frames into a yuv420p writer
    again = _first(out, 10, "yuv420p")
    assert np.abs(again.astype(int) - frames.astype(int)).max() <= 1  # lossless: the same planes


def test_yuv_writer_keeps_the_rotation(shared_data, tmp_path):
    src = shared_data / CLIP
    info = probe(src)
    frames = _first(src, 4, "yuv420p")
    out = tmp_path / "turned.mp4"
    with VideoWriter(out, info.fps, info.width, info.height, rotation=90, pix_fmt="yuv420p",
                     crf=0, preset="ultrafast") as wr:
        wr.write(frames)
    assert probe(out).rotation == 90
    back = _first(out, 4, "yuv420p")  # read upright again
    assert np.abs(back.astype(int) - frames.astype(int)).max() <= 1


def _similarity(scale, angle, tx, ty):
    c, s = scale * math.cos(angle), scale * math.sin(angle)
    return np.array([[c, -s, tx], [s, c, ty]])


def test_paste_on_planes_matches_the_rgb_paste(shared_data):
    src = shared_data / CLIP
    info = probe(src)
    w, h = info.width, info.height
    frame = _first(src, 1, "yuv420p")[0].copy()
    rgb = _rgb(frame, w, h)
    S = 256
    M = _similarity(0.9, 0.1, -60.0, -40.0)  # image -> crop
    yy, xx = np.mgrid[0:48, 0:48].astype(np.float32)
    flow = np.stack([6 * np.sin(xx / 6), 5 * np.cos(yy / 7)], -1).astype(np.float32)
    pts = np.random.default_rng(0).uniform(70, 190, (68, 2))
    pts[36:42], pts[42:48], pts[48:60] = [90, 110], [166, 110], [128, 185]
    mask = face_mask(pts, S, raster=MASK_SIZE)
    want = paste_change(rgb.copy(), M, flow, None, mask, S)
    got = _rgb(paste_change_yuv(frame, w, h, M, flow, mask, S), w, h)
    changed = (want != rgb).any(-1)
    assert changed.mean() > 0.05
    change = np.abs(want.astype(int) - rgb.astype(int))[changed].mean()
    diff = np.abs(got.astype(int) - want.astype(int))[changed].mean()
    assert diff < 0.25 * change, (diff, change)
    assert (got[~cv2.dilate(changed.astype(np.uint8), np.ones((5, 5))).astype(bool)] ==
            _rgb(_first(src, 1, "yuv420p")[0], w, h)[~cv2.dilate(changed.astype(np.uint8), np.ones((5, 5))).astype(bool)]).all()


class _Engine:
    def __init__(self, pixels):
        self.caps = EngineCaps(uses_pixels=pixels)


class _Backend:
    """A tracker as its registry entry declares it (what it can do, not its name, decides)."""

    def __init__(self, name):
        self.name = name
        self.caps = TRACKERS[name].caps


def test_frames_travel_as_yuv_only_where_nothing_needs_rgb():
    from types import SimpleNamespace

    from stccl.video.probe import Colour

    hd = SimpleNamespace(width=1920, height=1080, colour=Colour(range="tv", space="bt709"))
    odd = SimpleNamespace(width=641, height=480, colour=Colour())
    full = SimpleNamespace(width=1920, height=1080, colour=Colour(range="pc"))
    assert carried_format(_Engine(False), _Backend("dlib"), hd) == ("yuv420p", None)  # the luma alone
    assert carried_format(_Engine(False), _Backend("mesh"), hd) == ("yuv420p", "bt709")  # crops from planes
    assert carried_format(_Engine(True), _Backend("mesh"), hd) == ("rgb24", None)  # neural: RGB crops
    assert carried_format(_Engine(False), _Backend("fan"), hd) == ("rgb24", None)  # FAN reads RGB frames
    assert carried_format(_Engine(False), _Backend("mesh"), odd) == ("rgb24", None)  # odd width
    # full range: stccl does not convert it as ffmpeg does, so the mesh's crops need RGB frames
    assert carried_format(_Engine(False), _Backend("mesh"), full) == ("rgb24", None)
    assert carried_format(_Engine(False), _Backend("dlib"), full) == ("yuv420p", None)


def test_pipes_auto_is_the_default_and_the_old_yuv420p_reads_as_auto():
    from stccl.config import EditConfig
    from stccl.typed import overlay

    assert EditConfig().pipes == "auto"
    assert overlay(EditConfig(), {"pipes": "yuv420p"}).pipes == "auto"
    assert overlay(EditConfig(), {"pipes": "rgb24"}).pipes == "rgb24"


@pytest.mark.parametrize("tracker", ["mesh", "dlib"])
def test_the_yuv_edit_matches_the_rgb_edit(shared_data, tmp_path, warp_editor, tracker):
    from benchmarks.readback import cut
    from stccl import Editor

    src = cut(shared_data / CLIP, 1.2, tmp_path / "d12.mp4")
    a = Editor(engine="warp", tracker=tracker).edit(src, emotion="happy", out=tmp_path / "yuv.mp4")  # auto
    b = Editor(engine="warp", tracker=tracker, pipes="rgb24").edit(src, emotion="happy", out=tmp_path / "rgb.mp4")
    assert a.edited_frames == b.edited_frames > 0 and a.shown_label == b.shown_label
    fa, fb, fs = (np.stack(list(VideoReader(p).frames())).astype(int)
                  for p in (tmp_path / "yuv.mp4", tmp_path / "rgb.mp4", src))
    apart, rgb_off, yuv_off = np.abs(fa - fb).mean(), np.abs(fb - fs).mean(), np.abs(fa - fs).mean()
    # the two edits differ less than either differs from the source (edit + re-encode), and the
    # yuv one is the closer to the source: no RGB round trip (d12, dlib: 1.6, 2.5, 2.0 grey levels)
    assert apart < 0.8 * rgb_off and yuv_off < rgb_off, (apart, rgb_off, yuv_off)


def test_video_range_luma_is_stretched_where_it_is_read(shared_data):
    """The tracker reads the luma plane; the grey conversion stretches a VideoLuma region (and
    only it) to full range, so dlib fits the same landmarks as on the RGB frame."""
    from stccl.face import make_backend
    from stccl.face.backends import to_gray

    y = np.array([[16, 235], [126, 20]], np.uint8)
    assert to_gray(y.view(yuv.VideoLuma)).tolist() == [[0, 255], [128, 5]]
    assert to_gray(y).tolist() == y.tolist()  # plain grey is taken as it is
    src = shared_data / CLIP
    info = probe(src)
    frame = _first(src, 1, "yuv420p")[0]
    luma = yuv.planes(frame, info.width, info.height)[0].view(yuv.VideoLuma)
    rgb = _rgb(frame, info.width, info.height)
    backend = make_backend("dlib")
    box = backend.detect(rgb)[0]
    a, b = backend.landmarks(rgb, box), backend.landmarks(luma, box)
    raw = backend.landmarks(np.ascontiguousarray(luma.view(np.ndarray)), box)
    iod = np.linalg.norm(a[42:48].mean(0) - a[36:42].mean(0))
    # dlib's points are whole pixels; on the shared clips the stretched luma reads 0.003-0.005
    # IOD from the RGB frame on average, the raw luma 0.004-0.007
    assert np.abs(a - b).mean() < 0.006 * iod
    assert np.abs(a - b).mean() <= np.abs(a - raw).mean()


def _nearest_rgb(frame, w, h, matrix):
    """ffmpeg's rgb24 conversion as stccl does it: each chroma sample over its 2 x 2 pixels."""
    y, u, v = yuv.planes(frame, w, h)
    up = [cv2.resize(c, (w, h), interpolation=cv2.INTER_NEAREST) for c in (u, v)]
    return yuv.to_rgb(np.ascontiguousarray(y), *up, matrix).astype(int)


@pytest.mark.parametrize("clip, matrix, wrong", [(CLIP, "bt601", "bt709"),  # says smpte170m
                                                 ("wild/s18.mp4", "bt709", "bt601")])
def test_rgb_of_the_planes_is_ffmpegs_own(shared_data, clip, matrix, wrong):
    """The matrix the input's colour tags call for, as ffmpeg's rgb24 output uses it: within
    about a grey level (ffmpeg truncates where stccl rounds); the other matrix is clearly off."""
    src = shared_data / clip
    info = probe(src)
    assert yuv.rgb_matrix(info.colour) == matrix
    planes_, rgb = _first(src, 1, "yuv420p")[0], _first(src, 1, "rgb24")[0].astype(int)
    right = np.abs(_nearest_rgb(planes_, info.width, info.height, matrix) - rgb)
    off = np.abs(_nearest_rgb(planes_, info.width, info.height, wrong) - rgb)
    assert right.mean() < 1.6 and right.max() <= 4, (right.mean(), right.max())
    assert off.mean() > right.mean() + 0.4, (off.mean(), right.mean())


def test_only_colours_converted_as_ffmpeg_does_are_converted():
    from stccl.video.probe import Colour

    assert yuv.rgb_matrix(Colour()) == "bt601"  # untagged: ffmpeg's default too
    assert yuv.rgb_matrix(Colour(range="tv", space="bt709")) == "bt709"
    assert yuv.rgb_matrix(Colour(range="tv", space="bt470bg")) == "bt601"
    for other in (Colour(range="pc"), Colour(space="bt2020nc"), Colour(depth=10)):
        assert yuv.rgb_matrix(other) is None


@pytest.mark.parametrize("clip, size", [("mead/W015_level_1_neutral_030.mp4", 128),  # pyramid
                                        (CLIP, 256), ("wild/s18.mp4", 256)])
def test_a_crop_of_the_planes_is_the_crop_of_the_rgb_frame(shared_data, clip, size):
    """prep's yuv420p path: each plane warped on its own and only the crop converted gives the
    crop that the RGB frame gives."""
    from stccl.face import make_backend
    from stccl.face.align import similarity_from_landmarks, warp_to_crop, warp_to_crop_yuv
    from stccl.face.tracker import FaceTracker

    src = shared_data / clip
    info = probe(src)
    planes_, rgb = _first(src, 1, "yuv420p")[0], _first(src, 1, "rgb24")[0]
    M = similarity_from_landmarks(FaceTracker(make_backend("dlib"))(rgb), size)
    want = warp_to_crop(rgb, M, size).astype(int)
    got = warp_to_crop_yuv(planes_, info.width, info.height, M, size, yuv.rgb_matrix(info.colour))
    assert got.shape == (size, size, 3) and got.dtype == np.uint8
    diff = np.abs(got.astype(int) - want)
    assert diff.mean() < 2.0 and np.percentile(diff, 99) <= 4, (diff.mean(), np.percentile(diff, 99))


def test_chroma_sits_at_the_centre_of_its_two_by_two_pixels():
    """A chroma ramp, cropped from the planes, equals the crop of the same picture upsampled
    with each chroma sample at the centre of its 2 x 2 luma pixels (cv2.resize's convention);
    the same with the chroma assumed at its top-left pixel is off."""
    from stccl.face.align import warp_to_crop, warp_to_crop_yuv

    w = h = 64
    y = np.full((h, w), 126, np.uint8)
    ramp = (64 + 4 * np.arange(w // 2)).astype(np.uint8)
    u = np.tile(ramp, (h // 2, 1))
    v = np.ascontiguousarray(u.T)
    frame = np.concatenate([y.ravel(), u.ravel(), v.ravel()])
    up = [cv2.resize(c, (w, h), interpolation=cv2.INTER_LINEAR) for c in (u, v)]
    rgb = yuv.to_rgb(y, *up, "bt601")
    M = _similarity(1.3, 0.2, -6.0, -10.0)
    want = warp_to_crop(rgb, M, 40).astype(int)[8:-8, 8:-8]  # away from the replicated border
    got = warp_to_crop_yuv(frame, w, h, M, 40, "bt601").astype(int)[8:-8, 8:-8]
    assert np.abs(got - want).max() <= 2 and np.abs(got - want).mean() < 0.5
    xs = np.arange(w, dtype=np.float32) / 2  # chroma sample i taken to sit on luma pixel 2i
    mx, my = np.meshgrid(xs, xs)
    top_left = [cv2.remap(c, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE) for c in (u, v)]
    off = warp_to_crop(yuv.to_rgb(y, *top_left, "bt601"), M, 40).astype(int)[8:-8, 8:-8]
    assert np.abs(off - got).mean() > 1.0, np.abs(off - got).mean()
