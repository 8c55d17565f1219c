"""path_* calls: look the directory up with the rights the call needs, delegate.

The directory descriptor resolves the path beneath itself, on its own
filesystem (descriptors/directory.py).
"""

from __future__ import annotations

from pywasi.generated.preview1 import Errno, Filestat

from ..bits import LOOKUP, OFLAGS, RIGHTS
from pywasi.runtime.errors import WasiError

_FOLLOW = LOOKUP.SYMLINK_FOLLOW
# path_open's rights by oflags: creating needs PATH_CREATE_FILE, truncating
# PATH_FILESTAT_SET_SIZE (the spec's rules).
_OPEN_RIGHTS = tuple(
    RIGHTS.PATH_OPEN
    | (RIGHTS.PATH_CREATE_FILE if o & OFLAGS.CREAT else 0)
    | (RIGHTS.PATH_FILESTAT_SET_SIZE if o & OFLAGS.TRUNC else 0)
    for o in range(OFLAGS.ALL + 1)
)
_CREATE_DIRECTORY = RIGHTS.PATH_CREATE_DIRECTORY
_FILESTAT_GET = RIGHTS.PATH_FILESTAT_GET
_FILESTAT_SET_TIMES = RIGHTS.PATH_FILESTAT_SET_TIMES
_LINK_SOURCE = RIGHTS.PATH_LINK_SOURCE
_LINK_TARGET = RIGHTS.PATH_LINK_TARGET
_READLINK = RIGHTS.PATH_READLINK
_REMOVE_DIRECTORY = RIGHTS.PATH_REMOVE_DIRECTORY
_RENAME_SOURCE = RIGHTS.PATH_RENAME_SOURCE
_RENAME_TARGET = RIGHTS.PATH_RENAME_TARGET
_SYMLINK = RIGHTS.PATH_SYMLINK
_UNLINK_FILE = RIGHTS.PATH_UNLINK_FILE


class PathCalls:
    """Needs `self.fds` (FdCalls sets it)."""

    def path_open(
        self, fd: int, dirflags: int, path: str, oflags: int, fs_rights_base: int, fs_rights_inheriting: int,
        fdflags: int,
    ) -> int:
        directory = self.fds.get(fd, _OPEN_RIGHTS[oflags])
        if not self.fds.has_room():
            raise WasiError(Errno.MFILE)  # before opening: O_CREAT must create nothing
        opened = directory.open(
            path, dirflags, oflags, fs_rights_base, fs_rights_inheriting, fdflags
        )
        try:
            return self.fds.add(opened)
        except BaseException:
            opened.close()
            raise

    def path_create_directory(self, fd: int, path: str) -> None:
        self.fds.get(fd, _CREATE_DIRECTORY).mkdir(path)

    def path_filestat_get(self, fd: int, flags: int, path: str) -> Filestat:
        return self.fds.get(fd, _FILESTAT_GET).stat(path, flags & _FOLLOW)

    def path_filestat_set_times(
        self, fd: int, flags: int, path: str, atim: int, mtim: int, fst_flags: int
    ) -> None:
        self.fds.get(fd, _FILESTAT_SET_TIMES).set_times_at(path, flags & _FOLLOW, atim, mtim, fst_flags)

    def path_link(self, old_fd: int, old_flags: int, old_path: str, new_fd: int, new_path: str) -> None:
        source = self.fds.get(old_fd, _LINK_SOURCE)
        source.link(old_flags & _FOLLOW, old_path, self.fds.get(new_fd, _LINK_TARGET), new_path)

    def path_readlink(self, fd: int, path: str, buf: memoryview) -> int:
        return self.fds.get(fd, _READLINK).readlink(path, buf)

    def path_remove_directory(self, fd: int, path: str) -> None:
        self.fds.get(fd, _REMOVE_DIRECTORY).rmdir(path)

    def path_rename(self, fd: int, old_path: str, new_fd: int, new_path: str) -> None:
        source = self.fds.get(fd, _RENAME_SOURCE)
        source.rename(old_path, self.fds.get(new_fd, _RENAME_TARGET), new_path)

    def path_symlink(self, old_path: str, fd: int, new_path: str) -> None:
        self.fds.get(fd, _SYMLINK).symlink(old_path, new_path)

    def path_unlink_file(self, fd: int, path: str) -> None:
        self.fds.get(fd, _UNLINK_FILE).unlink(path)
