"""Evaluation of edits: metrics of one edit (`evaluate_pair`) and the papers' protocol
(`run_protocol`), both configured by `EvalConfig`. See docs/eval.md for every metric's
definition, units and weights."""

from __future__ import annotations

from .config import EvalConfig, ScoringWeights

__all__ = ["EvalConfig", "ScoringWeights", "evaluate_pair", "run_protocol"]


def __getattr__(name: str):  # imported lazily: `import stccl.eval` stays light
    if name == "evaluate_pair":
        from .pair import evaluate_pair

        return evaluate_pair
    if name == "run_protocol":
        from .protocol import run_protocol

        return run_protocol
    raise AttributeError(f"module 'stccl.eval' has no attribute {name!r}")
