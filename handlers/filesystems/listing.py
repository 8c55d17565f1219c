"""fd_readdir on a host directory: its entries from a cookie on, streamed.

Nothing but a Cursor (a few ints) is kept between calls, and a call reads
the host directory in chunks of a constant size, so host memory per call is
bounded by the guest's buffer (the stub stops pulling entries when it is
full) plus a constant, whatever the directory's size and however many
descriptors list it.

Cookies are indexes: 0 and 1 are `.` and `..`, which the directory
descriptor lists first (as POSIX, wasmtime and the WASI test suite have
them), the host's entries follow from 2 (its own `.` and `..` are skipped
wherever they come). They must be small: wasi-libc's telldir returns the
cookie as a 32-bit long, so the host's own positions (getdents64's d_off,
63-bit hashes on ext4) cannot be cookies. The Cursor remembers the host's
position of the entry a guest stopped at and of the one after it, so that
reading on costs no rescan (and keeps a DIR stream's meaning while the
directory changes); any other cookie is found by counting entries from the
start.
"""

from __future__ import annotations

import ctypes
import os
import struct
import threading
from collections.abc import Iterator

from pywasi.generated.preview1 import Dirent, Filetype

from .. import libc
from ..descriptors.hostfd import filetype_of

FIRST = 2  # the cookie of the first entry after `.` and `..`
CHUNK = 32 * 1024  # bytes of host entries read at a time
_DOTS = (b".", b"..")
_HEADER = struct.Struct("<QqHB")  # struct linux_dirent64: d_ino, d_off, d_reclen, d_type; then the name
# d_type -> Filetype. A FIFO has no WASI filetype (filetype_of agrees);
# DT_UNKNOWN (0) is asked of the file itself.
_TYPES = {
    1: Filetype.UNKNOWN,
    2: Filetype.CHARACTER_DEVICE,
    4: Filetype.DIRECTORY,
    6: Filetype.BLOCK_DEVICE,
    8: Filetype.REGULAR_FILE,
    10: Filetype.SYMBOLIC_LINK,
    12: Filetype.SOCKET_STREAM,
}


class Cursor:
    """Where a directory's last listing stopped: entry `cookie` starts at the
    host position `at`, and entry `cookie + 1` at `after`. `lock` keeps a
    seek and the read of a chunk together (the fd's position is shared)."""

    __slots__ = ("lock", "cookie", "at", "after")

    def __init__(self):
        self.lock = threading.Lock()
        self.cookie = -1
        self.at = self.after = 0

    def position(self, cookie: int) -> int | None:
        if cookie == self.cookie:
            return self.at
        if cookie == self.cookie + 1:
            return self.after
        return None


def getdents_entries(fd: int, cookie: int, cursor: Cursor) -> Iterator[tuple[Dirent, bytes]]:
    """(dirent, name) of the host directory `fd` from entry `cookie` on (the
    first for any cookie below FIRST)."""
    index = max(cookie, FIRST)
    pos = cursor.position(index)
    skip = 0
    if pos is None:
        pos, skip = 0, index - FIRST
    buf = ctypes.create_string_buffer(CHUNK)
    while True:
        with cursor.lock:
            os.lseek(fd, pos, os.SEEK_SET)
            n = libc.getdents64(fd, buf)
        if n == 0:
            return
        data = ctypes.string_at(buf, n)
        at = 0
        while at < n:
            ino, after, reclen, dtype = _HEADER.unpack_from(data, at)
            name = data[at + _HEADER.size : data.index(b"\0", at + _HEADER.size)]
            at += reclen
            start, pos = pos, after
            if name in _DOTS:
                continue
            if skip:
                skip -= 1
                continue
            filetype = _TYPES.get(dtype)
            if filetype is None:
                filetype = _type_at(fd, name)
            cursor.cookie, cursor.at, cursor.after = index, start, after
            index += 1
            yield Dirent(index, ino, len(name), filetype), name


def scandir_entries(fd: int, cookie: int, cursor: Cursor) -> Iterator[tuple[Dirent, bytes]]:
    """The same without getdents64 (no position to resume at: every call
    counts from the start), from a fresh open of the directory, with its own
    position."""
    index = max(cookie, FIRST)
    skip = index - FIRST
    own = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
    try:
        with os.scandir(own) as listing:
            for entry in listing:
                name = os.fsencode(entry.name)
                if name in _DOTS:
                    continue
                if skip:
                    skip -= 1
                    continue
                index += 1
                yield Dirent(index, entry.inode(), len(name), _entry_type(fd, entry)), name
    finally:
        os.close(own)


entries = getdents_entries if libc.HAS_GETDENTS else scandir_entries


def _type_at(fd: int, name: bytes) -> Filetype:
    try:
        return filetype_of(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
    except OSError:  # gone since it was listed
        return Filetype.UNKNOWN


def _entry_type(fd: int, entry: os.DirEntry) -> Filetype:
    try:
        if entry.is_symlink():
            return Filetype.SYMBOLIC_LINK
        if entry.is_dir(follow_symlinks=False):
            return Filetype.DIRECTORY
        if entry.is_file(follow_symlinks=False):
            return Filetype.REGULAR_FILE
    except OSError:
        return Filetype.UNKNOWN
    return _type_at(fd, os.fsencode(entry.name))
