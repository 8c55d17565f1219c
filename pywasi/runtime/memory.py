"""Guest memory: the one module through which stubs read and write linear memory.

A GuestMemory holds zero-copy memoryviews over the guest's memory (bytes and
aligned 16/32/64-bit words) and its current size. Stubs mask every pointer to
u32 and compare `ptr + size` with `size` themselves (Python ints cannot
overflow); when that fails they call `check`, which re-reads the memory (the
guest may have grown it since) and traps if the access is still bad. Slicing
a memoryview past its end would silently truncate, so nothing here relies on
slicing to catch a bad pointer.

The memory comes from a source, a callable that answers (base, size): base is
an address (the bridge's view of a wasmtime memory) or a writable buffer
(`bytes_source`, for tests). Views are rebuilt only when the answer changes.
A memory that may move (a wasmtime engine with a small memory reservation) is
refreshed by the bridge before each call, and after anything that may have
run the guest meanwhile (`moves`).

A refresh replaces the views, so a view kept in a local across a check is
stale: sliced past its old end it is silently short. So every function here
checks first and takes its view after its last check, and a refresh releases
the views it replaces: a stale one still in use fails loudly (a trap naming
the function) instead of losing data. Slices handed out earlier (the buffers
a handler holds) are views of their own and stay good.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Iterable

from pywasi.generated.errno import Errno
from .errors import WasiError

if sys.byteorder != "little":  # the typed views below are in host byte order
    raise ImportError("pywasi needs a little-endian host: wasm memory is little-endian")

Source = Callable[[], "tuple[int | bytearray, int]"]  # an address, or a buffer (tests)

# What a guest may make the host build from one call's arguments. A list the
# stub builds costs the host far more than the guest's bytes it comes from
# (an iovec, 8 bytes, becomes a memoryview; a 48-byte subscription, three
# tuples), so without a bound a guest could make the host allocate many
# times the memory its own limit allows.
# - IOV_MAX iovecs (1,024 on Linux): readv(2) and writev(2) refuse more with
#   EINVAL, and so do the stubs.
# - MAX_RECORDS records: poll(2) refuses more descriptors than RLIMIT_NOFILE
#   with EINVAL; 65,536 subscriptions is far more than any program polls.


def _iov_max() -> int:
    try:
        n = os.sysconf("SC_IOV_MAX")
    except (AttributeError, ValueError, OSError):  # no sysconf, or no such name
        return 1024
    return n if n > 0 else 1024


IOV_MAX = _iov_max()
MAX_RECORDS = 1 << 16


class GuestTrap(Exception):
    """A guest access that must trap rather than fail with an errno: an out of
    bounds or misaligned pointer. The message names the function."""


class NotBound(Exception):
    """The memory is used before it is bound to an instance."""


def _unbound() -> tuple[int | bytearray, int]:
    raise NotBound("no memory is bound yet")


class GuestMemory:
    __slots__ = ("size", "u8", "u16", "u32", "u64", "moves", "_source", "_base")

    def __init__(self, source: Source | None = None, moves: bool = False):
        self._source = source or _unbound
        self._base: int | bytearray | None = None
        self.size = 0
        self.moves = moves
        self.u8 = self.u16 = self.u32 = self.u64 = memoryview(b"")
        if source is not None:
            self.refresh()

    def bind(self, source: Source, moves: bool = False) -> None:
        """Read memory from `source`; `moves`: growing it may move it, so it
        is refreshed after anything that may have run the guest."""
        self._source = source
        self.moves = moves
        self.refresh()

    def unbind(self) -> None:
        """Drop the views: after this, any access traps (or raises NotBound)."""
        self._source = _unbound
        self._base = None
        self.size = 0
        self._replace_views(memoryview(b""))

    @property
    def bound(self) -> bool:
        return self._source is not _unbound

    def refresh(self) -> None:
        """Re-read the source; rebuild the views if the memory grew or moved."""
        base, size = self._source()
        if size == self.size and (base is self._base or isinstance(base, int) and base == self._base):
            return
        if isinstance(base, int):
            u8 = memoryview((ctypes.c_ubyte * size).from_address(base)).cast("B") if size else memoryview(b"")
        else:
            u8 = memoryview(base).cast("B")[:size]
        self._base = base
        self.size = size
        self._replace_views(u8)

    def _replace_views(self, u8: memoryview) -> None:
        old = (self.u8, self.u16, self.u32, self.u64)
        size = len(u8)
        self.u8 = u8
        # Word views cover the largest prefix they can; an aligned access that
        # passed `ptr + n <= size` always falls inside it.
        self.u16 = u8[: size & ~1].cast("H")
        self.u32 = u8[: size & ~3].cast("I")
        self.u64 = u8[: size & ~7].cast("Q")
        for view in old:
            try:
                view.release()
            except BufferError:  # exported this instant (another thread's pack_into): let it be
                pass

    # Checks --------------------------------------------------------------

    def check(self, ptr: int, size: int, align: int, function: str) -> None:
        """Called by a stub whose inline check failed: refresh, then trap unless
        the access (`size` bytes at `ptr`, aligned to `align`) is now good."""
        if align > 1 and ptr % align:
            raise GuestTrap(f"{function}: misaligned pointer {ptr:#x} (must be aligned to {align})")
        self.refresh()
        if ptr + size > self.size:
            raise GuestTrap(
                f"{function}: out of bounds: {size} bytes at {ptr:#x}, memory is {self.size} bytes"
            )

    def require(self, ptr: int, size: int, align: int, function: str) -> None:
        if ptr % align or ptr + size > self.size:
            self.check(ptr, size, align, function)

    def peek(self, ptr: int, size: int) -> bytes | None:
        """A copy of `size` bytes at `ptr` (both u32), or None when they are not
        all in memory. For the trace's decoders, which must never trap: the
        stub they watch decides what a bad pointer does."""
        if ptr + size > self.size:
            self.refresh()
            if ptr + size > self.size:
                return None
        return bytes(self.u8[ptr : ptr + size])

    # Conventions the stubs share -----------------------------------------

    def buffers(self, ptr: int, count: int, layout, function: str) -> list[memoryview]:
        """Views of the buffers an iovec array (already checked) points at.

        `layout` is the (pointer, length) record's struct.Struct. More than
        IOV_MAX of them is EINVAL, as readv(2) and writev(2) answer, before a
        view is made: a view costs the host some 25 times its 8-byte iovec."""
        if count > IOV_MAX:
            raise WasiError(Errno.INVAL)
        if count == 1:  # the common case, without the iterator
            buf, n = layout.unpack_from(self.u8, ptr)
            if buf + n > self.size:
                self.check(buf, n, 1, function)
            return [self.u8[buf : buf + n]]
        while True:
            u8, size = self.u8, self.size
            views = []
            for buf, n in layout.iter_unpack(u8[ptr : ptr + count * layout.size]):
                if buf + n > size:
                    self.check(buf, n, 1, function)  # traps, or replaces the views:
                    break  # start over from the new ones
                views.append(u8[buf : buf + n])
            else:
                return views

    def records(self, ptr: int, count: int, size: int, get: Callable) -> list:
        """`count` records of `size` bytes from `ptr` (already checked), each
        read by `get(u8, offset)`: poll_oneoff's subscriptions. More than
        MAX_RECORDS is EINVAL, before any is read (see MAX_RECORDS)."""
        if count > MAX_RECORDS:
            raise WasiError(Errno.INVAL)
        u8 = self.u8  # `get` only decodes: nothing refreshes meanwhile
        return [get(u8, ptr + i * size) for i in range(count)]

    def write_strings(self, vector: int, buf: int, strings: list[bytes], function: str) -> None:
        """args_get/environ_get: a pointer per string at `vector`, then the strings,
        each followed by a NUL, at `buf` (both sized by the *_sizes_get call)."""
        total = sum(len(s) + 1 for s in strings)
        self.require(vector, 4 * len(strings), 4, function)
        self.require(buf, total, 1, function)
        u8, u32 = self.u8, self.u32  # after the last check
        slot, pos = vector >> 2, buf
        for s in strings:
            u32[slot] = pos
            end = pos + len(s)
            u8[pos:end] = s
            u8[end] = 0
            slot += 1
            pos = end + 1

    def write_dirents(
        self, ptr: int, length: int, entries: Iterable, put: Callable, header: int
    ) -> int:
        """fd_readdir: (dirent, name) pairs into `length` bytes at `ptr`. When
        the next entry does not fit, as much of it as fits is written and the
        buffer is full, which tells the guest to come back from that entry's
        cookie (as the spec says). Returns the bytes written.

        `entries` may be lazy and run host code between entries, which may
        run the guest (a directory made of Python objects): the view is taken
        afresh after each entry."""
        pos, end = ptr, ptr + length
        for dirent, name in entries:
            if self.moves:
                self.refresh()
            u8 = self.u8
            room = end - pos
            if room >= header + len(name):
                put(u8, pos, dirent)
                pos += header
                u8[pos : pos + len(name)] = name
                pos += len(name)
            else:
                scratch = bytearray(header)
                put(scratch, 0, dirent)
                u8[pos:end] = (bytes(scratch) + name)[:room]
                pos = end
            if pos == end:
                break  # full: the generator reads no further entries
        return pos - ptr


def bytes_source(buffer: bytearray) -> Source:
    """A source over a plain bytearray (tests, and callers without wasmtime)."""
    return lambda: (buffer, len(buffer))
