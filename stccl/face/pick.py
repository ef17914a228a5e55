"""Which face to follow when a frame shows several: an index, 0 = the largest at the start;
or "all" (the edit follows every face)."""

from __future__ import annotations

from ..errors import InputError


def check_face(value: object) -> int | str:
    """`value` as a face index (a whole number >= 0, or its digits) or "all"; InputError
    otherwise."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "all":
            return "all"
        if text.isdigit():
            return int(text)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"must be a face index, a whole number >= 0 (0 = the largest at the start, "
                         f"1 = the next, ...), or all (every face), got {value!r}")
    return value
