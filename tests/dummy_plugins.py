"""A tracker and an engine that live outside the library, registered as a plug-in registers them:
importing this module (or naming `dummy_plugins` in $STCCL_PLUGINS, with tests/ on the path)
calls `register()`.
What the library does with them must follow from what their entries declare, never from their
names.

- trackers `dummy-luma` (declares: reads only luma, can check its mouth fit), `dummy-rgb`
  (declares neither) and `dummy-planes` (declares: reads colour only through stccl.face.pixels):
  dlib's fit underneath, recording the kind of every image it is given;
- engine `dummy-shift` (declares: uses pixels, reads no expression): moves the face 8 px up
  and brightens it, by the intensity.
"""

from __future__ import annotations

import numpy as np

from stccl.registry import ENGINES, TRACKERS, EngineCaps, Entry, TrackerCaps

TRACKER_CAPS = {
    "dummy-luma": TrackerCaps(reads="luma", mouth_check=True, weak=1 / 6),
    "dummy-rgb": TrackerCaps(reads="rgb", mouth_check=False, weak=1 / 6),
    "dummy-planes": TrackerCaps(reads="planes", mouth_check=False, weak=1 / 6),
}
SEEN: dict[str, list[str]] = {name: [] for name in TRACKER_CAPS}  # the kind of every image given


def _kind(image) -> str:
    """"planes" (a luma plane carrying its colour), "grey" or "rgb"."""
    if getattr(image, "colour", None) is not None:
        return "planes"
    return "grey" if image.ndim == 2 else "rgb"


def _tracker(name: str):
    def build(device: str = "auto", weights=None):
        from stccl.face.dlib_backend import DlibBackend

        from stccl.face import pixels

        class Recording(DlibBackend):
            def detect(self, image, max_side=480, upsample=None):
                SEEN[name].append(_kind(image))
                return super().detect(pixels.rgb(image), max_side, upsample)

            def landmarks(self, image, box):
                SEEN[name].append(_kind(image))
                return super().landmarks(pixels.rgb(image), box)

        backend = Recording()
        backend.name, backend.caps = name, TRACKER_CAPS[name]
        return backend

    return build


class ShiftEngine:
    name = "dummy-shift"
    size = None
    expression = None

    def __init__(self) -> None:
        self.caps = ENGINES[self.name].caps
        self.calls = 0

    def __call__(self, crops, landmarks, emotion, intensity, shown=None):
        from stccl.edit.engine import EngineOutput

        b, size = crops.shape[0], crops.shape[-1]
        a = np.asarray(intensity, np.float32).reshape(b, 1, 1, 1)
        flow = np.zeros((b, 2, 8, 8), np.float32)
        flow[:, 1] = 8.0 * a[:, 0]  # out(p) = in(p + flow): the face moves up
        return EngineOutput(flow, np.full((b, 3, size, size), 0.08, np.float32) * a)


def register() -> None:
    for name in TRACKER_CAPS:
        TRACKERS.register(Entry(name, f"test tracker ({name})", _tracker(name), TRACKER_CAPS[name]),
                          replace=True)
    ENGINES.register(Entry("dummy-shift", "test engine: moves the face up, brightens it",
                           lambda cfg, weights: ShiftEngine(), EngineCaps(uses_pixels=True)), replace=True)


def unregister() -> None:
    for name in (*TRACKER_CAPS, "dummy-shift"):
        TRACKERS.unregister(name)
        ENGINES.unregister(name)


register()
