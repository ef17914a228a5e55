"""SIGTERM and SIGHUP unwind like Ctrl-C: torchrun, job schedulers and `kill` stop a run with
them, and a run must then clean up (remove temp files, save a checkpoint) as on Ctrl-C."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

from .errors import Terminated


@contextmanager
def terminate_like_interrupt() -> Iterator[None]:
    """Inside, SIGTERM and SIGHUP raise Terminated (a KeyboardInterrupt) in the main thread.
    Elsewhere (not the main thread) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Terminated(signum)

    signals = [signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    old = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
