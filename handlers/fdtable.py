"""The guest's descriptor table: numbers to descriptors.

stdio at 0-2, then listening sockets and preopens in the order given, then
the lowest free number for every new descriptor. `get` answers EBADF or
ENOTCAPABLE in one call, so each syscall states the rights it needs where it
looks its descriptor up.

A `mirror` (the C hot path's, pywasi/native.py) is told of every change:
`put(fd, descriptor)` when a number gets a descriptor, `drop(fd)` before a
descriptor leaves its number (it returns once nothing there uses it, so the
descriptor is closed after), both around a change of rights or flags.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from pywasi.generated.preview1 import Errno

from .descriptors.base import Descriptor
from pywasi.runtime.errors import WasiError


class FdTable:
    def __init__(self, max_fds: int = 1 << 20):
        self._fds: list[Descriptor | None] = []
        self.max_fds = max_fds
        self.mirror: Mirror | None = None

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
                break
        else:
            if len(self._fds) >= self.max_fds:
                raise WasiError(Errno.MFILE)
            fd = len(self._fds)
            self._fds.append(d)
        if self.mirror is not None:
            self.mirror.put(fd, d)
        return fd

    def change(self, fd: int, rights: int, change: Callable[[Descriptor], None]) -> None:
        """`change(d)` of the descriptor at `fd` (which must hold `rights`):
        a change of its rights or flags, which the mirror sees whole."""
        d = self.get(fd, rights)
        if self.mirror is None:
            change(d)
            return
        self.mirror.drop(fd)  # meanwhile, Python answers for it
        try:
            change(d)
        finally:
            self.mirror.put(fd, d)

    def close(self, fd: int) -> None:
        d = self.get(fd)
        self._fds[fd] = None
        if self.mirror is not None:
            self.mirror.drop(fd)
        d.close()

    def renumber(self, fd: int, to: int) -> None:
        """Move `fd` onto `to`, closing what was at `to`; both must be open."""
        d = self.get(fd)
        old = self.get(to)
        if fd == to:
            return
        self._fds[to] = d
        self._fds[fd] = None
        if self.mirror is not None:
            self.mirror.drop(fd)
            self.mirror.put(to, d)
        old.close()

    def items(self):
        return [(fd, d) for fd, d in enumerate(self._fds) if d is not None]

    def close_all(self) -> None:
        """Close every descriptor (the host resources pywasi opened)."""
        fds, self._fds = self._fds, []
        for fd, d in enumerate(fds):
            if d is not None:
                if self.mirror is not None:
                    self.mirror.drop(fd)
                d.close()


class Mirror(Protocol):
    """What keeps a copy of the table (see the module's docstring)."""

    def put(self, fd: int, d: Descriptor) -> None: ...

    def drop(self, fd: int) -> None: ...
