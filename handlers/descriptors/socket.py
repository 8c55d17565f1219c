"""Sockets: listening sockets the host hands to the guest (as wasmtime's CLI
does with --tcplisten), and the connections the guest accepts on them.

sock_* on a descriptor that is not a socket is ENOTSOCK (the base class
answers that), so these calls look the fd up without rights and the socket
checks its own. Sends never raise SIGPIPE: a peer that went away is EPIPE.
A blocking call waits in wait.py while a stop can end the run.
"""

from __future__ import annotations

import socket

from pywasi.generated.preview1 import Errno, Filetype

from ..bits import FDFLAGS, RIFLAGS, RIGHTS, ROFLAGS, SDFLAGS
from pywasi.runtime.errors import WasiError
from .base import Descriptor
from ..wait import READ, WRITE, ready, stoppable, wait_for
from .hostfd import HostFd

_NONBLOCK = FDFLAGS.NONBLOCK
_NOSIGNAL = getattr(socket, "MSG_NOSIGNAL", 0)
_RECV_PEEK, _RECV_WAITALL = RIFLAGS.RECV_PEEK, RIFLAGS.RECV_WAITALL
_RECV_DATA_TRUNCATED = ROFLAGS.RECV_DATA_TRUNCATED
_SHUTDOWN = {SDFLAGS.RD: socket.SHUT_RD, SDFLAGS.WR: socket.SHUT_WR, SDFLAGS.RD | SDFLAGS.WR: socket.SHUT_RDWR}

LISTENER_RIGHTS = (
    RIGHTS.SOCK_ACCEPT | RIGHTS.POLL_FD_READWRITE | RIGHTS.FD_FDSTAT_SET_FLAGS | RIGHTS.FD_FILESTAT_GET
)
CONNECTION_RIGHTS = (
    RIGHTS.FD_READ | RIGHTS.FD_WRITE | RIGHTS.POLL_FD_READWRITE | RIGHTS.SOCK_SHUTDOWN
    | RIGHTS.FD_FDSTAT_SET_FLAGS | RIGHTS.FD_FILESTAT_GET
)


class Socket(HostFd):
    """A stream socket over its host fd (filestat and poll_oneoff as any host
    fd: always waited on in poll()). `owned`: pywasi's own, closed with it."""

    filetype = Filetype.SOCKET_STREAM

    def __init__(self, sock: socket.socket, rights: int, owned: bool):
        super().__init__(sock.fileno(), rights, owned=owned)
        self.sock = sock

    def need(self, right: int) -> None:
        if not self.rights_base & right:
            raise WasiError(Errno.NOTCAPABLE)

    def close(self) -> None:
        if self.owned:
            self.sock.close()
        self.fd = -1

    # Data calls live here, not on Connection: on a listener, which is a
    # socket but lacks the rights, they are ENOTCAPABLE rather than ENOTSOCK.

    def _blocking(self, mask: int, call):
        """`call(flags)`, a send or receive, in the guest's mode; a blocking
        one waits where a stop can end it, then goes without waiting."""
        if self.flags & _NONBLOCK or not stoppable():
            return call(0)
        while True:
            wait_for(self.fd, mask)
            try:
                return call(socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue  # another reader was faster: wait again

    def read(self, iovs):
        if not iovs:
            return 0
        return self._blocking(READ, lambda flags: self.sock.recvmsg_into(iovs, 0, flags)[0])

    def write(self, iovs):
        if not iovs:
            return 0
        return self._blocking(WRITE, lambda flags: self.sock.sendmsg(iovs, (), _NOSIGNAL | flags))

    def sock_recv(self, iovs, flags):
        self.need(RIGHTS.FD_READ)
        host_flags = (socket.MSG_PEEK if flags & _RECV_PEEK else 0) | (
            socket.MSG_WAITALL if flags & _RECV_WAITALL else 0
        )
        if not iovs:
            return 0, 0
        n, _, msg_flags, _ = self._blocking(READ, lambda more: self.sock.recvmsg_into(iovs, 0, host_flags | more))
        return n, _RECV_DATA_TRUNCATED if msg_flags & socket.MSG_TRUNC else 0

    def sock_send(self, iovs, flags):
        self.need(RIGHTS.FD_WRITE)
        if flags:
            raise WasiError(Errno.NOTSUP)  # no siflags are defined
        return self.write(iovs)

    def sock_shutdown(self, how):
        self.need(RIGHTS.SOCK_SHUTDOWN)
        if how not in _SHUTDOWN:
            raise WasiError(Errno.INVAL)
        self.sock.shutdown(_SHUTDOWN[how])


class Listener(Socket):
    """A listening socket. One the host passed in is the host's: closing the
    guest's fd leaves it open."""

    def __init__(self, sock: socket.socket, owned: bool):
        super().__init__(sock, LISTENER_RIGHTS, owned)

    settable_flags = _NONBLOCK  # emulated: the host's socket keeps its own mode

    def sock_accept(self, flags: int) -> Descriptor:
        self.need(RIGHTS.SOCK_ACCEPT)
        if flags & ~_NONBLOCK:
            raise WasiError(Errno.INVAL)
        while True:
            if not self.flags & _NONBLOCK:
                wait_for(self.fd, READ)
            elif not ready(self.fd, READ):
                raise WasiError(Errno.AGAIN)
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                continue  # another taker was faster: wait again
            return Connection(conn, nonblocking=bool(flags & _NONBLOCK))


class Connection(Socket):
    """An accepted connection: pywasi's own socket, in the guest's mode."""

    def __init__(self, sock: socket.socket, nonblocking: bool = False):
        super().__init__(sock, CONNECTION_RIGHTS, owned=True)
        sock.setblocking(not nonblocking)
        self.flags = _NONBLOCK if nonblocking else 0

    def apply_flags(self, flags):
        self.sock.setblocking(not flags & _NONBLOCK)

def listening_socket(spec: str) -> socket.socket:
    """A socket listening on "HOST:PORT" ("[::1]:PORT" for IPv6)."""
    host, sep, port = spec.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"{spec!r} is not HOST:PORT")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, int(port)))
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    return sock
