"""What handlers raise: WasiError (a syscall's errno) and ProcExit (the guest
asked to end), and the one table that maps a host OSError to its WASI errno."""

from __future__ import annotations

import errno as _os

from pywasi.generated.errno import Errno


class WasiError(Exception):
    """A syscall's failure: `errno` is what the guest sees; `message` says
    more for the host (the errno's name when empty)."""

    __slots__ = ("errno",)

    def __init__(self, errno: int, message: str = ""):
        super().__init__(message or Errno(errno).name)
        self.errno = errno


class ProcExit(Exception):
    """The guest called proc_exit, or raised a signal that ends it (`signal`
    names it, as the spec's Signal does: "ABRT"). `start` returns `.code`; a
    host that calls a reactor's exports itself catches this."""

    def __init__(self, code: int, signal: str | None = None):
        super().__init__(f"exit code {code}" if signal is None else f"killed by SIG{signal}, exit code {code}")
        self.code = code
        self.signal = signal


def errno_of(error: OSError) -> int:
    """The WASI errno for a host OSError (EIO for one with no counterpart)."""
    return _FROM_OS.get(error.errno, Errno.IO)


# Every host errno with a WASI counterpart of the same name (EWOULDBLOCK is
# EAGAIN, ENOTSUP is EOPNOTSUPP on Linux), plus the few whose names differ.
_FROM_OS: dict[int | None, Errno] = {}  # an OSError's errno may be None
for _member in Errno:
    _code = getattr(_os, "E" + _member.name, None)
    if _code is not None:
        _FROM_OS.setdefault(_code, _member)
_FROM_OS[_os.E2BIG] = Errno.TOOBIG
if hasattr(_os, "EWOULDBLOCK"):
    _FROM_OS[_os.EWOULDBLOCK] = Errno.AGAIN
if hasattr(_os, "EOPNOTSUPP"):
    _FROM_OS.setdefault(_os.EOPNOTSUPP, Errno.NOTSUP)
del _member, _code


def enosys(reason: str):
    """Mark a handler method that answers ENOSYS on purpose, with the reason
    the audit shows."""

    def mark(method):
        method.enosys_reason = reason
        return method

    return mark
