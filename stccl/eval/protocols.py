"""The evaluation protocols of the papers: test actors, target emotions and the cross-ID map.

Test actors: MEAD M003, M009, W029, M012, M030, W015; RAVDESS Actor_01..06. The cross-ID map
is cyclic, each actor takes the one before it: M003<-W015, M009<-M003, W029<-M009,
M012<-W029, M030<-M012, W015<-M030 (Actor_01<-Actor_06, Actor_02<-Actor_01, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..data.layouts import MEAD_TEST, RAVDESS_TEST
from ..errors import InputError

MEAD_TARGETS = ("angry", "contempt", "disgusted", "fear", "happy", "sad", "surprised")
RAVDESS_TARGETS = ("angry", "disgusted", "fear", "happy", "sad", "surprised")


def cross_map(actors: tuple[str, ...]) -> dict[str, str]:
    """Each actor -> the one before it, cyclically (the first takes the last)."""
    return {a: actors[i - 1] for i, a in enumerate(actors)}


@dataclass(frozen=True)
class Protocol:
    name: str
    actors: tuple[str, ...]
    targets: tuple[str, ...]
    cross: bool

    def reference(self, actor: str) -> str:
        return cross_map(self.actors)[actor] if self.cross else actor


PROTOCOLS = {
    "mead-intra": Protocol("mead-intra", MEAD_TEST, MEAD_TARGETS, False),
    "mead-cross": Protocol("mead-cross", MEAD_TEST, MEAD_TARGETS, True),
    "ravdess-intra": Protocol("ravdess-intra", RAVDESS_TEST, RAVDESS_TARGETS, False),
    "ravdess-cross": Protocol("ravdess-cross", RAVDESS_TEST, RAVDESS_TARGETS, True),
}


def check_protocol(value: object) -> str:
    """`value` if it names a protocol of PROTOCOLS; InputError otherwise."""
    if value not in PROTOCOLS:
        raise InputError(f"unknown protocol {value!r}; choose one of {', '.join(PROTOCOLS)}")
    return value
