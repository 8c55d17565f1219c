"""poll_oneoff: wait for clocks and descriptors, in the host's poll().

Descriptors that are always ready (regular files, in-memory stdio) answer at
once; the rest are waited on in one poll() call (wait.py: a stop ends it)
whose timeout is the nearest clock deadline. A descriptor that cannot be
polled, or is not there, fails in its own event's `error`, not as the call's
errno. Timers sleep with nanosleep when there is nothing else to wait for,
so a 10 ms sleep wakes within a fraction of a millisecond of its deadline,
and nothing spins.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pywasi.generated.preview1 import (
    Clockid, Errno, Event, EventFdReadwrite, Eventtype, Subscription,
)

from ..bits import EVENTRW, RIGHTS, SUBCLOCK
from pywasi.runtime.errors import WasiError, errno_of
from ..fdtable import FdTable
from ..wait import HANGUP as _HUP, READ as _READ, WRITE as _WRITE, sleep_until as _sleep_until, wait

ABSTIME = SUBCLOCK.SUBSCRIPTION_CLOCK_ABSTIME
HANGUP = EVENTRW.FD_READWRITE_HANGUP
_POLL_RIGHT = RIGHTS.POLL_FD_READWRITE


def _event(sub: Subscription, error: int = 0, nbytes: int = 0, hangup: bool = False) -> Event:
    return Event(sub.userdata, error, sub.u.tag, EventFdReadwrite(nbytes, HANGUP if hangup else 0))


class PollCalls:
    """Needs `self.fds` (FdCalls), and `self.now` and `self.monotonic_origin`
    (Clocks)."""

    fds: FdTable
    now: Callable[[int], int]
    monotonic_origin: int

    def _deadline(self, clock, now: int) -> int:
        """A clock subscription's deadline on the host's monotonic clock, in ns.

        The CPU-time clocks do not advance while the guest waits, so a timeout
        on them is taken as that long in real time (wasmtime refuses them)."""
        timeout = clock.timeout
        if clock.flags & ABSTIME:
            if clock.id == Clockid.MONOTONIC:
                return self.monotonic_origin + timeout
            timeout -= self.now(clock.id)
        return now + max(0, timeout)

    # The time poll_oneoff reads and spends: the host's monotonic clock, for
    # real. VirtualPoll gives virtual ones (deterministic=True).

    def _poll_clock(self) -> int:
        return time.monotonic_ns()

    def _poll_sleep(self, deadline: int) -> None:
        _sleep_until(deadline)

    def _poll_fds(self, waiting, deadline: int | None) -> dict[int, bool]:
        return _wait_for_fds(waiting, deadline)

    def poll_oneoff(self, in_: list[Subscription]) -> list[Event]:
        if not in_:
            raise WasiError(Errno.INVAL)  # nothing to wait for would wait forever
        now = self._poll_clock()
        ready: dict[int, Event] = {}  # subscription index -> its event
        clocks: list[tuple[int, int]] = []  # (deadline, index)
        waiting: dict[int, tuple[object, bool]] = {}  # index -> (descriptor, write)
        for index, sub in enumerate(in_):
            if sub.u.tag == Eventtype.CLOCK:
                clocks.append((self._deadline(sub.u.value, now), index))
                continue
            write = sub.u.tag == Eventtype.FD_WRITE
            try:
                d = self.fds.get(sub.u.value.file_descriptor, _POLL_RIGHT)
                answer = d.poll_now(write)
            except WasiError as e:
                ready[index] = _event(sub, error=e.errno)
                continue
            except OSError as e:
                ready[index] = _event(sub, error=errno_of(e))
                continue
            if answer is None:
                waiting[index] = (d, write)
            else:
                ready[index] = _event(sub, nbytes=answer[0], hangup=answer[1])

        deadline = min(clocks)[0] if clocks else None
        if ready:
            deadline = now  # something is ready: look, but do not wait
        if waiting:
            for index, hangup in self._poll_fds(waiting, deadline).items():
                d, write = waiting[index]
                nbytes, hung = d.poll_result(write, hangup)
                ready[index] = _event(in_[index], nbytes=nbytes, hangup=hung)
        elif deadline is not None and not ready:
            self._poll_sleep(deadline)
        if clocks:
            now = self._poll_clock()
            for when, index in clocks:
                if when <= now:
                    ready[index] = _event(in_[index])
        return [ready[i] for i in sorted(ready)]


def _wait_for_fds(waiting, deadline: int | None) -> dict[int, bool]:
    """Block until a descriptor is ready or the deadline passes. Returns
    {subscription index: hung up} for the ready ones."""
    masks: dict[int, int] = {}
    for d, write in waiting.values():
        masks[d.poll_fd] = masks.get(d.poll_fd, 0) | (_WRITE if write else _READ) | _HUP
    while True:
        if deadline is not None and 0 < deadline - time.monotonic_ns() < 1_000_000:
            # poll() counts in whole milliseconds: sleep the last fraction
            # precisely, then look once more without waiting.
            _sleep_until(deadline)
        events = wait(masks, deadline)
        out = {}
        for index, (d, write) in waiting.items():
            revents = events.get(d.poll_fd, 0)
            if revents & ((_WRITE if write else _READ) | _HUP):
                out[index] = bool(revents & _HUP)
        if out or (deadline is not None and time.monotonic_ns() >= deadline):
            return out


class VirtualPoll:
    """deterministic=True: poll_oneoff on the virtual clock (VirtualClocks).
    Sleeping takes no wall time: a poll whose earliest event is a clock
    completes at once, advancing virtual time to its deadline. A poll that
    also waits on descriptors waits for them for real, at most as long as
    the clock's timeout; when it times out, virtual time advances to the
    deadline, and when a descriptor is ready first, by nothing."""

    elapsed: int
    advance_to: Callable[[int], None]

    def _poll_clock(self) -> int:
        return self.elapsed

    def _poll_sleep(self, deadline: int) -> None:
        self.advance_to(deadline)

    def _poll_fds(self, waiting, deadline: int | None) -> dict[int, bool]:
        if deadline is None:
            return _wait_for_fds(waiting, None)
        ready = _wait_for_fds(waiting, time.monotonic_ns() + max(0, deadline - self.elapsed))
        if not ready:
            self.advance_to(deadline)
        return ready
