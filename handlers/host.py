"""Host: the handler object the stubs call, one per WASI instance.

Each base class holds the semantics of one group of calls; Handlers, the
generated interface, answers ENOSYS for anything no base implements.
"""

from __future__ import annotations

from pywasi.generated.interface import Handlers

from .calls.args_env import ArgsEnv
from .calls.clock import Clocks, VirtualClocks
from .calls.fd import FdCalls, SortedReaddir
from .calls.path import PathCalls
from .calls.poll import PollCalls, VirtualPoll
from .calls.proc import Process
from .calls.random import Randomness, SeededRandomness
from .calls.sock import SockCalls
from .fdtable import FdTable


class Host(ArgsEnv, Clocks, Randomness, Process, FdCalls, PathCalls, PollCalls, SockCalls, Handlers):
    def __init__(self, *, args: list[bytes], env: list[bytes], fds: FdTable, return_on_exit: bool):
        ArgsEnv.__init__(self, args, env)
        Clocks.__init__(self)
        Process.__init__(self, return_on_exit)
        FdCalls.__init__(self, fds)

    def close(self) -> None:
        self.fds.close_all()


class DeterministicHost(VirtualClocks, VirtualPoll, SeededRandomness, SortedReaddir, Host):
    """deterministic=True: the calls whose answers would depend on the host's
    time, entropy or directory order are these classes' instead (virtual
    clocks and sleeps, a seeded generator, listings in byte order). Another
    handler object, not an `if` in every call: without it nothing changes."""

    def __init__(self, *, seed: int, **options):
        Host.__init__(self, **options)
        VirtualClocks.__init__(self)
        SeededRandomness.__init__(self, seed)
