"""Directory descriptors: preopens and the directories path_open opens."""

from __future__ import annotations

import os

from pywasi.generated.preview1 import Filetype

from .bits import RIGHTS
from .descriptor import Descriptor
from .stdio import filestat_of

# What a directory may do itself, and what it may pass on to what is opened
# under it (every right: path_open narrows them to what was asked).
DIRECTORY_RIGHTS = (
    RIGHTS.FD_FDSTAT_SET_FLAGS | RIGHTS.FD_SYNC | RIGHTS.FD_ADVISE | RIGHTS.PATH_CREATE_DIRECTORY
    | RIGHTS.PATH_CREATE_FILE | RIGHTS.PATH_LINK_SOURCE | RIGHTS.PATH_LINK_TARGET | RIGHTS.PATH_OPEN
    | RIGHTS.FD_READDIR | RIGHTS.PATH_READLINK | RIGHTS.PATH_RENAME_SOURCE | RIGHTS.PATH_RENAME_TARGET
    | RIGHTS.PATH_FILESTAT_GET | RIGHTS.PATH_FILESTAT_SET_SIZE | RIGHTS.PATH_FILESTAT_SET_TIMES
    | RIGHTS.FD_FILESTAT_GET | RIGHTS.FD_FILESTAT_SET_TIMES | RIGHTS.PATH_SYMLINK
    | RIGHTS.PATH_REMOVE_DIRECTORY | RIGHTS.PATH_UNLINK_FILE | RIGHTS.POLL_FD_READWRITE | RIGHTS.FD_DATASYNC
)
ALL_RIGHTS = RIGHTS.ALL


class Directory(Descriptor):
    filetype = Filetype.DIRECTORY

    def __init__(self, fd: int, rights_base: int = DIRECTORY_RIGHTS, rights_inheriting: int = ALL_RIGHTS):
        super().__init__(rights_base, rights_inheriting)
        self.fd = fd  # owned: closed with the descriptor

    def close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)

    def filestat(self):
        return filestat_of(os.fstat(self.fd))


class Preopen(Directory):
    """A directory the host handed to the guest under a name."""

    def __init__(self, fd: int, name: str):
        super().__init__(fd)
        self.name = name.encode("utf-8", "surrogateescape")

    def prestat_name(self) -> bytes:
        return self.name
