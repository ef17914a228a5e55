"""The expression a face shows, read from its 68 landmarks as a mix of the emotion prototypes,
so that an edit can move it to the target instead of adding the target on top (absolute
expressions, docs/edit.md).

Each frame's shape is normalised (eyes horizontal, inter-ocular distance 1), un-foreshortened
for its head pose, and compared with an expression-free face: the population prior's neutral
shape (`neutral_shape` in the prototypes file). The difference is projected onto the seven
non-neutral prototypes with non-negative weights, each coordinate weighted by how little it
moves in neutral speech (`speech_spread`), so the speech does not read as an expression (the
jaw and the lower lip are not read at all, nor the nose, whose shape is the person's). The
weights, smoothed over time, are the expression shown; `shown` turns them back into a
displacement. What the prototypes cannot express (the part of the face orthogonal to all of
them) is taken for identity and left alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..emotions import EMOTIONS
from ..face.measures import normalise
from ..face.pose import views
from .limits import MOUTH

EXPRESSIVE = tuple(e for e in EMOTIONS if e != "neutral")
LOWER_LIP = [55, 56, 57, 58, 59, 65, 66, 67]
# landmark noise and identity detail a weight does not trust below (IOD); without it the
# stillest points (brows, lids) would decide alone
SPREAD_FLOOR = 0.02
SMOOTH_SECONDS = 0.4  # time constant of the smoothing of the weights over frames
# the same for the mouth's sideways part of the expression shown: the reading follows the mouth's
# width, which speech moves at the rate of syllables and phrases (an "ee" reads as a little
# happy), while an expression holds for seconds; removed at the faster rate, the edit narrowed
# the mouth just where speech widened it
MOUTH_SECONDS = 2.0
# a weight above 1 reads an expression stronger than its prototype: on real faces that is
# identity or a mix the prototypes cannot tell apart, and removing it moves the face too far
MAX_WEIGHT = 1.0


@dataclass
class ExpressionModel:
    neutral: np.ndarray  # (68,2) expression-free face, normalised (IOD, eyes horizontal)
    spread: np.ndarray  # (68,2) how much each coordinate moves in neutral speech (IOD)
    prototypes: dict[str, np.ndarray]  # emotion -> (68,2) displacement
    # None, or the seconds over which ShownReader reads the mouth's sideways part (MOUTH_SECONDS)
    mouth_seconds: float | None = None

    def __post_init__(self):
        w = 1.0 / np.sqrt(np.asarray(self.spread, np.float64) ** 2 + SPREAD_FLOOR ** 2)
        w[0:17] = 0.0  # the jaw moves with speech only,
        w[LOWER_LIP] = 0.0  # and so does the lower lip (the prototypes move it like the upper)
        w[27:36] = 0.0  # the nose's shape is the person's: read as an expression, it is identity
        self._w = w.ravel()
        self._basis = np.stack([np.asarray(self.prototypes[e], np.float64).ravel() for e in EXPRESSIVE], 1)
        # each prototype as this reading sees it on the prior's face: moving the lids moves the
        # eye centres that normalise() measures from, and the pose fit sees the change too
        size, centre = 100.0, np.array([200.0, 200.0])
        face = centre + size * np.asarray(self.neutral, np.float64)
        moved = np.stack([face + size * np.asarray(self.prototypes[e], np.float64) for e in EXPRESSIVE])
        seen = (self.canonical(moved) - self.canonical(face[None])).reshape(len(EXPRESSIVE), -1).T
        self._wbasis = seen * self._w[:, None]
        self._face = face[None]
        self._solve = _Supports(self._wbasis)

    def seen_by(self, view_offset: np.ndarray | None) -> "ExpressionModel":
        """This reading for landmarks from a tracker whose 68-point view sits `view_offset` off
        dlib's (Backend.view_offset): the expression-free face moved by it. None: itself."""
        if view_offset is None:
            return self
        return ExpressionModel(np.asarray(self.neutral, np.float64) + view_offset, self.spread, self.prototypes,
                               self.mouth_seconds)

    def canonical(self, landmarks: np.ndarray) -> np.ndarray:
        """(B,68,2) image landmarks -> normalised shapes seen from the front (B,68,2)."""
        lmk = np.asarray(landmarks, np.float64)
        return np.einsum("bij,bnj->bni", np.linalg.inv(views(lmk)), normalise(lmk))

    def weights(self, landmarks: np.ndarray) -> np.ndarray:
        """(B,68,2) -> (B,7) weight (0 .. MAX_WEIGHT) of each of EXPRESSIVE in each frame."""
        r = (self.canonical(landmarks) - self.canonical(self._face)).reshape(len(landmarks), -1) * self._w
        return np.minimum(self._solve(r), MAX_WEIGHT)

    def shown(self, weights: np.ndarray) -> np.ndarray:
        """(B,7) weights -> (B,68,2) the displacement from neutral they stand for."""
        return (np.asarray(weights) @ self._basis.T).reshape(-1, 68, 2)

    def reading(self, weights: np.ndarray) -> dict[str, float]:
        """Mean weight per emotion over frames (B,7) -> {emotion: weight}."""
        mean = np.asarray(weights).mean(0) if len(weights) else np.zeros(len(EXPRESSIVE))
        return {e: float(v) for e, v in zip(EXPRESSIVE, mean)}


def nnls(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Non-negative least squares for each row b of B (N,M): argmin |A w - b| with w >= 0, for
    an A (M,K) of few columns, exactly and for all rows at once. The optimum is the unconstrained
    least-squares solution on its own support, so it is the best of the 2^K - 1 supports' that
    comes out non-negative (scipy solves one row at a time, and importing it costs the edit
    130 MB)."""
    return _Supports(A)(B)


class _Supports:
    """The least-squares solutions of every support of A's columns, precomputed."""

    def __init__(self, A: np.ndarray):
        k = A.shape[1]
        G = A.T @ A
        self.A = A
        # (S, K, K), zero off each support: the pseudo-inverse of G with the other rows and
        # columns zeroed is that of its support's block, in place
        on = np.array([[s >> j & 1 for j in range(k)] for s in range(1, 2 ** k)], np.float64)
        self.inverse = np.linalg.pinv(G[None] * on[:, :, None] * on[:, None, :])

    def __call__(self, B: np.ndarray) -> np.ndarray:
        H = np.asarray(B, np.float64) @ self.A  # (N, K)
        w = np.einsum("skj,nj->nsk", self.inverse, H)  # (N, S, K)
        loss = -(w * H[:, None, :]).sum(-1)  # |A w - b|^2 - |b|^2 at each support's solution
        loss[(w < -1e-12).any(-1)] = np.inf
        best = np.argmin(loss, 1)
        out = np.maximum(w[np.arange(len(H)), best], 0.0)
        out[~np.isfinite(loss.min(1))] = 0.0  # no support feasible: b points away from every column
        return out


class ShownReader:
    """What a video's faces show, frame after frame: `model`'s weights smoothed over time
    (`Smoother`), their mean so far (`reading`), and the displacement they stand for, whose
    mouth's sideways part comes from weights smoothed over the model's `mouth_seconds` (when
    not None: the 68-point warp's reading, MOUTH_SECONDS)."""

    def __init__(self, model: ExpressionModel, fps: float):
        self.model, self.smoother = model, Smoother(fps)
        self.slow = None if model.mouth_seconds is None else Smoother(fps, model.mouth_seconds, mean_first=True)
        self._sum, self._n = np.zeros(len(EXPRESSIVE)), 0

    def __call__(self, indices: list[int], landmarks: np.ndarray) -> np.ndarray:
        """Frames' indices and (B,68,2) landmarks, in frame order -> (B,68,2) shown."""
        raw = self.model.weights(landmarks)
        weights = self.smoother(indices, raw)
        self._sum += weights.sum(0)
        self._n += len(weights)
        shown = self.model.shown(weights)
        if self.slow is not None:
            shown[:, MOUTH, 0] = self.model.shown(self.slow(indices, raw))[:, MOUTH, 0]
        return shown

    @property
    def frames(self) -> int:
        """Frames read so far."""
        return self._n

    @property
    def reading(self) -> dict[str, float]:
        """Mean weight per emotion over the frames read so far."""
        return self.model.reading((self._sum / max(self._n, 1))[None])


class Smoother:
    """Exponential smoothing of per-frame weights, in frame order; it starts again after a gap.
    With `mean_first`, the first frames after a start are averaged equally until the smoothing's
    own weight is reached, so a long time constant does not hold on to a start's first frame."""

    def __init__(self, fps: float, seconds: float = SMOOTH_SECONDS, mean_first: bool = False):
        self.keep = float(np.exp(-1.0 / max(seconds * fps, 1e-6)))
        self.mean_first = mean_first
        self.last: np.ndarray | None = None
        self.index = -2
        self.count = 0

    def __call__(self, indices: list[int], weights: np.ndarray) -> np.ndarray:
        out = np.empty_like(weights)
        for k, (i, w) in enumerate(zip(indices, weights)):
            if self.last is None or i != self.index + 1:
                self.last, self.count = w, 1
            else:
                keep = min(self.keep, self.count / (self.count + 1)) if self.mean_first else self.keep
                self.last = keep * self.last + (1 - keep) * w
                self.count += 1
            self.index = i
            out[k] = self.last
        return out
