"""The emotions stccl knows, in the order every model's emotion index follows, and their check.

Torch-free and import-free, so configs, the CLI's help and every package can use it.
"""

from __future__ import annotations

from .errors import InputError

EMOTIONS = ("angry", "contempt", "disgusted", "fear", "happy", "neutral", "sad", "surprised")


def check_emotion(value: object) -> str:
    """`value` as one of EMOTIONS (case and surrounding spaces ignored); InputError otherwise."""
    if not isinstance(value, str):
        raise InputError(f"emotion must be a name ({', '.join(EMOTIONS)}), got {value!r}")
    e = value.strip().lower()
    if e not in EMOTIONS:
        raise InputError(f"unknown emotion {value!r}; choose one of {', '.join(EMOTIONS)}")
    return e


def emotion_index(emotion: str) -> int:
    """The model index of an already checked emotion."""
    return EMOTIONS.index(emotion)
