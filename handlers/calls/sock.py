"""sock_*: calls on sockets. sock_* on a descriptor that is not a socket is
ENOTSOCK (the descriptor base answers that), so these look the fd up without
rights and the socket checks its own."""

from __future__ import annotations

from pywasi.generated.preview1 import Errno

from pywasi.runtime.errors import WasiError
from ..fdtable import FdTable


class SockCalls:
    """Needs `self.fds`, `self.bytes_read` and `self.bytes_written` (FdCalls)."""

    fds: FdTable
    bytes_read: int
    bytes_written: int

    def sock_accept(self, fd: int, flags: int) -> int:
        listener = self.fds.get(fd)
        if not self.fds.has_room():
            raise WasiError(Errno.MFILE)  # before accepting: the connection stays queued
        conn = listener.sock_accept(flags)
        try:
            return self.fds.add(conn)
        except WasiError:
            conn.close()
            raise

    def sock_recv(self, fd: int, ri_data: list[memoryview], ri_flags: int) -> tuple[int, int]:
        n, flags = self.fds.get(fd).sock_recv(ri_data, ri_flags)
        self.bytes_read += n
        return n, flags

    def sock_send(self, fd: int, si_data: list[memoryview], si_flags: int) -> int:
        n = self.fds.get(fd).sock_send(si_data, si_flags)
        self.bytes_written += n
        return n

    def sock_shutdown(self, fd: int, how: int) -> None:
        self.fds.get(fd).sock_shutdown(how)
