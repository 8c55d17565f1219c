"""The types of what WASI(...) and pywasi.run accept, for annotations: the
facade's, and a user's own (`from pywasi.options import Stdin`).

The file objects are protocols of the one method pywasi calls, taking the
memoryview it passes: an io.BytesIO, a file opened in binary mode or a
socket's makefile("rb") fits, a text stream (an io.StringIO) does not.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Protocol, TypeVar

from pywasi.handlers.descriptors.directory import Directory

from .preopen import ReadOnly
from .trace import HostCall

_T_contra = TypeVar("_T_contra", contravariant=True)


class Readable(Protocol):
    """What stdin may be besides an fd or bytes: a binary stream to read from."""

    def readinto(self, buffer: memoryview, /) -> int | None: ...


class Writable(Protocol):
    """What stdout and stderr may be besides an fd: a binary stream to write to."""

    def write(self, data: memoryview, /) -> object: ...


class Tree(Protocol):
    """What a guest path may be preopened as besides a host path: a tree of
    files of its own (pywasi.handlers.preopens), asked for its directory
    when the guest's fd table is set up."""

    def preopen(self, name: str, read_only: bool, /) -> Directory: ...


class SupportsWrite(Protocol[_T_contra]):
    def write(self, data: _T_contra, /) -> object: ...


#: A path on the host, as os.fspath takes it.
HostPath = str | bytes | os.PathLike[str] | os.PathLike[bytes]
#: One of the guest's arguments (its argv), or an environment value.
Arg = HostPath
#: `args`: the guest's whole argv (a list or a tuple).
Args = Sequence[Arg]
#: `env`: names to values; a None value is skipped, as Node skips undefined.
Env = Mapping[str, Arg | None]
#: What a guest path is preopened as.
PreopenTarget = HostPath | ReadOnly | Tree
#: `preopens`: the guest's path -> what it sees there.
Preopens = Mapping[str, PreopenTarget]
#: `stdin`: a host fd, bytes to read, or a binary stream.
Stdin = int | bytes | bytearray | memoryview | Readable | IO[bytes]
#: `stdout`, `stderr`: a host fd or a binary stream (an io.BytesIO captures).
Output = int | Writable
#: `sockets`: listening sockets (the host's) or "HOST:PORT" for pywasi to
#: listen on (a list or a tuple).
Sockets = Sequence[socket.socket | str]
#: `trace`: a text or binary stream, which gets one line per host call, or a
#: callable, which gets each call's pywasi.HostCall.
TraceTarget = SupportsWrite[str] | SupportsWrite[bytes] | Callable[[HostCall], object]
