"""proc_exit, proc_raise and sched_yield."""

from __future__ import annotations

import os
import time

from pywasi.generated.preview1 import Signal

from pywasi.runtime.errors import ProcExit

# proc_raise: the signals whose default action is to go on (POSIX, signal(7)).
# CHLD, URG and WINCH are ignored; CONT continues a process that is running;
# STOP, TSTP, TTIN and TTOU stop one, and as nothing could continue a stopped
# guest, it goes on at once, as if continued. Every other signal's default
# action ends the process (with a core dump for some, which a guest has not).
_GOES_ON = frozenset({
    Signal.NONE, Signal.CHLD, Signal.URG, Signal.WINCH, Signal.CONT,
    Signal.STOP, Signal.TSTP, Signal.TTIN, Signal.TTOU,
})


class Process:
    def __init__(self, return_on_exit: bool = True):
        self.return_on_exit = return_on_exit

    def proc_exit(self, rval: int):
        self._end(ProcExit(rval))

    def proc_raise(self, sig: Signal) -> None:
        """The signal's default action, inside the guest: never a signal to
        the host process. One that ends a process ends the run with the
        status a shell reports, 128 + the signal's number (the guest's
        number, as wasi-libc's emulated raise() exits); one that does not
        returns. The stub answers EINVAL for a number the spec lacks."""
        if sig not in _GOES_ON:
            self._end(ProcExit(128 + sig, sig.name))

    def _end(self, exit: ProcExit):
        # Node's returnOnExit: false ends the host process, which in Python
        # is SystemExit; true unwinds the guest and start() returns the code.
        if self.return_on_exit:
            raise exit
        raise SystemExit(exit.code) from exit

    def sched_yield(self) -> None:
        if hasattr(os, "sched_yield"):
            os.sched_yield()
        else:  # pragma: no cover - hosts without sched_yield
            time.sleep(0)
