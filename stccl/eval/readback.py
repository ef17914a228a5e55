"""An edit read back as someone else would read it: landmarks of the input and the output, each
detected afresh on every frame (stccl.face.fresh), nothing carried over from the tracking that
drove the edit.

- lips: the mouth opening (stccl.face.measures.mouth_opening, IOD) of the output against the
  input, frame by frame: `mouth_corr` (Pearson), `mouth_dev` (mean |difference|, IOD);
  `mouth_std` is the input opening's spread, below `MOVING` the mouth barely moves and the
  correlation is noise;
- expression: `expr_shift_ratio` and `expr_cos` (stccl.eval.landmarks.expression_shift), how
  far the read landmarks moved along the move asked for: the emotion's prototype, less what
  the input already shows for an absolute edit (`intended_move`);
- faces: the fraction of frames where a face was read, in and out.

`lips_kept` is the bar an edit has to clear: a correlation of at least 0.9 where the mouth
moves and a mean deviation of at most 0.03 IOD everywhere.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..face.fresh import read_landmarks
from ..face.measures import mouth_opening
from .landmarks import expression_shift

MOVING = 0.03  # IOD: input mouth-opening spread above which the correlation must hold
MIN_CORR = 0.9
MAX_DEV = 0.03  # IOD


def lip_figures(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """mouth_std, mouth_corr, mouth_dev of (N,68,2) output `b` against input `a`."""
    with np.errstate(invalid="ignore"):
        oa, ob = mouth_opening(a), mouth_opening(b)
    ok = np.isfinite(oa) & np.isfinite(ob)
    if ok.sum() < 3:
        return {"mouth_std": float("nan"), "mouth_corr": float("nan"), "mouth_dev": float("nan")}
    oa, ob = oa[ok], ob[ok]
    corr = float(np.corrcoef(oa, ob)[0, 1]) if oa.std() > 1e-9 and ob.std() > 1e-9 else float("nan")
    return {"mouth_std": float(oa.std()), "mouth_corr": corr,
            "mouth_dev": float(np.abs(ob - oa).mean())}


def lips_kept(fig: dict[str, float]) -> bool:
    """The bar: mouth_dev <= MAX_DEV, and mouth_corr >= MIN_CORR where mouth_std > MOVING."""
    if not np.isfinite(fig["mouth_dev"]) or fig["mouth_dev"] > MAX_DEV:
        return False
    return fig["mouth_std"] <= MOVING or fig["mouth_corr"] >= MIN_CORR


def intended_move(lmk: np.ndarray, prototype: np.ndarray | None, model=None) -> np.ndarray | None:
    """The mean move (68,2) an edit to `prototype` asks of the face in `lmk` (N,68,2): the
    prototype itself (relative, `model` None), or the prototype less the expression the input
    shows as `model` (stccl.edit.expression.ExpressionModel) reads it (absolute)."""
    if model is None:
        return prototype
    target = np.zeros((68, 2)) if prototype is None else np.asarray(prototype, np.float64)
    found = lmk[np.isfinite(lmk).all((1, 2))]
    if not len(found):
        return target
    return target - model.shown(model.weights(found).mean(0)[None])[0]


def faces_found(lmk: np.ndarray) -> float:
    return float(np.isfinite(lmk).all((1, 2)).mean()) if len(lmk) else 0.0


def read_back(source: np.ndarray | str | Path, output: str | Path, prototype: np.ndarray | None,
              backend=None) -> dict[str, float]:
    """Figures of an edit: `source` is the input video or its fresh landmarks (to read it once
    for several edits), `prototype` the (68,2) move asked for (`intended_move`; None: none)."""
    a = source if isinstance(source, np.ndarray) else read_landmarks(source, backend)
    b = read_landmarks(output, backend)
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    fig = {"faces_in": faces_found(a), "faces_out": faces_found(b)}
    fig.update(lip_figures(a, b))
    shift = expression_shift(a, b, prototype)
    fig["expr_shift_ratio"], fig["expr_cos"] = shift["expr_shift_ratio"], shift["expr_cos"]
    return fig
