"""fd_* calls: look the descriptor up with the rights the call needs, delegate."""

from __future__ import annotations

from pywasi.generated.preview1 import Errno, Fdstat, Filestat, Prestat, PrestatDir, Preopentype, Whence

from ..bits import RIGHTS
from ..descriptors.base import Descriptor
from pywasi.runtime.errors import WasiError
from ..fdtable import FdTable

_FD_READ = RIGHTS.FD_READ
_FD_WRITE = RIGHTS.FD_WRITE
_FD_PREAD = RIGHTS.FD_READ | RIGHTS.FD_SEEK
_FD_PWRITE = RIGHTS.FD_WRITE | RIGHTS.FD_SEEK
_FD_SEEK = RIGHTS.FD_SEEK
_FD_TELL = RIGHTS.FD_TELL
_FD_ADVISE = RIGHTS.FD_ADVISE
_FD_ALLOCATE = RIGHTS.FD_ALLOCATE
_FD_SYNC = RIGHTS.FD_SYNC
_FD_DATASYNC = RIGHTS.FD_DATASYNC
_FD_READDIR = RIGHTS.FD_READDIR
_FD_FDSTAT_SET_FLAGS = RIGHTS.FD_FDSTAT_SET_FLAGS
_FD_FILESTAT_GET = RIGHTS.FD_FILESTAT_GET
_FD_FILESTAT_SET_SIZE = RIGHTS.FD_FILESTAT_SET_SIZE
_FD_FILESTAT_SET_TIMES = RIGHTS.FD_FILESTAT_SET_TIMES
_CUR = Whence.CUR


class FdCalls:
    def __init__(self, fds: FdTable):
        self.fds = fds
        # Bytes moved for the guest (fd_* and sock_*), for a run's usage record.
        self.bytes_read = 0
        self.bytes_written = 0

    # I/O -------------------------------------------------------------------

    def fd_write(self, fd: int, iovs: list[memoryview]) -> int:
        n = self.fds.get(fd, _FD_WRITE).write(iovs)
        self.bytes_written += n
        return n

    def fd_read(self, fd: int, iovs: list[memoryview]) -> int:
        n = self.fds.get(fd, _FD_READ).read(iovs)
        self.bytes_read += n
        return n

    def fd_pread(self, fd: int, iovs: list[memoryview], offset: int) -> int:
        n = self.fds.get(fd, _FD_PREAD).pread(iovs, offset)
        self.bytes_read += n
        return n

    def fd_pwrite(self, fd: int, iovs: list[memoryview], offset: int) -> int:
        n = self.fds.get(fd, _FD_PWRITE).pwrite(iovs, offset)
        self.bytes_written += n
        return n

    def fd_seek(self, fd: int, offset: int, whence: Whence) -> int:
        # The spec's FD_SEEK "implies FD_TELL": a seek that only asks where
        # the position is needs no more than FD_TELL.
        rights = _FD_TELL if offset == 0 and whence is _CUR else _FD_SEEK
        return self.fds.get(fd, rights).seek(offset, whence)

    def fd_tell(self, fd: int) -> int:
        return self.fds.get(fd, _FD_TELL).tell()

    def fd_readdir(self, fd: int, cookie: int):
        return self.fds.get(fd, _FD_READDIR).readdir(cookie)

    # File state ------------------------------------------------------------

    def fd_advise(self, fd: int, offset: int, len_: int, advice) -> None:
        self.fds.get(fd, _FD_ADVISE).advise(offset, len_, advice)

    def fd_allocate(self, fd: int, offset: int, len_: int) -> None:
        self.fds.get(fd, _FD_ALLOCATE).allocate(offset, len_)

    def fd_sync(self, fd: int) -> None:
        self.fds.get(fd, _FD_SYNC).sync()

    def fd_datasync(self, fd: int) -> None:
        self.fds.get(fd, _FD_DATASYNC).datasync()

    def fd_filestat_get(self, fd: int) -> Filestat:
        return self.fds.get(fd, _FD_FILESTAT_GET).filestat()

    def fd_filestat_set_size(self, fd: int, size: int) -> None:
        self.fds.get(fd, _FD_FILESTAT_SET_SIZE).set_size(size)

    def fd_filestat_set_times(self, fd: int, atim: int, mtim: int, fst_flags: int) -> None:
        self.fds.get(fd, _FD_FILESTAT_SET_TIMES).set_times(atim, mtim, fst_flags)

    # The descriptor itself -------------------------------------------------

    def fd_fdstat_get(self, fd: int) -> Fdstat:
        return self.fds.get(fd).fdstat()

    def fd_fdstat_set_flags(self, fd: int, flags: int) -> None:
        self.fds.change(fd, _FD_FDSTAT_SET_FLAGS, lambda d: d.set_flags(flags))

    def fd_fdstat_set_rights(self, fd: int, fs_rights_base: int, fs_rights_inheriting: int) -> None:
        def drop(d: Descriptor) -> None:
            # Rights can only be dropped.
            if fs_rights_base & ~d.rights_base or fs_rights_inheriting & ~d.rights_inheriting:
                raise WasiError(Errno.NOTCAPABLE)
            d.rights_base = fs_rights_base
            d.rights_inheriting = fs_rights_inheriting

        self.fds.change(fd, 0, drop)

    def fd_close(self, fd: int) -> None:
        self.fds.close(fd)

    def fd_renumber(self, fd: int, to: int) -> None:
        self.fds.renumber(fd, to)

    def fd_prestat_get(self, fd: int) -> Prestat:
        name = self.fds.get(fd).prestat_name()
        return Prestat(Preopentype.DIR, PrestatDir(len(name)))

    def fd_prestat_dir_name(self, fd: int, path: memoryview) -> None:
        name = self.fds.get(fd).prestat_name()
        if len(path) < len(name):
            raise WasiError(Errno.NAMETOOLONG)
        path[: len(name)] = name


_DOTS = {b".": 0, b"..": 1}


class SortedReaddir:
    """deterministic=True: fd_readdir lists `.` and `..`, then the entries in
    byte order of their names, so that the order never depends on the host's
    file system; a cookie is an index in that order. Each call reads the
    listing whole and keeps nothing (unlike the streamed listing, its host
    memory grows with the directory). Needs `self.fds` (FdCalls)."""

    fds: FdTable

    def fd_readdir(self, fd: int, cookie: int):
        entries = sorted(self.fds.get(fd, _FD_READDIR).readdir(0), key=_byte_order)
        return [(dirent._replace(d_next=i), name) for i, (dirent, name) in enumerate(entries[cookie:], cookie + 1)]


def _byte_order(entry) -> tuple[int, bytes]:
    name = entry[1]
    return _DOTS.get(name, 2), name
