"""SIGTERM and SIGHUP unwind like Ctrl-C: torchrun, job schedulers and `kill` stop a run with
them, and a run must then clean up (remove temp files, save a checkpoint) as on Ctrl-C.

A signal's exception can also come out as another error. C extensions that ignore a failed
check let the next call replace it: numpy's `fromfile` (under `np.load`) runs
`isinstance(file, os.PathLike)`, whose ABC hook is Python code that a signal can interrupt. It
ignores that failure, then calls `os.fspath(file)`, and Ctrl-C comes out as
"TypeError: expected str, bytes or os.PathLike object, not BufferedReader". So an error that
leaves the block after a signal arrived in it is that signal's interrupt."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

from .errors import Terminated

_arrived: list[int] = []  # the signals caught here, in order (main thread only)


def _interrupt(signum: int) -> KeyboardInterrupt:
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)


def _handler(signum, frame):
    _arrived.append(signum)
    raise _interrupt(signum)


@contextmanager
def terminate_like_interrupt() -> Iterator[None]:
    """Inside, SIGTERM and SIGHUP raise Terminated (a KeyboardInterrupt) in the main thread, and
    an Exception that leaves after a signal arrived is re-raised as that signal's interrupt.
    SIGINT keeps its handler unless it is Python's default one (an ignored SIGINT stays
    ignored). Elsewhere (not the main thread) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = [signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    if signal.getsignal(signal.SIGINT) in (signal.default_int_handler, _handler):
        signals.append(signal.SIGINT)
    old = {sig: signal.signal(sig, _handler) for sig in signals}
    mark = len(_arrived)
    try:
        yield
    except Exception as e:
        if len(_arrived) > mark:
            raise _interrupt(_arrived[-1]) from e
        raise
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
