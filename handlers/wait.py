"""Blocking waits that a stop can end.

Every host call that can block (poll_oneoff, reads and writes on pipes,
terminals and sockets, sock_accept, path_open of a FIFO) waits here, in poll(), never select():
select() cannot take an fd of 1024 or above, which a host holding many files
has. While a guest runs under a stop (a timeout, a cancel, Ctrl-C: see
pywasi/stop.py), the thread running it has a wake fd bound here, and every
wait also watches it: when the stop fires, the wait raises `Stopped` and the
host call ends as a trap.

Without a wake fd bound (a host calling a reactor's exports itself) a wait
is a plain poll().
"""

from __future__ import annotations

import contextlib
import select
import threading
import time
from collections.abc import Callable

READ = select.POLLIN | select.POLLPRI
WRITE = select.POLLOUT
HANGUP = select.POLLHUP | select.POLLERR | getattr(select, "POLLRDHUP", 0)
_LONGEST_POLL_MS = 2**31 - 1  # poll() takes an int of milliseconds


class Stopped(Exception):
    """A stop ended a blocking wait: the host call traps, and whoever fired
    the stop says what the caller of start() sees."""

    def __init__(self):
        super().__init__("stopped while waiting")


class _Bound(threading.local):
    # The fd a stop makes readable, or a function that makes it when first
    # asked (a run that never waits needs none); None: no stop.
    wake: int | Callable[[], int] | None = None


_bound = _Bound()


@contextlib.contextmanager
def wake_on(fd: int | Callable[[], int]):
    """While the block runs, waits on this thread also end when `fd` (or
    the fd it returns when first called) becomes readable."""
    previous, _bound.wake = _bound.wake, fd
    try:
        yield
    finally:
        _bound.wake = previous


def stoppable() -> bool:
    """Whether a stop can end a wait on this thread (a wake fd is bound)."""
    return _bound.wake is not None


def _wake_fd() -> int:
    """The bound wake fd, made now if it is made when first asked; or -1."""
    wake = _bound.wake
    if wake is None:
        return -1
    if callable(wake):
        wake = _bound.wake = wake()
    return wake


def wait(masks: dict[int, int], deadline_ns: int | None = None) -> dict[int, int]:
    """Wait until one of the fds (fd -> poll event mask) is ready or the
    monotonic `deadline_ns` passes (None: no deadline). Returns fd -> the
    events that happened, empty at the deadline; raises Stopped if a stop
    fired first. It counts whole milliseconds: it may return empty up to a
    millisecond early, for the caller to sleep the last fraction precisely."""
    poller = select.poll()
    for fd, mask in masks.items():
        poller.register(fd, mask)
    wake = _wake_fd()
    if wake >= 0:
        poller.register(wake, select.POLLIN)
    while True:
        if deadline_ns is None:
            timeout = None
        else:
            left = deadline_ns - time.monotonic_ns()
            timeout = min(max(0, left // 1_000_000), _LONGEST_POLL_MS)
        events = dict(poller.poll(timeout))
        if wake >= 0 and events.pop(wake, 0):
            raise Stopped()
        if events or timeout == 0:
            return events


def wait_for(fd: int, mask: int) -> int:
    """Wait, with no deadline, until `fd` has one of the events in `mask`
    (or hangs up); the events that happened."""
    return wait({fd: mask | HANGUP}).get(fd, 0)


def ready(fd: int, mask: int) -> bool:
    """Whether `fd` has one of the events in `mask` now, without waiting."""
    poller = select.poll()
    poller.register(fd, mask | HANGUP)
    return bool(poller.poll(0))


def sleep_until(deadline_ns: int) -> None:
    """Sleep until the monotonic `deadline_ns`, ended early by a stop.

    The last stretch (all of a short sleep) is one nanosleep: one wakeup, so
    a 10 ms sleep wakes within a fraction of a millisecond of its deadline,
    even on a busy machine; a stop during it is seen within _SHORT_SLEEP_NS.
    Before that, a stop ends the sleep at once."""
    if _bound.wake is not None and deadline_ns - time.monotonic_ns() > _SHORT_SLEEP_NS:
        wait({}, deadline_ns - _SHORT_SLEEP_NS)
    while (left := deadline_ns - time.monotonic_ns()) > 0:
        time.sleep(min(left, 86_400 * 1_000_000_000) / 1e9)


# A sleep this short is not cut short by a stop (it still comes well within
# the 100 ms a timeout may take to fire).
_SHORT_SLEEP_NS = 20_000_000
