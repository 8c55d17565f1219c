"""clock_*: the four WASI clocks on the host's."""

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
