"""Running a benchmark process so that one too big for the machine fails alone."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path


def guarded(cmd: list[str], min_free: float = 0.2) -> tuple[int, str, str, str | None]:
    """Run `cmd`; stop it when the machine has less than `min_free` of its memory left, so that a
    benchmark too big for the machine fails alone instead of waking the kernel's OOM killer (which
    may pick another process). Returns (returncode, stdout, stderr, why it was stopped or None)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak, why = 0, None
    while True:
        try:
            out, err = proc.communicate(timeout=0.5)
            return proc.returncode, out, err, why
        except subprocess.TimeoutExpired:
            peak = max(peak, _rss_kib(proc.pid))
            mem = _meminfo_kib()
            if why is None and mem and mem["MemAvailable"] < min_free * mem["MemTotal"]:
                why = (f"stopped at {peak / 2**20:.1f} GiB RSS: less than {min_free:.0%} of the "
                       f"machine's {mem['MemTotal'] / 2**20:.0f} GiB left")
                proc.kill()


def _meminfo_kib() -> dict[str, int] | None:
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
        return {k: int(v.split()[0]) for k, v in (ln.split(":", 1) for ln in lines)
                if k in ("MemTotal", "MemAvailable")}
    except (OSError, ValueError):
        return None


def _rss_kib(pid: int) -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0
