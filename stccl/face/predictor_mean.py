"""The mean face of dlib's 68-point shape predictor, read from the model file itself.

dlib's regression-tree predictor starts every fit from `initial_shape`, the mean of its
training shapes (iBUG 300-W: a few thousand in-the-wild faces of as many people), in the
detection box's unit square. It is the first thing the file holds after its version:

    int version, matrix<float,0,1> initial_shape (136 values, x0 y0 x1 y1 ...), forests ...

dlib writes an integer as one byte (bit 7: negative; low 4 bits: how many bytes follow) and
then that many little-endian bytes; a float as two such integers, mantissa and exponent
(value = mantissa * 2**exponent); a matrix as its row and column counts (negative in the
current format), then its values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import WeightsError


def _int(data: bytes, i: int) -> tuple[int, int]:
    if i >= len(data):
        raise ValueError("truncated")
    head = data[i]
    n = head & 0x0F
    if n > 8 or i + 1 + n > len(data):
        raise ValueError("bad integer")
    value = int.from_bytes(data[i + 1:i + 1 + n], "little")
    return (-value if head & 0x80 else value), i + 1 + n


def initial_shape(path: str | Path) -> np.ndarray:
    """(68, 2) mean shape of the predictor in `path` (unit-square box coordinates)."""
    path = Path(path)
    try:
        data = path.open("rb").read(4096)
        version, i = _int(data, 0)
        rows, i = _int(data, i)
        cols, i = _int(data, i)
        if version != 1 or abs(rows) != 136 or abs(cols) != 1:
            raise ValueError(f"version {version}, shape {abs(rows)}x{abs(cols)}")
        values = []
        for _ in range(136):
            mantissa, i = _int(data, i)
            exponent, i = _int(data, i)
            values.append(mantissa * 2.0 ** exponent)
    except (OSError, ValueError) as e:
        raise WeightsError(f"{path}: not a dlib 68-point shape predictor ({e})") from None
    return np.asarray(values).reshape(68, 2)
