"""What both warp engines do to an emotion's landmark moves before the spline, so that an edit
keeps the speech's mouth shape and never stretches a feature (docs/edit.md, "Engines"):

- `soft_intensity`: intensities above 1 grow softly, towards at most twice the prototype;
- `follow_mouth_width`: the mouth's sideways offset is scaled by the mouth's width in each frame
  against the expression-free width, so an "o" that narrows the mouth narrows the offset too,
  and the output's width and rounding follow the input's;
- `floor_eyes`: an eye never closes past EYE_FLOOR of its opening in the input.

Moves are in the face frame (B,68,2), in inter-ocular distances (IOD); landmarks normalised
(stccl.face.measures.normalise).
"""

from __future__ import annotations

import numpy as np

EYE_FLOOR = 0.6  # an eye keeps at least this share of its opening in the input
LIDS = ((37, 41), (38, 40), (43, 47), (44, 46))  # upper, lower
MOUTH = np.r_[48:68]
WIDTH_SHARE = (0.3, 1.5)  # the mouth's width over the expression-free width, clipped to this


def soft_intensity(intensity: np.ndarray) -> np.ndarray:
    """Intensity as applied: itself up to 1, then 1 + x / (1 + x) for the part x above 1 (1.5
    -> 1.33, 2 -> 1.5, 3 -> 1.67; never 2)."""
    i = np.asarray(intensity, np.float64)
    over = np.maximum(i - 1.0, 0.0)
    return np.minimum(i, 1.0) + over / (1.0 + over)


def width_share(normalised: np.ndarray, rest_width: float, shown: np.ndarray | None = None) -> np.ndarray:
    """(B,68,2) normalised landmarks -> (B,1) the mouth's width (corner to corner) over
    `rest_width`, clipped to WIDTH_SHARE. With `shown` (B,68,2), the expression shown, the width
    it accounts for is taken out first: the share follows the speech, and a smile's own width does
    not scale the edit's offset up."""
    width = normalised[:, 54, 0] - normalised[:, 48, 0]
    if shown is not None:
        width = width - (shown[:, 54, 0] - shown[:, 48, 0])
    return np.clip(width / rest_width, *WIDTH_SHARE)[:, None]


def follow_mouth_width(normalised: np.ndarray, moves: np.ndarray, rest_width: float,
                       shown: np.ndarray | None = None) -> np.ndarray:
    """The mouth's sideways moves (in place, and returned) scaled by `width_share`."""
    moves[:, MOUTH, 0] *= width_share(normalised, rest_width, shown)
    return moves


def floor_eyes(normalised: np.ndarray, moves: np.ndarray) -> np.ndarray:
    """The lids' vertical moves (in place, and returned) scaled where they would close an eye
    past EYE_FLOOR of its opening in the input."""
    y = normalised[..., 1]
    for eye in (LIDS[:2], LIDS[2:]):
        opening = np.mean([y[:, lo] - y[:, up] for up, lo in eye], 0)
        change = np.mean([moves[:, lo, 1] - moves[:, up, 1] for up, lo in eye], 0)
        room = (EYE_FLOOR - 1.0) * np.maximum(opening, 0.0)  # the most it may close (<= 0)
        over = change < room
        if over.any():
            k = np.where(over, room / np.where(over, change, -1.0), 1.0)
            for up, lo in eye:
                moves[:, up, 1] *= k
                moves[:, lo, 1] *= k
    return moves
