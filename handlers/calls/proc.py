"""proc_exit, proc_raise and sched_yield."""

from __future__ import annotations

import os
import time

from pywasi.generated.preview1 import Errno, Signal

from pywasi.runtime.errors import ProcExit, WasiError, enosys


class Process:
    def __init__(self, return_on_exit: bool = True):
        self.return_on_exit = return_on_exit

    def proc_exit(self, rval: int):
        # Node's returnOnExit: false ends the host process, which in Python
        # is SystemExit; true unwinds the guest and start() returns the code.
        raise ProcExit(rval) if self.return_on_exit else SystemExit(rval)

    @enosys("a guest must not send real signals to the host process")
    def proc_raise(self, sig: Signal) -> None:
        raise WasiError(Errno.NOSYS)

    def sched_yield(self) -> None:
        if hasattr(os, "sched_yield"):
            os.sched_yield()
        else:  # pragma: no cover - hosts without sched_yield
            time.sleep(0)
