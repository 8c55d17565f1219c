"""HostFd: what every descriptor over a host fd shares (files, directories,
stdio streams, sockets): reads and writes straight between the fd and the
guest's memory, seek and tell, filestat, poll_oneoff, fdflags, syncs and times.

The iovecs are memoryviews of linear memory, handed to readv/writev as they
are. A kind says which fdflags it may set (`settable_flags`) and how the host
follows them (`apply_flags`). An fd whose reads or writes can wait (a FIFO, a
terminal) waits in wait.py first, where a run's stop can end it.
"""

from __future__ import annotations

import array
import fcntl
import os
import stat
import termios

from pywasi.generated.preview1 import Errno, Filestat, Filetype

from .. import libc
from ..bits import FDFLAGS, FST
from pywasi.runtime.errors import WasiError
from ..wait import READ, WRITE, stoppable, wait_for
from .base import Descriptor

# A write this long or shorter to a pipe that poll() says is writable does
# not block (POSIX's PIPE_BUF): what a stoppable write writes at a time.
ATOMIC_WRITE = os.pathconf("/", "PC_PIPE_BUF")

_FILETYPES = {
    stat.S_IFCHR: Filetype.CHARACTER_DEVICE,
    stat.S_IFREG: Filetype.REGULAR_FILE,
    stat.S_IFSOCK: Filetype.SOCKET_STREAM,
    stat.S_IFBLK: Filetype.BLOCK_DEVICE,
    stat.S_IFDIR: Filetype.DIRECTORY,
    stat.S_IFLNK: Filetype.SYMBOLIC_LINK,  # path_filestat_get without SYMLINK_FOLLOW
}
_REGULAR = Filetype.REGULAR_FILE
_NONBLOCK = FDFLAGS.NONBLOCK
_datasync = getattr(os, "fdatasync", None) or os.fsync  # macOS has no fdatasync


def may_block(filetype: Filetype, fd: int) -> bool:
    """Whether reads or writes of this fd can wait: a pipe or FIFO (a WASI
    filetype of its own it has not), a socket, a terminal. Files and devices
    such as /dev/null never make a reader or writer wait."""
    if filetype == Filetype.CHARACTER_DEVICE:
        return os.isatty(fd)
    return filetype in (Filetype.UNKNOWN, Filetype.SOCKET_STREAM, Filetype.SOCKET_DGRAM)


def cut(iovs: list, room: int, errno: Errno) -> list:
    """The gather list cut to `room` bytes; `errno` if that leaves nothing of
    a write that had bytes (a short count of 0 would make libc retry forever)."""
    out = []
    for view in iovs:
        if room <= 0:
            break
        out.append(view[:room])
        room -= len(out[-1])
    if not any(len(v) for v in out) and any(len(v) for v in iovs):
        raise WasiError(errno)
    return out


def filetype_of(mode: int) -> Filetype:
    # A FIFO has no WASI filetype; wasmtime reports it as unknown too.
    return _FILETYPES.get(stat.S_IFMT(mode), Filetype.UNKNOWN)


def filestat_of(st: os.stat_result) -> Filestat:
    return Filestat(
        dev=st.st_dev,
        ino=st.st_ino,
        filetype=filetype_of(st.st_mode),
        nlink=st.st_nlink,
        size=st.st_size,
        atim=st.st_atime_ns,
        mtim=st.st_mtime_ns,
        ctim=st.st_ctime_ns,
    )


def pending_bytes(fd: int) -> int:
    """Bytes ready to read on a pipe, socket or terminal (FIONREAD); 0 if the
    host cannot tell."""
    count = array.array("i", [0])
    try:
        fcntl.ioctl(fd, termios.FIONREAD, count, True)
    except OSError:
        return 0
    return max(0, count[0])


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


class HostFd(Descriptor):
    """A descriptor over the host fd `fd`. An `owned` fd (one pywasi opened)
    is closed with the descriptor; one the host handed over is left open."""

    settable_flags = FDFLAGS.APPEND | FDFLAGS.NONBLOCK

    def __init__(self, fd: int, rights_base: int, rights_inheriting: int = 0, flags: int = 0, *,
                 filetype: Filetype | None = None, owned: bool = True):
        super().__init__(rights_base, rights_inheriting, flags)
        self.fd = fd
        self.owned = owned
        if filetype is not None:
            self.filetype = filetype
        self.may_block = may_block(self.filetype, fd)

    def close(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0 and self.owned:
            os.close(fd)

    # Bulk I/O, zero-copy. One buffer is the common case, and os.write costs
    # 130 ns less than os.writev; os.readv of one buffer is as cheap as it
    # gets (os.readinto is Python 3.14's).

    def read(self, iovs):
        if self.may_block and not self.flags & _NONBLOCK and stoppable():
            wait_for(self.fd, READ)
        return os.readv(self.fd, iovs)

    def write(self, iovs):
        if self.may_block and not self.flags & _NONBLOCK and stoppable():
            wait_for(self.fd, WRITE)
            iovs = cut(iovs, ATOMIC_WRITE, Errno.AGAIN)
        return os.write(self.fd, iovs[0]) if len(iovs) == 1 else os.writev(self.fd, iovs)

    def seek(self, offset, whence):
        return os.lseek(self.fd, offset, whence)  # Whence's values are SEEK_SET/CUR/END

    def tell(self):
        return os.lseek(self.fd, 0, os.SEEK_CUR)

    # Status ------------------------------------------------------------------

    def filestat(self):
        return filestat_of(os.fstat(self.fd))

    def sync(self):
        os.fsync(self.fd)

    def datasync(self):
        _datasync(self.fd)

    def set_times(self, atim, mtim, fst_flags):
        libc.futimens(self.fd, timespecs(atim, mtim, fst_flags))

    # poll_oneoff: a regular file is always ready, with what is left of it to
    # read; anything else (a pipe, a terminal, a device, a socket) is waited
    # on in poll().

    @property
    def poll_fd(self) -> int:
        return self.fd

    def poll_now(self, write):
        if self.filetype != _REGULAR:
            return None
        if write:
            return 0, False
        left = os.fstat(self.fd).st_size - os.lseek(self.fd, 0, os.SEEK_CUR)
        return max(0, left), False

    def poll_result(self, write, hangup):
        return (0 if write else pending_bytes(self.fd)), hangup
