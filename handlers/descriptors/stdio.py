"""Stdio descriptors: the streams at guest fds 0-2.

A stream is a host fd (Node's int stdio, or a file object's fileno()), or an
in-memory object (bytes or a BytesIO for stdin, any binary writer for
stdout/stderr). The guest never closes or reconfigures the host's fds:
fd_close drops the descriptor, and NONBLOCK is emulated with select().
"""

from __future__ import annotations

import array
import fcntl
import os
import select
import stat
import termios

from pywasi.generated.preview1 import Errno, Filestat, Filetype

from .bits import FDFLAGS, RIGHTS
from .descriptor import Descriptor
from .errors import WasiError

_FILETYPES = {
    stat.S_IFCHR: Filetype.CHARACTER_DEVICE,
    stat.S_IFREG: Filetype.REGULAR_FILE,
    stat.S_IFSOCK: Filetype.SOCKET_STREAM,
    stat.S_IFBLK: Filetype.BLOCK_DEVICE,
    stat.S_IFDIR: Filetype.DIRECTORY,
    stat.S_IFLNK: Filetype.SYMBOLIC_LINK,  # path_filestat_get without SYMLINK_FOLLOW
}
_SETTABLE = FDFLAGS.APPEND | FDFLAGS.NONBLOCK
_NONBLOCK = FDFLAGS.NONBLOCK


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


class PolledHostFd:
    """poll_oneoff for a descriptor over a host fd (a stream, or a file the
    guest opened): a regular file is always ready, with what is left of it to
    read; anything else (a pipe, a terminal, a device) is waited on in poll()."""

    fd: int
    filetype: Filetype

    @property
    def poll_fd(self) -> int:
        return self.fd

    def poll_now(self, write):
        if self.filetype != Filetype.REGULAR_FILE:
            return None
        if write:
            return 0, False
        left = os.fstat(self.fd).st_size - os.lseek(self.fd, 0, os.SEEK_CUR)
        return max(0, left), False

    def poll_result(self, write, hangup):
        return (0 if write else pending_bytes(self.fd)), hangup


class HostStream(PolledHostFd, Descriptor):
    """A host fd the guest may read or write but does not own. `keep` is the
    file object the fd came from: held, so that its fd stays open."""

    def __init__(self, fd: int, rights: int, keep: object = None):
        super().__init__(rights)
        self.fd = fd
        self.keep = keep
        self.filetype = filetype_of(os.fstat(fd).st_mode)
        # wasi-libc's isatty() takes a character device without seek and tell
        # for a terminal: one that is none (/dev/null) keeps them, as uvwasi
        # gives them.
        if self.filetype == Filetype.REGULAR_FILE or (
            self.filetype == Filetype.CHARACTER_DEVICE and not os.isatty(fd)
        ):
            self.rights_base |= RIGHTS.FD_SEEK | RIGHTS.FD_TELL

    def read(self, iovs):
        if self.flags & _NONBLOCK and not select.select([self.fd], [], [], 0)[0]:
            raise WasiError(Errno.AGAIN)
        return os.readv(self.fd, iovs)

    def write(self, iovs):
        if self.flags & _NONBLOCK and not select.select([], [self.fd], [], 0)[1]:
            raise WasiError(Errno.AGAIN)
        # One buffer is the common case, and os.write costs 130 ns less than os.writev.
        return os.write(self.fd, iovs[0]) if len(iovs) == 1 else os.writev(self.fd, iovs)

    def set_flags(self, flags):
        if flags & ~_SETTABLE:
            raise WasiError(Errno.NOTSUP)
        self.flags = flags

    def filestat(self):
        return filestat_of(os.fstat(self.fd))

    def seek(self, offset, whence):
        return os.lseek(self.fd, offset, int(whence))

    def tell(self):
        return os.lseek(self.fd, 0, os.SEEK_CUR)


class MemoryInput(Descriptor):
    """stdin from bytes or a binary object with readinto() (BytesIO)."""

    def __init__(self, source, rights: int):
        super().__init__(rights)
        self.source = source

    def read(self, iovs):
        total = 0
        for view in iovs:
            n = self.source.readinto(view) or 0
            total += n
            if n < len(view):
                break
        return total

    def set_flags(self, flags):
        if flags & ~_SETTABLE:
            raise WasiError(Errno.NOTSUP)
        self.flags = flags  # memory never blocks: NONBLOCK changes nothing

    def poll_now(self, write):
        if write:
            raise WasiError(Errno.BADF)
        left = 0
        try:
            if self.source.seekable():
                here = self.source.tell()
                left = self.source.seek(0, os.SEEK_END) - here
                self.source.seek(here)
        except (AttributeError, OSError):
            pass
        # Always readable; with nothing left it is at its end, like a closed pipe.
        return left, left == 0


class MemoryOutput(Descriptor):
    """stdout/stderr into a binary object without a fileno (a BytesIO).

    At most `limit` bytes are kept: past it writes fail with EFBIG, as they
    would past a file size limit (a short count of 0 would make libc retry
    forever), and `truncated` says so."""

    def __init__(self, sink, rights: int, limit: int | None = None):
        super().__init__(rights)
        self.sink = sink
        self.room = limit
        self.truncated = False

    def write(self, iovs):
        total = 0
        for view in iovs:
            if self.room is not None:
                if self.room == 0 and len(view):
                    self.truncated = True
                    if total:
                        break
                    raise WasiError(Errno.FBIG)
                view = view[: self.room]
            n = self.sink.write(view)
            n = len(view) if n is None else n
            total += n
            if self.room is not None:
                self.room -= n
        return total

    def poll_now(self, write):
        if not write:
            raise WasiError(Errno.BADF)
        return 0, False

    def set_flags(self, flags):
        if flags & ~_SETTABLE:
            raise WasiError(Errno.NOTSUP)
        self.flags = flags
