"""The guest's descriptor table: numbers to descriptors.

stdio at 0-2, then listening sockets and preopens in the order given, then
the lowest free number for every new descriptor. `get` answers EBADF or
ENOTCAPABLE in one call, so each syscall states the rights it needs where it
looks its descriptor up.
"""

from __future__ import annotations

from pywasi.generated.preview1 import Errno

from .descriptors.base import Descriptor
from pywasi.runtime.errors import WasiError


class FdTable:
    def __init__(self, max_fds: int = 1 << 20):
        self._fds: list[Descriptor | None] = []
        self.max_fds = max_fds

    def get(self, fd: int, rights: int = 0) -> Descriptor:
        """The descriptor at `fd`, which must hold every right in `rights`."""
        try:
            d = self._fds[fd]
        except IndexError:
            raise WasiError(Errno.BADF) from None
        if d is None:
            raise WasiError(Errno.BADF)
        if rights & ~d.rights_base:
            raise WasiError(Errno.NOTCAPABLE)
        return d

    def has_room(self) -> bool:
        return len(self._fds) < self.max_fds or None in self._fds

    def add(self, d: Descriptor) -> int:
        """Put `d` at the lowest free number; EMFILE past the limit."""
        for fd, slot in enumerate(self._fds):
            if slot is None:
                self._fds[fd] = d
                return fd
        if len(self._fds) >= self.max_fds:
            raise WasiError(Errno.MFILE)
        self._fds.append(d)
        return len(self._fds) - 1

    def close(self, fd: int) -> None:
        d = self.get(fd)
        self._fds[fd] = None
        d.close()

    def renumber(self, fd: int, to: int) -> None:
        """Move `fd` onto `to`, closing what was at `to`; both must be open."""
        d = self.get(fd)
        old = self.get(to)
        if fd == to:
            return
        self._fds[to] = d
        self._fds[fd] = None
        old.close()

    def items(self):
        return [(fd, d) for fd, d in enumerate(self._fds) if d is not None]

    def close_all(self) -> None:
        """Close every descriptor (the host resources pywasi opened)."""
        fds, self._fds = self._fds, []
        for d in fds:
            if d is not None:
                d.close()
