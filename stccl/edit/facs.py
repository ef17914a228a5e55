"""FACS action units as landmark displacements, and the emotion prototypes built from them.

Units: inter-ocular distance (IOD), in the canonical face frame (eyes horizontal, x to the
image right, y down). Indices are iBUG-68. Jaw points and the inner-lip opening are never
moved (they carry the speech), so AU26 (jaw drop) and the lip-parting part of AU16 are left out.

    python -m stccl.edit.facs     # rewrites stccl/edit/data/prototypes.json
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..face.measures import MIRROR

# image-left / image-right halves
L_BROW, R_BROW = (17, 18, 19, 20, 21), (26, 25, 24, 23, 22)  # outer -> inner
L_CORNER, R_CORNER = (48, 60), (54, 64)


def _au(moves: dict[tuple[int, ...], tuple[float, float]], mirror: bool = True) -> np.ndarray:
    """Displacements from {points: (dx, dy)}; with mirror, the image-left points' dx is
    mirrored onto the matching right points (dx > 0 means 'towards the face centre')."""
    d = np.zeros((68, 2))
    for points, (dx, dy) in moves.items():
        for p in points:
            d[p] = (dx, dy)
    if mirror:
        d = _mirror(d)
    return d


# the image-left points an AU may give (their mirror images: stccl.face.measures.MIRROR)
_LEFT = (17, 18, 19, 20, 21, 36, 37, 38, 39, 40, 41, 31, 32, 48, 49, 50, 59, 58, 60, 61, 67)


def _mirror(d: np.ndarray) -> np.ndarray:
    """Points given on the image-left side get the mirrored motion on the right side."""
    out = d.copy()
    for left in _LEFT:
        right = MIRROR[left]
        if np.any(d[left]) and not np.any(d[right]):
            out[right] = (-d[left][0], d[left][1])
    return out


AUS: dict[str, np.ndarray] = {
    # inner brow raiser
    "AU1": _au({(21,): (0.0, -0.15), (20,): (0.0, -0.10), (19,): (0.0, -0.05)}),
    # outer brow raiser
    "AU2": _au({(17,): (0.0, -0.11), (18,): (0.0, -0.10), (19,): (0.0, -0.06), (20,): (0.0, -0.03)}),
    # brow lowerer: brows down and together
    "AU4": _au({(21,): (0.05, 0.09), (20,): (0.03, 0.08), (19,): (0.01, 0.07), (18,): (0.0, 0.05),
                (17,): (0.0, 0.03)}),
    # upper lid raiser
    "AU5": _au({(37, 38): (0.0, -0.035)}),
    # cheek raiser: lower lids pushed up, eyes narrow
    "AU6": _au({(40, 41): (0.0, -0.035), (36,): (0.0, -0.012)}),
    # lid tightener
    "AU7": _au({(40, 41): (0.0, -0.03), (37, 38): (0.0, 0.012)}),
    # nose wrinkler: nose wings up, inner brows down (the upper-lip lift would change the speech)
    "AU9": _au({(31,): (0.01, -0.05), (32,): (0.0, -0.05), (33,): (0.0, -0.04), (30,): (0.0, -0.02),
                (21,): (0.02, 0.05), (20,): (0.0, 0.04), (19,): (0.0, 0.02)}),
    # lip corner puller: corners out and up, along the zygomaticus (~38 degrees above the
    # horizontal; a steeper pull bends the lips into a U that trackers read as an opened mouth)
    "AU12": _au({L_CORNER: (-0.09, -0.07), (49, 59): (-0.045, -0.035), (61, 67): (-0.025, -0.02),
                 (50, 58): (-0.012, -0.01)}),
    # dimpler, one-sided (image-right corner): contempt
    "AU14R": _au({R_CORNER: (0.05, -0.08), (53, 55): (0.025, -0.04), (63, 65): (0.01, -0.02)},
                 mirror=False),
    # lip corner depressor
    "AU15": _au({L_CORNER: (0.0, 0.10), (49, 59): (0.0, 0.05), (61, 67): (0.0, 0.02)}),
    # lower lip depressor: only the corners' pull; the lip parting is left out
    "AU16": _au({(59,): (0.0, 0.02)}),
    # lip stretcher: corners sideways
    "AU20": _au({L_CORNER: (-0.08, 0.025), (49, 59): (-0.04, 0.01)}),
    # lip tightener: corners in
    "AU23": _au({L_CORNER: (0.045, 0.0), (49, 59): (0.02, 0.0)}),
}

# FACS-style intensities: an AU's weight scales its displacement (AU4 is weak in sad and fear,
# where it mostly draws the raised inner brows together).
EMOTION_AUS: dict[str, dict[str, float]] = {
    "angry": {"AU4": 1.0, "AU5": 1.0, "AU7": 1.0, "AU23": 1.0},
    "contempt": {"AU14R": 1.0},
    "disgusted": {"AU9": 1.0, "AU15": 0.45, "AU16": 1.0},
    "fear": {"AU1": 1.0, "AU2": 1.0, "AU4": 0.4, "AU5": 1.0, "AU20": 1.0},
    "happy": {"AU6": 1.0, "AU12": 1.0},
    "neutral": {},
    "sad": {"AU1": 1.0, "AU4": 0.4, "AU15": 0.75},
    "surprised": {"AU1": 1.0, "AU2": 1.0, "AU5": 1.0},
}

# all displacements above are scaled by this, tuned by eye on real clips
GAIN = 1.4


def facs_prototypes() -> dict:
    """The prototypes file's content, built from EMOTION_AUS."""
    emotions = {}
    for emotion, aus in EMOTION_AUS.items():
        d = GAIN * sum((w * AUS[a] for a, w in aus.items()), np.zeros((68, 2)))
        emotions[emotion] = {"aus": aus, "displacement": np.round(d, 4).tolist()}
    return {
        "format": "stccl-prototypes", "version": 1, "source": "facs",
        "units": "inter-ocular distance, canonical face frame (eyes horizontal, x right, y down)",
        "emotions": emotions,
    }


PACKAGED = Path(__file__).with_name("data") / "prototypes.json"

PRIOR_KEYS = ("neutral_shape", "speech_spread", "prior_source", "prior_identities", "prior_population")

if __name__ == "__main__":
    # the expression-free prior is fitted on data (python -m benchmarks.prototypes --write): kept
    old = json.loads(PACKAGED.read_text()) if PACKAGED.is_file() else {}
    prior = {k: old[k] for k in PRIOR_KEYS if k in old}
    PACKAGED.write_text(json.dumps({**facs_prototypes(), **prior, **({"version": 2} if prior else {})},
                                   indent=1) + "\n")
    print(f"wrote {PACKAGED}")
