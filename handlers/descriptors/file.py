"""File descriptors: what path_open returns for anything but a directory
(regular files, and devices reached through a preopen), over a host fd."""

from __future__ import annotations

import fcntl
import os

from pywasi.generated.preview1 import Errno

from ..bits import FDFLAGS, RIGHTS
from pywasi.runtime.errors import WasiError
from .hostfd import HostFd

# What a file may do (wasmtime's and uvwasi's set for regular files).
FILE_RIGHTS = (
    RIGHTS.FD_DATASYNC | RIGHTS.FD_READ | RIGHTS.FD_SEEK | RIGHTS.FD_FDSTAT_SET_FLAGS | RIGHTS.FD_SYNC
    | RIGHTS.FD_TELL | RIGHTS.FD_WRITE | RIGHTS.FD_ADVISE | RIGHTS.FD_ALLOCATE | RIGHTS.FD_FILESTAT_GET
    | RIGHTS.FD_FILESTAT_SET_SIZE | RIGHTS.FD_FILESTAT_SET_TIMES | RIGHTS.POLL_FD_READWRITE
)

_APPEND, _NONBLOCK = FDFLAGS.APPEND, FDFLAGS.NONBLOCK
MAX_OFFSET = 2**63 - 1  # off_t

_ADVICE = tuple(
    getattr(os, "POSIX_FADV_" + name, None)
    for name in ("NORMAL", "SEQUENTIAL", "RANDOM", "WILLNEED", "DONTNEED", "NOREUSE")
)


class File(HostFd):
    def __init__(self, fd: int, filetype, rights_base: int, rights_inheriting: int = 0, flags: int = 0):
        super().__init__(fd, rights_base, rights_inheriting, flags, filetype=filetype)

    def apply_flags(self, flags):
        host = fcntl.fcntl(self.fd, fcntl.F_GETFL) & ~(os.O_APPEND | os.O_NONBLOCK)
        if flags & _APPEND:
            host |= os.O_APPEND
        if flags & _NONBLOCK:
            host |= os.O_NONBLOCK
        fcntl.fcntl(self.fd, fcntl.F_SETFL, host)

    def pread(self, iovs, offset):
        if offset > MAX_OFFSET:
            raise WasiError(Errno.INVAL)
        return os.preadv(self.fd, iovs, offset)

    def pwrite(self, iovs, offset):
        if offset > MAX_OFFSET:
            raise WasiError(Errno.INVAL)
        return os.pwritev(self.fd, iovs, offset)

    def advise(self, offset, length, advice):
        if offset > MAX_OFFSET or length > MAX_OFFSET:
            raise WasiError(Errno.INVAL)
        host = _ADVICE[advice]
        if host is not None and hasattr(os, "posix_fadvise"):  # advice is only a hint
            os.posix_fadvise(self.fd, offset, length, host)

    def allocate(self, offset, length):
        if offset > MAX_OFFSET or length > MAX_OFFSET:
            raise WasiError(Errno.INVAL)
        if not hasattr(os, "posix_fallocate"):  # pragma: no cover - macOS
            raise WasiError(Errno.NOTSUP)
        os.posix_fallocate(self.fd, offset, length)

    def set_size(self, size):
        if size > MAX_OFFSET:
            raise WasiError(Errno.INVAL)
        os.ftruncate(self.fd, size)
