from __future__ import annotations

import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def shared_clip(rel: str) -> Path:
    path = SHARED / rel
    if not path.is_file():
        raise SystemExit(f"benchmark clip not found: {path} (needs ../shared/data)")
    return path


class Timer:
    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0


def ratio_row(section: str, name: str, value: float, unit: str, baseline: str,
              baseline_value: float, note: str = "") -> dict:
    """One row of the table: `value` against `baseline_value` (same unit, same run)."""
    return {"section": section, "name": name, "ratio": value / baseline_value, "value": value,
            "baseline": baseline, "baseline_value": baseline_value, "unit": unit, "note": note}


def row(name: str, value: float, unit: str, note: str = "") -> dict:
    return {"name": name, "value": value, "unit": unit, "note": note}


def print_rows(title: str, rows: list[dict]) -> None:
    print(f"\n## {title}")
    print(f"| {'measure':<48} | {'value':>10} | unit | note |")
    print(f"|{'-' * 50}|{'-' * 12}|------|------|")
    for r in rows:
        print(f"| {r['name']:<48} | {r['value']:>10.3g} | {r['unit']} | {r['note']} |")


# The end of a `python -c` script that prints its own peak RSS in KiB. Not ru_maxrss: Linux keeps
# that across exec, so a child of a large process (the benchmark run, once it has loaded torch)
# reports its parent's peak instead of its own. VmHWM belongs to the new address space.
PRINT_PEAK_RSS = """
import json, resource
try:
    _peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
except (OSError, StopIteration):
    _peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(_peak))
"""
