"""clock_*: the four WASI clocks on the host's."""

from __future__ import annotations

import time

from pywasi.generated.preview1 import Clockid

# Indexed by Clockid. The CPU-time clocks are the host process's and the
# calling thread's: the guest runs on the thread that called start().
NOW = (time.time_ns, time.monotonic_ns, time.process_time_ns, time.thread_time_ns)
_NAMES = ("time", "monotonic", "process_time", "thread_time")
_RESOLUTION = tuple(max(1, round(time.get_clock_info(n).resolution * 1e9)) for n in _NAMES)


class Clocks:
    def clock_res_get(self, id_: Clockid) -> int:
        return _RESOLUTION[id_]

    def clock_time_get(self, id_: Clockid, precision: int) -> int:
        return NOW[id_]()
