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


def row(name: str, value: float, unit: str, note: str = "") -> dict:
    return {"name": name, "value": value, "unit": unit, "note": note}


def print_rows(title: str, rows: list[dict]) -> None:
    print(f"\n## {title}")
    print(f"| {'measure':<48} | {'value':>10} | unit | note |")
    print(f"|{'-' * 50}|{'-' * 12}|------|------|")
    for r in rows:
        print(f"| {r['name']:<48} | {r['value']:>10.3g} | {r['unit']} | {r['note']} |")
