"""File descriptors: what path_open returns for anything but a directory
(regular files, and devices reached through a preopen).

Reads and writes go straight between the host fd and the guest's memory:
the iovecs are memoryviews of linear memory, handed to readv/writev/
preadv/pwritev as they are.
"""

from __future__ import annotations

import fcntl
import os

from pywasi.generated.preview1 import Errno, Filetype

from . import libc
from .bits import FDFLAGS, FST, RIGHTS
from .descriptor import Descriptor
from .errors import WasiError
from .stdio import PolledHostFd, filestat_of

# What a file may do (wasmtime's and uvwasi's set for regular files).
FILE_RIGHTS = (
    RIGHTS.FD_DATASYNC | RIGHTS.FD_READ | RIGHTS.FD_SEEK | RIGHTS.FD_FDSTAT_SET_FLAGS | RIGHTS.FD_SYNC
    | RIGHTS.FD_TELL | RIGHTS.FD_WRITE | RIGHTS.FD_ADVISE | RIGHTS.FD_ALLOCATE | RIGHTS.FD_FILESTAT_GET
    | RIGHTS.FD_FILESTAT_SET_SIZE | RIGHTS.FD_FILESTAT_SET_TIMES | RIGHTS.POLL_FD_READWRITE
)

# fd_fdstat_set_flags may change these; the sync flags are fixed at open
# (Linux ignores them in F_SETFL too).
_SETTABLE = FDFLAGS.APPEND | FDFLAGS.NONBLOCK
_APPEND, _NONBLOCK = FDFLAGS.APPEND, FDFLAGS.NONBLOCK
_MAX_OFFSET = 2**63 - 1  # off_t
_datasync = getattr(os, "fdatasync", None) or os.fsync  # macOS has no fdatasync

_ADVICE = tuple(
    getattr(os, "POSIX_FADV_" + name, None)
    for name in ("NORMAL", "SEQUENTIAL", "RANDOM", "WILLNEED", "DONTNEED", "NOREUSE")
)


class OwnedFd(Descriptor):
    """A descriptor over a host fd that pywasi opened: closed with it, and
    asked for its status, syncs and times (files and directories alike)."""

    def __init__(self, fd: int, rights_base: int, rights_inheriting: int = 0, flags: int = 0):
        super().__init__(rights_base, rights_inheriting, flags)
        self.fd = fd

    def close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)

    def filestat(self):
        return filestat_of(os.fstat(self.fd))

    def sync(self):
        os.fsync(self.fd)

    def datasync(self):
        _datasync(self.fd)

    def set_times(self, atim, mtim, fst_flags):
        libc.futimens(self.fd, timespecs(atim, mtim, fst_flags))


class File(PolledHostFd, OwnedFd):
    def __init__(self, fd: int, filetype: Filetype, rights_base: int, rights_inheriting: int = 0, flags: int = 0):
        super().__init__(fd, rights_base, rights_inheriting, flags)
        self.filetype = filetype

    def set_flags(self, flags):
        if flags & ~_SETTABLE:
            raise WasiError(Errno.NOTSUP)
        host = fcntl.fcntl(self.fd, fcntl.F_GETFL) & ~(os.O_APPEND | os.O_NONBLOCK)
        if flags & _APPEND:
            host |= os.O_APPEND
        if flags & _NONBLOCK:
            host |= os.O_NONBLOCK
        fcntl.fcntl(self.fd, fcntl.F_SETFL, host)
        self.flags = (self.flags & ~_SETTABLE) | flags

    # Bulk I/O, zero-copy. One buffer is the common case, and os.write costs
    # less than os.writev; os.readv of one buffer is as cheap as it gets
    # (os.readinto is Python 3.14's).

    def read(self, iovs):
        return os.readv(self.fd, iovs)

    def write(self, iovs):
        return os.write(self.fd, iovs[0]) if len(iovs) == 1 else os.writev(self.fd, iovs)

    def pread(self, iovs, offset):
        if offset > _MAX_OFFSET:
            raise WasiError(Errno.INVAL)
        return os.preadv(self.fd, iovs, offset)

    def pwrite(self, iovs, offset):
        if offset > _MAX_OFFSET:
            raise WasiError(Errno.INVAL)
        return os.pwritev(self.fd, iovs, offset)

    def seek(self, offset, whence):
        return os.lseek(self.fd, offset, whence)  # Whence's values are SEEK_SET/CUR/END

    def tell(self):
        return os.lseek(self.fd, 0, os.SEEK_CUR)

    def advise(self, offset, length, advice):
        if offset > _MAX_OFFSET or length > _MAX_OFFSET:
            raise WasiError(Errno.INVAL)
        host = _ADVICE[advice]
        if host is not None and hasattr(os, "posix_fadvise"):  # advice is only a hint
            os.posix_fadvise(self.fd, offset, length, host)

    def allocate(self, offset, length):
        if offset > _MAX_OFFSET or length > _MAX_OFFSET:
            raise WasiError(Errno.INVAL)
        if not hasattr(os, "posix_fallocate"):  # pragma: no cover - macOS
            raise WasiError(Errno.NOTSUP)
        os.posix_fallocate(self.fd, offset, length)

    def set_size(self, size):
        if size > _MAX_OFFSET:
            raise WasiError(Errno.INVAL)
        os.ftruncate(self.fd, size)


def timespecs(atim: int, mtim: int, fst_flags: int) -> libc.Timespecs:
    """utimensat's times from WASI's: a time, the clock's (NOW) or unchanged.
    A time and its NOW flag together are EINVAL, as the spec says."""
    return libc.timespecs(
        _timespec(atim, fst_flags & FST.ATIM, fst_flags & FST.ATIM_NOW),
        _timespec(mtim, fst_flags & FST.MTIM, fst_flags & FST.MTIM_NOW),
    )


def _timespec(ns: int, given: int, now: int) -> tuple[int, int]:
    if given and now:
        raise WasiError(Errno.INVAL)
    if now:
        return (0, libc.UTIME_NOW)
    if given:
        return divmod(ns, 1_000_000_000)
    return (0, libc.UTIME_OMIT)
