"""The metrics `stccl eval` reports: names, units and which way is better (docs/eval.md)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    unit: str
    better: str  # "higher" | "lower" | "→0" | "info"
    weights: str | None = None  # the weights it needs, None = none


METRICS: dict[str, Metric] = {m.name: m for m in [
    Metric("mouth_corr", "mouth-opening corr", "-1..1", "higher"),
    Metric("width_corr", "mouth-width corr", "-1..1", "higher"),
    Metric("rounding_corr", "mouth-rounding corr", "-1..1", "higher"),
    Metric("m_lmd", "M-LMD", "IOD", "lower"),
    Metric("f_lmd", "F-LMD", "IOD", "info"),
    Metric("expr_shift", "expression shift", "IOD", "higher"),
    Metric("expr_shift_ratio", "shift / prototype", "ratio", "higher"),
    Metric("expr_cos", "shift cosine", "-1..1", "higher"),
    Metric("flicker", "flicker vs input", "8-bit levels", "→0"),
    Metric("bg_psnr", "background PSNR", "dB", "higher"),
    Metric("bg_ssim", "background SSIM", "0..1", "higher"),
    Metric("emotion_acc", "emotion accuracy", "fraction", "higher", "classifier"),
    Metric("emotion_acc_input", "emotion acc. of input", "fraction", "info", "classifier"),
    Metric("fad", "FAD", "-", "lower", "arcface18"),
    Metric("identity_cos", "identity cosine", "-1..1", "higher", "arcface"),
    Metric("expr_sim", "expression sim. (CSIM)", "-1..1", "higher", "expression"),
    Metric("lse_d", "LSE-D", "-", "lower", "syncnet"),
    Metric("lse_c", "LSE-C", "-", "higher", "syncnet"),
    Metric("lse_offset", "SyncNet A/V offset", "frames", "info", "syncnet"),
    Metric("lse_d_input", "LSE-D of input", "-", "info", "syncnet"),
    Metric("lse_c_input", "LSE-C of input", "-", "info", "syncnet"),
]}

# The per-emotion tables and the chart of a protocol run, in this order when present.
KEY_METRICS = ("mouth_corr", "width_corr", "rounding_corr", "m_lmd", "expr_shift_ratio", "emotion_acc",
               "fad", "expr_sim", "identity_cos", "lse_d", "lse_c", "flicker", "bg_psnr")
