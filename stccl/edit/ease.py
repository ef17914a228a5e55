"""Per-frame intensity factors that ease in and out, so that nothing pops.

The factor ramps down to 0 before a face gap and back up after it, ramps at the edges of
the --start/--end window, fades out where the head turns too far from frontal for a
frontal expression (`pose_factor`), and eases out around frames whose landmark fit is unsure
of the mouth (`EaseBuffer`'s trust). Knowing that a gap is coming needs `ramp` frames of
look-ahead, so `EaseBuffer` holds that many frames (memory stays constant).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any


def smoothstep(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


def ramp_factor(distance: float, ramp: int) -> float:
    """Factor for a frame `distance` frames away from the nearest edge (1 = adjacent)."""
    if ramp <= 0:
        return 1.0
    return smoothstep(distance / (ramp + 1))


def window_factor(index: int, first: int | None, last: int | None, ramp: int) -> float:
    """Factor of frame `index` for the edit window [first, last] (None = open end)."""
    if (first is not None and index < first) or (last is not None and index > last):
        return 0.0
    d_in = math.inf if first is None else index - first + 1
    d_out = math.inf if last is None else last - index + 1
    return ramp_factor(min(d_in, d_out), ramp)


# |yaw| and |pitch| (degrees) where the pose fade starts and where the edit is gone
YAW_FADE = (35.0, 55.0)
PITCH_FADE = (25.0, 40.0)


def pose_factor(yaw: float, pitch: float) -> float:
    """1 for near-frontal views, smoothly down to 0 for views too turned or tilted."""
    def fade(angle: float, span: tuple[float, float]) -> float:
        return 1.0 - smoothstep((abs(angle) - span[0]) / (span[1] - span[0]))

    if not (math.isfinite(yaw) and math.isfinite(pitch)):
        return 0.0
    return min(fade(yaw, YAW_FADE), fade(pitch, PITCH_FADE))


class EaseBuffer:
    """push(item, has_face, trust) -> [(item, factor)], in order, `ramp` frames behind; then
    finish().

    `trust` is 1 where the face is fitted surely, and lower where the fit is unsure of the mouth
    (stccl.face.spread.trust). A frame's factor is the smallest, over the frames within `ramp`
    of it, of what each allows, lifted by the ramp over their distance: a frame without a face
    allows 0, a face its trust. So the edit ramps down before a gap and up after it, and eases
    out around an unsure fit in the same way, without a jump."""

    def __init__(self, ramp: int, entering: bool = False):
        """`entering`: the face appears at the first frame pushed, so the factor ramps up from
        there (a face that is there from the start of the video is edited from its first frame)."""
        self.ramp = max(int(ramp), 0)
        self._held: deque[tuple[int, Any, bool, float]] = deque()
        self._past: deque[tuple[int, bool, float]] = deque([(-1, False, 0.0)] if entering else [])
        self._next = 0
        self.unsure = 0  # frames with a face whose factor an unsure fit lowered

    def push(self, item: Any, has_face: bool, trust: float = 1.0) -> list[tuple[Any, float]]:
        self._held.append((self._next, item, bool(has_face), float(trust) if has_face else 0.0))
        self._next += 1
        out = []
        while self._held and self._held[0][0] <= self._next - 1 - self.ramp:
            out.append(self._emit())
        return out

    def finish(self) -> list[tuple[Any, float]]:
        return [self._emit() for _ in range(len(self._held))]

    def _emit(self) -> tuple[Any, float]:
        index, item, has_face, trust = self._held.popleft()
        while self._past and self._past[0][0] < index - self.ramp:
            self._past.popleft()
        near = list(self._past) + [(i, f, t) for i, _, f, t in self._held]
        self._past.append((index, has_face, trust))
        if not has_face:
            return item, 0.0
        gaps, unsure = 1.0, trust
        for i, face, t in near:
            lifted = max(t, ramp_factor(abs(index - i), self.ramp))
            if face:
                unsure = min(unsure, lifted)
            else:
                gaps = min(gaps, lifted)
        self.unsure += int(unsure < 1.0)
        return item, min(gaps, unsure)
