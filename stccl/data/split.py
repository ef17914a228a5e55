"""Held-out actors: the one train/validation split of every training stage."""

from __future__ import annotations

from ..errors import DataError


def split_actors(items: list[dict], val_actors: list[str], what: str = "pairs", *,
                 prefer: list[str] = (), exclude: list[str] = ()) -> tuple[list[int], list[int], list[str]]:
    """(training indices, validation indices, held-out actors) of `items` (dicts with an "actor").

    Held out: `val_actors`; else those of `prefer` that are present; else the last actor that
    is not excluded, when there are at least two. Actors in `exclude` are never trained on
    (they may still be held out). `what` names the items in errors."""
    actors = sorted({it.get("actor") or "" for it in items})
    trainable = [a for a in actors if a not in exclude]
    held = (list(val_actors) or [a for a in prefer if a in actors]
            or (trainable[-1:] if len(trainable) >= 2 else []))
    unknown = sorted(set(held) - set(actors))
    if unknown:
        raise DataError(f"validation actor(s) {', '.join(unknown)} have no {what}; "
                        f"actors with {what}: {', '.join(a or '(none)' for a in actors)}")
    train = [k for k, it in enumerate(items) if (it.get("actor") or "") not in set(held) | set(exclude)]
    val = [k for k, it in enumerate(items) if (it.get("actor") or "") in held]
    if not train:
        raise DataError(f"every actor with {what} is held out for validation or excluded from training; "
                        "leave at least one for training")
    return train, val, held
