"""How sure a landmark fit is of where the mouth is: fits from nudged boxes.

A fit starts from a box (dlib) or a crop (the mesh) and settles where the image says. On a sharp face it settles on
the same points from any nearby box; where the image says little (a small, blurred or turned
face) it settles somewhere else from each box. So the fit is refitted from six boxes nudged
around its own, and the median distance of their mouths from its mouth, in inter-ocular
distances, says how unsure it is. The median, because one nudge can land on something else
(s18: one of the six reads a mouth 0.1-0.5 IOD away on every frame, the other five 0.01).
The mouth's points are what the warp holds the speech with, and the edit cannot keep the
lips within the lip bar (0.03 IOD, `stccl.eval.readback`) of a speech it does not know that
well.

On the shared clips (`python -m stccl.face.spread CLIP...` prints it per frame), by the mesh
(`backend.nudged`: the crop shifted along its own axes): the MEAD takes and the sharp wild
clips read 0.017-0.025 in median and at most 0.031; 0Fi83 (224², blurred, near profile) 0.033
in median and up to 0.146. By dlib (STCCL_TRACKER=dlib): the MEAD takes and the sharp wild clips
0.00-0.02 and at most 0.04 (M026, level 3); OzA6, turned 30-38 degrees, 0.01-0.02; 0Fi83
0.06-0.33 on the frames where dlib puts the face on the cheek. The same bars serve both.
"""

from __future__ import annotations

import math

import numpy as np

from .smooth import inter_ocular

MOUTH = slice(48, 68)
# box nudges: (x shift, y shift) in sides of the box, and a size change
NUDGES = ((0.06, 0.0, 0.0), (-0.06, 0.0, 0.0), (0.0, 0.06, 0.0), (0.0, -0.06, 0.0),
          (0.0, 0.0, 0.08), (0.0, 0.0, -0.08))
SURE = 0.04  # spread (IOD) up to which the edit is applied in full: the most a sharp face read
UNSURE = 0.08  # ... and from which it is not applied at all


def fit_spread(backend, image: np.ndarray, lmk: np.ndarray) -> float:
    """The median, over fits of `image` from starts nudged around the one `lmk` gives
    (`backend.nudged`), of the mean distance of their mouth points from those of `lmk`, in
    inter-ocular distances."""
    mouth = np.asarray(lmk, np.float64)[MOUTH]
    far = [np.linalg.norm(backend.nudged(image, lmk, *nudge)[MOUTH] - mouth, axis=-1).mean()
           for nudge in NUDGES]
    return float(np.median(far) / max(inter_ocular(lmk), 1e-6))


def trust(spread: float) -> float:
    """1 up to a spread of SURE, smoothly down to 0 at UNSURE; 1 where it was not measured (NaN)."""
    if not math.isfinite(spread):
        return 1.0
    x = min(max((spread - SURE) / (UNSURE - SURE), 0.0), 1.0)
    return 1.0 - x * x * (3.0 - 2.0 * x)


def main(paths: list[str]) -> int:
    """Each clip's tracked fit and its spread, every 4th frame, by the default tracker
    ($STCCL_TRACKER names another: dlib, fan)."""
    from ..config import TrackConfig
    from ..video import VideoReader
    from .backends import make_backend
    from .tracker import FaceTracker

    import os

    backend = make_backend(os.environ.get("STCCL_TRACKER", "auto"))
    for path in paths:
        tracker, out, index = FaceTracker(backend, TrackConfig()), [], 0
        with VideoReader(path, chunk=8) as reader:
            for chunk in reader:
                for frame in chunk:
                    lmk = tracker(frame)
                    if index % 4 == 0:
                        out.append("-" if lmk is None else f"{fit_spread(backend, frame, lmk):.2f}")
                    index += 1
        print(f"{path}: {' '.join(out)}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
