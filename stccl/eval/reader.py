"""Which tracker reads an edit: by default not the one that drove it.

An edit moves the landmarks its tracker found; read back by that same tracker, the edit agrees
with itself, whatever it did to the face. So `--tracker auto` reads an edit with a tracker of
the other kind: a 68-point model (dlib) where a dense mesh drove it, or where nothing says what
drove it (an edit by another tool); the mesh where a 68-point model (dlib, fan) drove it. Only
trackers that need no weights are picked. Torch-free.
"""

from __future__ import annotations

from ..registry import TRACKERS


def pick_reader(asked: str, driver: str | None) -> tuple[str, str | None]:
    """(the tracker that reads the edit, a one-line warning or None), for `--tracker asked`
    and `driver`, the tracker that drove the edit (None: not known). An asked name is kept;
    the warning says when it is the driver itself."""
    if asked != "auto":
        if asked != driver:
            return asked, None
        return asked, (f"reading an edit with its own tracker ({driver}) measures only self-agreement; "
                       "leave out --tracker to read it with another")
    # a 68-point driver is read by a dense mesh; a dense one, or one not known, by a 68-point model
    want_dense = driver in TRACKERS and TRACKERS[driver].caps.points <= 68
    free = [e for e in TRACKERS.entries() if not e.weights and e.name != driver]
    other = [e for e in free if (e.caps.points > 68) == want_dense]
    return (other or free)[0].name if free else asked, None


def reader_line(reader: str, driver: str | None, what: str = "the edit was") -> str:
    """'dlib (the edit was tracked by mesh)': who read, and what drove the edit."""
    return f"{reader} ({what} tracked by {driver or 'an unknown tracker'})"
