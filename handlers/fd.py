"""fd_* calls: look the descriptor up with the rights the call needs, delegate."""

from __future__ import annotations

from pywasi.generated.preview1 import Errno, Fdstat, Prestat, PrestatDir, Preopentype

from .bits import RIGHTS
from .errors import WasiError
from .fdtable import FdTable


_FD_READ = RIGHTS.FD_READ
_FD_WRITE = RIGHTS.FD_WRITE


class FdCalls:
    def __init__(self, fds: FdTable):
        self.fds = fds

    def fd_write(self, fd: int, iovs: list[memoryview]) -> int:
        return self.fds.get(fd, _FD_WRITE).write(iovs)

    def fd_read(self, fd: int, iovs: list[memoryview]) -> int:
        return self.fds.get(fd, _FD_READ).read(iovs)

    def fd_fdstat_get(self, fd: int) -> Fdstat:
        return self.fds.get(fd).fdstat()

    def fd_fdstat_set_flags(self, fd: int, flags: int) -> None:
        self.fds.get(fd, RIGHTS.FD_FDSTAT_SET_FLAGS).set_flags(flags)

    def fd_close(self, fd: int) -> None:
        self.fds.close(fd)

    def fd_prestat_get(self, fd: int) -> Prestat:
        name = self.fds.get(fd).prestat_name()
        return Prestat(Preopentype.DIR, PrestatDir(len(name)))

    def fd_prestat_dir_name(self, fd: int, path: memoryview) -> None:
        name = self.fds.get(fd).prestat_name()
        if len(path) < len(name):
            raise WasiError(Errno.NAMETOOLONG)
        path[: len(name)] = name
