"""The descriptor base class: one method per fd operation, each answering the
errno the spec gives for a descriptor that does not support it.

A kind of descriptor (stdio stream, file, directory, socket) is one subclass
that overrides what it supports. Syscall handlers look the descriptor up in
the fd table (which checks rights) and delegate; they never ask what kind of
descriptor they hold.
"""

from __future__ import annotations

from pywasi.generated.preview1 import Errno, Fdstat, Filestat, Filetype

from ..bits import RIGHTS
from pywasi.runtime.errors import WasiError


class Descriptor:
    filetype = Filetype.UNKNOWN
    # The fdflags fd_fdstat_set_flags may change on this kind; any other bit
    # is ENOTSUP (the sync flags are fixed at open: Linux ignores them in
    # F_SETFL too).
    settable_flags = 0

    def __init__(self, rights_base: int, rights_inheriting: int = 0, flags: int = 0):
        self.rights_base = int(rights_base)
        self.rights_inheriting = int(rights_inheriting)
        self.flags = int(flags)  # fdflags

    # Lifetime --------------------------------------------------------------

    def close(self) -> None:
        """Release what the host holds for this descriptor (idempotent)."""

    # Status ----------------------------------------------------------------

    def fdstat(self) -> Fdstat:
        return Fdstat(self.filetype, self.flags, self.rights_base, self.rights_inheriting)

    def set_flags(self, flags: int) -> None:
        if flags & ~self.settable_flags:
            raise WasiError(Errno.NOTSUP)
        self.apply_flags(flags)
        self.flags = (self.flags & ~self.settable_flags) | flags

    def apply_flags(self, flags: int) -> None:
        """Make what the descriptor stands on follow new fdflags. Most kinds
        only record them (memory never blocks; a stream the guest does not
        own keeps its host mode, NONBLOCK being emulated)."""

    def filestat(self) -> Filestat:
        return Filestat(dev=0, ino=0, filetype=self.filetype, nlink=0, size=0, atim=0, mtim=0, ctim=0)

    # I/O: these answer EBADF where the spec says a descriptor of the wrong
    # kind is a bad descriptor for the operation.

    def read(self, iovs: list[memoryview]) -> int:
        raise WasiError(Errno.BADF)

    def write(self, iovs: list[memoryview]) -> int:
        raise WasiError(Errno.BADF)

    def pread(self, iovs: list[memoryview], offset: int) -> int:
        raise WasiError(Errno.SPIPE)

    def pwrite(self, iovs: list[memoryview], offset: int) -> int:
        raise WasiError(Errno.SPIPE)

    def seek(self, offset: int, whence) -> int:
        raise WasiError(Errno.SPIPE)

    def tell(self) -> int:
        raise WasiError(Errno.SPIPE)

    def sync(self) -> None:
        raise WasiError(Errno.INVAL)

    def datasync(self) -> None:
        raise WasiError(Errno.INVAL)

    def advise(self, offset: int, length: int, advice) -> None:
        raise WasiError(Errno.SPIPE)

    def allocate(self, offset: int, length: int) -> None:
        raise WasiError(Errno.SPIPE)

    def set_size(self, size: int) -> None:
        raise WasiError(Errno.INVAL)

    def set_times(self, atim: int, mtim: int, fst_flags: int) -> None:
        raise WasiError(Errno.NOTSUP)

    # poll_oneoff -------------------------------------------------------------
    # A descriptor is either ready now (poll_now answers (nbytes, hangup)),
    # or waited on in the host's poll() through poll_fd, after which
    # poll_result turns the host's answer into (nbytes, hangup).

    poll_fd = -1

    def poll_now(self, write: bool) -> tuple[int, bool] | None:
        raise WasiError(Errno.BADF)

    def poll_result(self, write: bool, hangup: bool) -> tuple[int, bool]:
        return 0, hangup

    # Sockets -----------------------------------------------------------------

    def sock_accept(self, flags: int) -> Descriptor:
        raise WasiError(Errno.NOTSOCK)

    def sock_recv(self, iovs: list[memoryview], flags: int) -> tuple[int, int]:
        raise WasiError(Errno.NOTSOCK)

    def sock_send(self, iovs: list[memoryview], flags: int) -> int:
        raise WasiError(Errno.NOTSOCK)

    def sock_shutdown(self, how: int) -> None:
        raise WasiError(Errno.NOTSOCK)

    # Directories: fd_readdir and the path_* operations, resolved beneath this
    # descriptor. Anything but a directory answers ENOTDIR, as openat(2) does.

    def readdir(self, cookie: int):
        raise WasiError(Errno.NOTDIR)

    def open(self, path: str, dirflags: int, oflags: int, rights_base: int, rights_inheriting: int,
             fdflags: int) -> Descriptor:
        raise WasiError(Errno.NOTDIR)

    def mkdir(self, path: str) -> None:
        raise WasiError(Errno.NOTDIR)

    def stat(self, path: str, follow: bool) -> Filestat:
        raise WasiError(Errno.NOTDIR)

    def set_times_at(self, path: str, follow: bool, atim: int, mtim: int, fst_flags: int) -> None:
        raise WasiError(Errno.NOTDIR)

    def readlink(self, path: str, buf: memoryview) -> int:
        raise WasiError(Errno.NOTDIR)

    def rmdir(self, path: str) -> None:
        raise WasiError(Errno.NOTDIR)

    def unlink(self, path: str) -> None:
        raise WasiError(Errno.NOTDIR)

    def symlink(self, target: str, path: str) -> None:
        raise WasiError(Errno.NOTDIR)

    def rename(self, path: str, to: Descriptor, new_path: str) -> None:
        raise WasiError(Errno.NOTDIR)

    def link(self, follow: bool, path: str, to: Descriptor, new_path: str) -> None:
        raise WasiError(Errno.NOTDIR)

    # Preopens --------------------------------------------------------------

    def prestat_name(self) -> bytes:
        """The guest-visible name of a preopened directory."""
        raise WasiError(Errno.BADF)


# Rights every stream gets, whatever it is connected to.
STREAM_READ = RIGHTS.FD_READ | RIGHTS.POLL_FD_READWRITE | RIGHTS.FD_FDSTAT_SET_FLAGS | RIGHTS.FD_FILESTAT_GET
STREAM_WRITE = RIGHTS.FD_WRITE | RIGHTS.POLL_FD_READWRITE | RIGHTS.FD_FDSTAT_SET_FLAGS | RIGHTS.FD_FILESTAT_GET
