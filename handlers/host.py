"""Host: the handler object the stubs call, one per WASI instance.

Each base class holds the semantics of one group of calls; Handlers, the
generated interface, answers ENOSYS for anything no base implements.
"""

from __future__ import annotations

from pywasi.generated.interface import Handlers

from .args_env import ArgsEnv
from .clock import Clocks
from .fd import FdCalls
from .fdtable import FdTable
from .paths import PathCalls
from .poll import PollCalls
from .proc import Process
from .random import Randomness
from .sockets import SockCalls


class Host(ArgsEnv, Clocks, Randomness, Process, FdCalls, PathCalls, PollCalls, SockCalls, Handlers):
    def __init__(self, *, args: list[bytes], env: list[bytes], fds: FdTable, return_on_exit: bool):
        ArgsEnv.__init__(self, args, env)
        Clocks.__init__(self)
        Process.__init__(self, return_on_exit)
        FdCalls.__init__(self, fds)

    def close(self) -> None:
        self.fds.close_all()
