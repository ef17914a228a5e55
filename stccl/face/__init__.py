"""Face tracking, smoothing, alignment and paste-back (RGB uint8 frames, 68-point landmarks).

Names are imported lazily: `import stccl.face` loads none of its modules.
"""

from importlib import import_module

_WHERE = {
    "align": ("SimilaritySmoother", "invert", "paste_back", "similarity_from_landmarks", "template",
              "transform_landmarks", "warp_to_crop"),
    "backend": ("Backend", "BaseBackend", "Follow"),
    "backends": ("DlibBackend", "FanBackend", "fan_weights_path", "make_backend"),
    "smooth": ("FACE_DETECTED", "FACE_INTERPOLATED", "FACE_MISSING", "LandmarkSmoother", "OneEuro",
               "fill_gaps", "smooth_track"),
    "stream": ("FaceFrame", "FaceStream", "track_video"),
    "tracker": ("FaceTracker",),
}
_MODULE = {name: module for module, names in _WHERE.items() for name in names}
__all__ = sorted(_MODULE)


def __getattr__(name: str):
    if name not in _MODULE:
        raise AttributeError(f"module 'stccl.face' has no attribute {name!r}")
    value = getattr(import_module(f".{_MODULE[name]}", __name__), name)
    globals()[name] = value
    return value
