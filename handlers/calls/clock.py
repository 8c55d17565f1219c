"""clock_*: the four WASI clocks on the host's, or virtual ones (deterministic=True)."""

from __future__ import annotations

import time

from pywasi.generated.preview1 import Clockid

_NAMES = ("time", "monotonic", "process_time", "thread_time")
_RESOLUTION = tuple(max(1, round(time.get_clock_info(n).resolution * 1e9)) for n in _NAMES)


class Clocks:
    """The realtime clock is the host's. The monotonic clock counts from this
    instance's creation, as wasmtime's counts from its WASI context's: a guest
    learns nothing of the host's uptime, and CPython's time.process_time(),
    which on WASI reads the monotonic clock (wasi-libc's emulated clock()),
    is the program's time, not the host's. The CPU-time clocks are the host
    process's and the calling thread's: the guest runs on the thread that
    called start()."""

    def __init__(self):
        origin = time.monotonic_ns()
        self.monotonic_origin = origin  # the host's monotonic time at the guest's zero
        # Indexed by Clockid: the host's clock, and what to take off it. An
        # offset rather than a wrapper function: clock_time_get is a hot call.
        self._host_clocks = (time.time_ns, time.monotonic_ns, time.process_time_ns, time.thread_time_ns)
        self._offsets = (0, origin, 0, 0)

    def now(self, id_: Clockid) -> int:
        return self._host_clocks[id_]() - self._offsets[id_]

    def clock_res_get(self, id_: Clockid) -> int:
        return _RESOLUTION[id_]

    def clock_time_get(self, id_: Clockid, precision: int) -> int:
        return self._host_clocks[id_]() - self._offsets[id_]


# deterministic=True ---------------------------------------------------------------

VIRTUAL_EPOCH = 946_684_800 * 1_000_000_000  # 2000-01-01T00:00:00Z, in ns since 1970
VIRTUAL_STEP = 1_000  # ns: how far each read moves the virtual clocks


class VirtualClocks:
    """Clocks that depend on nothing but the guest. One count of virtual
    nanoseconds, from 0, moves by VIRTUAL_STEP at every clock_time_get and
    by exactly what the guest sleeps (poll_oneoff: `advance_to`); the
    monotonic and CPU-time clocks read it as it is, the realtime clock from
    VIRTUAL_EPOCH. clock_res_get answers the step."""

    def __init__(self):
        self.elapsed = 0
        self.monotonic_origin = 0  # poll_oneoff's deadlines are on the virtual clock
        self._origins = (VIRTUAL_EPOCH, 0, 0, 0)  # indexed by Clockid

    def now(self, id_: Clockid) -> int:
        return self.elapsed + self._origins[id_]

    def advance_to(self, elapsed: int) -> None:
        if elapsed > self.elapsed:
            self.elapsed = elapsed

    def clock_res_get(self, id_: Clockid) -> int:
        return VIRTUAL_STEP

    def clock_time_get(self, id_: Clockid, precision: int) -> int:
        elapsed = self.elapsed
        self.elapsed = elapsed + VIRTUAL_STEP
        return elapsed + self._origins[id_]
