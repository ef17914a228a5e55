"""Evaluation of edits: metrics of one edit (`evaluate_pair`) and the paper's protocol
(`run_protocol`). See docs/eval.md for every metric's definition, units and weights."""

from __future__ import annotations

__all__ = ["PairOptions", "ProtocolOptions", "WeightPaths", "evaluate_pair", "run_protocol"]


def __getattr__(name: str):  # imported lazily: `import stccl.eval` stays light
    if name in ("PairOptions", "evaluate_pair"):
        from . import pair

        return getattr(pair, name)
    if name in ("ProtocolOptions", "run_protocol"):
        from . import protocol

        return getattr(protocol, name)
    if name == "WeightPaths":
        from .scorers import WeightPaths

        return WeightPaths
    raise AttributeError(f"module 'stccl.eval' has no attribute {name!r}")
