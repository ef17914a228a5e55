"""Per-frame intensity factors that ease in and out, so that nothing pops.

The factor ramps down to 0 before a face gap and back up after it, ramps at the edges of
the --start/--end window, and fades out where the head turns too far from frontal for a
frontal expression (`pose_factor`). Knowing that a gap is coming needs `ramp` frames of
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
    """push(item, has_face) -> [(item, factor)], in order, `ramp` frames behind; then finish()."""

    def __init__(self, ramp: int, entering: bool = False):
        """`entering`: the face appears at the first frame pushed, so the factor ramps up from
        there (a face that is there from the start of the video is edited from its first frame)."""
        self.ramp = max(int(ramp), 0)
        self._held: deque[tuple[int, Any, bool]] = deque()
        self._next = 0
        self._last_missing = -1 if entering else -math.inf

    def push(self, item: Any, has_face: bool) -> list[tuple[Any, float]]:
        self._held.append((self._next, item, has_face))
        self._next += 1
        out = []
        while self._held and self._held[0][0] <= self._next - 1 - self.ramp:
            out.append(self._emit())
        return out

    def finish(self) -> list[tuple[Any, float]]:
        return [self._emit() for _ in range(len(self._held))]

    def _emit(self) -> tuple[Any, float]:
        index, item, has_face = self._held.popleft()
        if not has_face:
            self._last_missing = index
            return item, 0.0
        next_missing = next((i for i, _, f in self._held if not f), math.inf)
        d = min(index - self._last_missing, next_missing - index)
        return item, ramp_factor(d, self.ramp)
