"""Which face to follow when a frame shows several: an index, 0 = the largest at the start."""

from __future__ import annotations

from ..errors import InputError


def check_face(value: object) -> int:
    """`value` as a face index (a whole number >= 0); InputError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"must be a face index, a whole number >= 0 (0 = the largest at the start, "
                         f"1 = the next, ...), got {value!r}")
    return value
