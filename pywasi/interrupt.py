"""Ctrl-C while a guest runs: a clean KeyboardInterrupt, never a corrupt process.

Python runs a signal handler between bytecodes of the main thread. If that
is the first bytecode of a host-call callback, before its `try`, the default
handler's KeyboardInterrupt would escape the callback (printed, and the
guest goes on with garbage). So while a guest is bound, SIGINT goes through
`_on_sigint`: inside a callback's own frame it only makes every bridge's next
host call raise KeyboardInterrupt (from inside the `try`); anywhere else it
does what the previous handler did.

A guest looping without host calls runs no Python at all. For that, during
start()/initialize() the C-level signal handler also writes to a wakeup fd
that the process's ticker (stop.py) watches, and SIGINT fires the run's
stop: an engine with epoch interruption then traps out of the loop, and a
host call blocked in a wait ends.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import weakref

from .bridge import CALLBACK_CODES
from .stop import TICKER

_bridges: weakref.WeakSet = weakref.WeakSet()
_installed = {"count": 0, "previous": None}
_lock = threading.Lock()


def _in_callback_frame(frame) -> bool:
    return frame is not None and frame.f_code in CALLBACK_CODES


def _on_sigint(signum, frame):
    if _in_callback_frame(frame):
        for bridge in list(_bridges):
            bridge.interrupt()
        return
    previous = _installed["previous"]
    if callable(previous):
        return previous(signum, frame)
    raise KeyboardInterrupt


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def attach(bridge) -> bool:
    """Route SIGINT through _on_sigint while `bridge` is bound (main thread
    only: signal handlers run nowhere else). Returns whether it did."""
    if not _main_thread():
        return False
    with _lock:
        _bridges.add(bridge)
        if _installed["count"] == 0:
            current = signal.getsignal(signal.SIGINT)
            if current is not signal.default_int_handler:
                _bridges.discard(bridge)
                return False  # someone else handles SIGINT: leave it to them
            _installed["previous"] = current
            signal.signal(signal.SIGINT, _on_sigint)
        _installed["count"] += 1
    return True


def detach(bridge) -> None:
    if not _main_thread():
        return
    with _lock:
        if bridge not in _bridges:
            return
        _bridges.discard(bridge)
        _installed["count"] -= 1
        if _installed["count"] == 0 and signal.getsignal(signal.SIGINT) is _on_sigint:
            signal.signal(signal.SIGINT, _installed["previous"])


@contextlib.contextmanager
def epoch_on_sigint(stop):
    """While the guest runs: SIGINT also fires `stop` (a pywasi.stop.Stop)."""
    if not _main_thread() or signal.getsignal(signal.SIGINT) is not _on_sigint:
        yield
        return
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    os.set_blocking(write_end, False)
    try:
        previous = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    except ValueError:  # pragma: no cover - not the main thread after all
        os.close(read_end)
        os.close(write_end)
        yield
        return

    def seen(data: bytes) -> None:
        if signal.SIGINT in data:
            stop.fire("interrupt", KeyboardInterrupt())

    TICKER.watch(read_end, seen)
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous)
        TICKER.unwatch(read_end)
        os.close(write_end)
        os.close(read_end)
