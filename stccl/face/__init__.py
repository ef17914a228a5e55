"""Face tracking, smoothing, alignment and paste-back (RGB uint8 frames, 68-point landmarks)."""

from .align import (
    SimilaritySmoother,
    invert,
    paste_back,
    similarity_from_landmarks,
    template,
    transform_landmarks,
    warp_to_crop,
)
from .backends import Backend, DlibBackend, FanBackend, fan_weights_path, make_backend
from .smooth import (
    FACE_DETECTED,
    FACE_INTERPOLATED,
    FACE_MISSING,
    LandmarkSmoother,
    OneEuro,
    fill_gaps,
    smooth_track,
)
from .stream import FaceFrame, FaceStream, track_video
from .tracker import FaceTracker

__all__ = [
    "track_video",
    "FACE_DETECTED",
    "FACE_INTERPOLATED",
    "FACE_MISSING",
    "Backend",
    "DlibBackend",
    "FaceFrame",
    "FaceStream",
    "FaceTracker",
    "FanBackend",
    "LandmarkSmoother",
    "OneEuro",
    "SimilaritySmoother",
    "fan_weights_path",
    "fill_gaps",
    "invert",
    "make_backend",
    "paste_back",
    "similarity_from_landmarks",
    "smooth_track",
    "template",
    "transform_landmarks",
    "warp_to_crop",
]
