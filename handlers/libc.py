"""The few host calls Python's os module does not offer, through ctypes:
openat2 (the sandbox's kernel-checked resolution), utimensat/futimens
(setting one timestamp and omitting the other, or taking it from the clock)
and getdents64 (a directory read from a position, in chunks).

Each returns like its os counterpart: a value, or an OSError with the host
errno (which handlers let propagate to the one errno table).
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
import sys

_libc = ctypes.CDLL(None, use_errno=True)


def _error() -> OSError:
    code = ctypes.get_errno()
    return OSError(code, os.strerror(code))


# openat2 ------------------------------------------------------------------------

# Linux >= 5.6. The syscall number is the same on every architecture (new
# syscalls share one table since 5.1); glibc has no wrapper before 2.41.
SYS_OPENAT2 = 437
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_BENEATH = 0x08
_OPEN_HOW = struct.Struct("=QQQ")  # struct open_how: flags, mode, resolve

if sys.platform.startswith("linux"):
    _syscall = _libc.syscall
    _syscall.restype = ctypes.c_long
    _syscall.argtypes = (ctypes.c_long, ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t)
else:  # pragma: no cover - no openat2 outside Linux
    _syscall = None


def openat2(dirfd: int, path: bytes, flags: int, mode: int, resolve: int) -> int:
    """openat2(2): a new fd, or OSError (ENOSYS where the kernel lacks it).
    `path` must not contain NUL (ctypes would cut it there)."""
    if _syscall is None:  # pragma: no cover
        raise OSError(errno.ENOSYS, "openat2 is Linux's")
    how = _OPEN_HOW.pack(flags, mode, resolve)
    fd = _syscall(SYS_OPENAT2, dirfd, path, how, _OPEN_HOW.size)
    if fd < 0:
        raise _error()
    return fd


# utimensat / futimens -------------------------------------------------------------

# (UTIME_NOW, UTIME_OMIT, AT_SYMLINK_NOFOLLOW): the C headers' values.
_TIME_CONSTANTS = {
    "linux": ((1 << 30) - 1, (1 << 30) - 2, 0x100),
    "darwin": (-1, -2, 0x20),
}
UTIME_NOW, UTIME_OMIT, AT_SYMLINK_NOFOLLOW = _TIME_CONSTANTS.get(sys.platform, (None, None, None))


class _Timespec(ctypes.Structure):
    _fields_ = (("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long))


Timespecs = _Timespec * 2

_utimensat = _libc.utimensat
_utimensat.restype = ctypes.c_int
_utimensat.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(_Timespec), ctypes.c_int)
_futimens = _libc.futimens
_futimens.restype = ctypes.c_int
_futimens.argtypes = (ctypes.c_int, ctypes.POINTER(_Timespec))


def timespecs(atime: tuple[int, int], mtime: tuple[int, int]) -> Timespecs:
    """The times argument from (seconds, nanoseconds) pairs; a nanoseconds
    value of UTIME_NOW or UTIME_OMIT means what it does in C."""
    return Timespecs(_Timespec(*atime), _Timespec(*mtime))


def utimensat(dirfd: int, name: bytes, times: Timespecs) -> None:
    """Set the times of `name` in `dirfd`, never following a symlink."""
    if AT_SYMLINK_NOFOLLOW is None:  # pragma: no cover - a host whose constants are not known here
        raise OSError(errno.ENOSYS, "utimensat constants unknown on this host")
    if _utimensat(dirfd, name, times, AT_SYMLINK_NOFOLLOW) != 0:
        raise _error()


def futimens(fd: int, times: Timespecs) -> None:
    if UTIME_NOW is None:  # pragma: no cover
        raise OSError(errno.ENOSYS, "futimens constants unknown on this host")
    if _futimens(fd, times) != 0:
        raise _error()


# getdents64 -----------------------------------------------------------------------

# glibc >= 2.30 wraps it; elsewhere (musl, macOS) callers list another way.
_getdents64 = getattr(_libc, "getdents64", None)
if _getdents64 is not None:
    _getdents64.restype = ctypes.c_ssize_t
    _getdents64.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t)
HAS_GETDENTS = _getdents64 is not None and sys.platform.startswith("linux")


def getdents64(fd: int, buf: ctypes.Array) -> int:
    """Read directory entries (struct linux_dirent64) from `fd`'s position
    into `buf`; the bytes filled, 0 at the end."""
    n = _getdents64(fd, buf, len(buf))
    if n < 0:
        raise _error()
    return n
