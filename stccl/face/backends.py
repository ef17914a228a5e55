"""Trackers by name: `make_backend` builds one from the registry (stccl.registry.TRACKERS).

- `mesh` (stccl.face.mesh_backend): the default; MediaPipe's 468-point face mesh and BlazeFace
  detector, from model files inside the package.
- `dlib` (stccl.face.dlib_backend): HOG and CNN detectors and the 68-point shape predictor
  that ship inside the `face_recognition_models` package.
- `fan` (stccl.face.fan_backend): face-alignment's 2D FAN-4 landmarks (needs its weights), with
  dlib's detectors, so that nothing is downloaded.
- `auto`: the first of the registry's `auto` candidates that needs no weights or whose weights
  are found (stccl.config.tracker_name): the mesh.

What a backend is and does: stccl.face.backend. The names below are re-exported for callers
that knew them here.
"""

from __future__ import annotations

from pathlib import Path

from .. import weights as _weights
from ..config import tracker_name
from ..devices import check_device
from ..errors import InputError
from ..registry import TRACKERS, Entry
from .backend import Backend, BaseBackend, Follow, check_image, confidence, to_gray, yuv_view  # noqa: F401
from .dlib_backend import (  # noqa: F401
    DLIB_CNN, DLIB_PREDICTOR, CnnDetector, DlibBackend, HogDetector, dlib_model_path, dlib_predictor_path,
)
from .fan_backend import FanBackend, fan_center_scale, heatmap_to_image, load_fan  # noqa: F401

FAN_WEIGHTS = _weights.FILES["fan"].file


def fan_search_dirs(weights_dir: str | Path | None = None) -> list[Path]:
    """Folders searched for the FAN weights, first hit wins."""
    return _weights.search_dirs("fan", weights_dir)


def fan_weights_path(weights_dir: str | Path | None = None) -> Path | None:
    return _weights.find("fan", first_dir=weights_dir)


def make_backend(
    name: str = "auto", device: str = "auto", weights_dir: str | Path | None = None
) -> Backend:
    """Build the tracker `name` (a TRACKERS name, or auto). Its weights are looked for in
    `weights_dir` first, then where stccl.weights says; InputError for an unknown name, a
    one-line WeightsError when a named tracker's weights are not found."""
    check_device(device)  # the spelling; only a tracker that runs a network asks for the device
    resolved = tracker_name(name, weights_dir)
    if resolved == "auto":
        raise InputError("no tracker can run here: every auto candidate misses its weights")
    entry = TRACKERS[resolved]
    return entry.build(device, _needed(entry, weights_dir))


def _needed(entry: Entry, weights_dir) -> Path | None:
    """The weights file `entry` needs (its first kind; a one-line WeightsError when it is not
    found), None when it needs none."""
    if not entry.weights:
        return None
    free = next((e.name for e in TRACKERS.entries() if not e.weights), None)
    hint = f" (or use --tracker {free})" if free else ""
    return _weights.require(entry.weights[0], first_dir=weights_dir, hint=hint)
