"""Stdio descriptors: the streams at guest fds 0-2.

A stream is a host fd (Node's int stdio, or a file object's fileno()), or an
in-memory object (bytes or a BytesIO for stdin, any binary writer for
stdout/stderr). The guest never closes or reconfigures the host's fds:
fd_close drops the descriptor, and NONBLOCK is emulated with poll(). A
stream that can block (a pipe, a terminal, a socket) waits in wait.py while a
stop can end the run, so a timeout ends a read nobody answers.
"""

from __future__ import annotations

import io
import os

from pywasi.generated.preview1 import Errno, Filetype

from ..bits import FDFLAGS, RIGHTS
from pywasi.runtime.errors import WasiError
from .base import Descriptor
from ..wait import READ, WRITE, ready, stoppable, wait_for
from .hostfd import ATOMIC_WRITE, HostFd, cut, filetype_of

_SETTABLE = FDFLAGS.APPEND | FDFLAGS.NONBLOCK
_NONBLOCK = FDFLAGS.NONBLOCK


class HostStream(HostFd):
    """A host fd the guest may read or write but does not own. `keep` is the
    file object the fd came from: held, so that its fd stays open. `limit`:
    the most bytes the guest may write to it (EFBIG past it, as MemoryOutput)."""

    def __init__(self, fd: int, rights: int, keep: object = None, limit: int | None = None):
        super().__init__(fd, rights, filetype=filetype_of(os.fstat(fd).st_mode), owned=False)
        self.keep = keep
        self.room = limit
        self.checked = self.may_block or limit is not None  # writes take the slower path
        # wasi-libc's isatty() takes a character device without seek and tell
        # for a terminal: one that is none (/dev/null) keeps them, as uvwasi
        # gives them.
        if self.filetype == Filetype.REGULAR_FILE or (
            self.filetype == Filetype.CHARACTER_DEVICE and not os.isatty(fd)
        ):
            self.rights_base |= RIGHTS.FD_SEEK | RIGHTS.FD_TELL

    # NONBLOCK is emulated: the host's fd keeps its own mode.

    def read(self, iovs):
        if self.flags & _NONBLOCK and not ready(self.fd, READ):
            raise WasiError(Errno.AGAIN)
        return HostFd.read(self, iovs)  # which waits where a stop can end it, if it blocks

    def write(self, iovs):
        if self.flags & _NONBLOCK and not ready(self.fd, WRITE):
            raise WasiError(Errno.AGAIN)
        if self.checked:
            return self._checked_write(iovs)
        # As HostFd.write, inline: stdout is the hottest write there is.
        return os.write(self.fd, iovs[0]) if len(iovs) == 1 else os.writev(self.fd, iovs)

    def _checked_write(self, iovs):
        """A write that may block (it waits where a stop can end it, then
        writes no more than cannot block), or one under a limit."""
        if self.may_block and not self.flags & _NONBLOCK and stoppable():
            wait_for(self.fd, WRITE)
            iovs = cut(iovs, ATOMIC_WRITE, Errno.AGAIN)
        if self.room is None:
            return os.writev(self.fd, iovs)
        n = os.writev(self.fd, cut(iovs, self.room, Errno.FBIG))
        self.room -= n
        return n


class MemoryInput(Descriptor):
    """stdin from bytes or a binary object with readinto() (BytesIO)."""

    settable_flags = _SETTABLE  # memory never blocks: NONBLOCK changes nothing

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

    settable_flags = _SETTABLE

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
            # A BytesIO copies what it is given; any other sink gets a copy:
            # it may run the guest again before it reads its argument (and a
            # memory that moves on growth frees what the view points at).
            n = self.sink.write(view if type(self.sink) is io.BytesIO else bytes(view))
            n = len(view) if n is None else n
            total += n
            if self.room is not None:
                self.room -= n
        return total

    def poll_now(self, write):
        if not write:
            raise WasiError(Errno.BADF)
        return 0, False
