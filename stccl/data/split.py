"""Held-out actors: the one train/validation split of every training stage."""

from __future__ import annotations

from ..errors import DataError


def split_actors(items: list[dict], val_actors: list[str], what: str = "pairs"
                 ) -> tuple[list[int], list[int], list[str]]:
    """(training indices, validation indices, held-out actors) of `items` (dicts with an
    "actor"); by default the last actor is held out when there are at least two. `what` names
    the items in errors."""
    actors = sorted({it.get("actor") or "" for it in items})
    held = list(val_actors) if val_actors else (actors[-1:] if len(actors) >= 2 else [])
    unknown = sorted(set(held) - set(actors))
    if unknown:
        raise DataError(f"validation actor(s) {', '.join(unknown)} have no {what}; "
                        f"actors with {what}: {', '.join(a or '(none)' for a in actors)}")
    train = [k for k, it in enumerate(items) if (it.get("actor") or "") not in held]
    val = [k for k, it in enumerate(items) if (it.get("actor") or "") in held]
    if not train:
        raise DataError(f"every actor with {what} is held out for validation; leave at least one for training")
    return train, val, held
