"""What the generated trace decoders produce and read with: byte counts,
pointers, enum and flag values that tolerate numbers a version does not
define, and a Reader of guest memory that never traps (a region out of
memory reads as OUT_OF_BOUNDS). Imported by the generated modules at their
top; pywasi.trace formats what they produce."""

from __future__ import annotations

import struct
from collections.abc import Callable
from enum import Enum, Flag

# Values the decoders produce ----------------------------------------------------


class Bytes(int):
    """A byte count: a buffer's length, the total of an iovec list."""

    def __str__(self) -> str:
        return "1 byte" if self == 1 else f"{int(self)} bytes"


class Pointer(int):
    """A guest address the call writes through and the trace does not decode."""

    def __str__(self) -> str:
        return f"{int(self):#x}"


class OutOfBounds:
    def __repr__(self) -> str:
        return "<out of bounds>"

    __str__ = __repr__


OUT_OF_BOUNDS = OutOfBounds()  # a region the guest passed that is not in memory

# What one value of a trace line may hold, so that a line's size is bounded
# whatever the guest passes: a string's first STRING_LIMIT bytes (PATH_MAX:
# any path a call can act on is shown whole), an array's first ARRAY_LIMIT
# elements.
STRING_LIMIT = 4096
ARRAY_LIMIT = 64


class Elided(str):
    """The start of a string too long to show whole; `size` is its length in bytes."""

    size: int

    def __new__(cls, start: str, size: int):
        self = super().__new__(cls, start)
        self.size = size
        return self


class ElidedList(list):
    """The first elements of an array too long to show whole; `count` is its length."""

    count: int  # type: ignore[assignment]  # its length, in place of list.count


def enum(cls: type[Enum], value):
    """The member, or the number itself when the version has no such case."""
    try:
        return cls(value)
    except (ValueError, TypeError):
        return value


def flags(cls: type[Flag], value):
    return cls(value) if isinstance(value, int) else value


def signed(value, bits: int):
    if isinstance(value, int) and value >> (bits - 1):
        return value - (1 << bits)
    return value


_STRUCTS: dict[str, struct.Struct] = {}


def _struct(code: str) -> struct.Struct:
    s = _STRUCTS.get(code)
    if s is None:
        s = _STRUCTS[code] = struct.Struct("<" + code)
    return s


def field(b: bytes, p: int, code: str) -> int:
    """A scalar of a record the decoder holds a copy of."""
    return _struct(code).unpack_from(b, p)[0]


class Reader:
    """Guest memory as the decoders read it: copies, and OUT_OF_BOUNDS where
    a region is not in memory, never a trap."""

    def __init__(self, memory):
        self.peek = memory.peek

    def string(self, ptr: int, length: int):
        if length > STRING_LIMIT:
            if self.peek(ptr + length - 1, 1) is None:
                return OUT_OF_BOUNDS
            return Elided(self.peek(ptr, STRING_LIMIT).decode("utf-8", "surrogateescape"), length)
        b = self.peek(ptr, length)
        if b is None:
            return OUT_OF_BOUNDS
        try:
            return b.decode("utf-8")
        except UnicodeDecodeError:
            return b  # shown with \x escapes; the stub answers EILSEQ

    def load(self, ptr: int, code: str):
        s = _struct(code)
        b = self.peek(ptr, s.size)
        return OUT_OF_BOUNDS if b is None else s.unpack(b)[0]

    def gathered(self, ptr: int, count: int, layout):
        """The bytes an iovec list spans, in total."""
        b = self.peek(ptr, count * layout.size)
        if b is None:
            return OUT_OF_BOUNDS
        return Bytes(sum(n for _, n in layout.iter_unpack(b)))

    def record(self, ptr: int, size: int, decode: Callable):
        b = self.peek(ptr, size)
        return OUT_OF_BOUNDS if b is None else decode(b, 0)

    def array(self, ptr: int, count, size: int, decode: Callable):
        if not isinstance(count, int):
            return count
        if count > ARRAY_LIMIT:
            if count * size and self.peek(ptr + count * size - 1, 1) is None:
                return OUT_OF_BOUNDS
            b = self.peek(ptr, ARRAY_LIMIT * size)
            shown = ElidedList(decode(b, i * size) for i in range(ARRAY_LIMIT))
            shown.count = count
            return shown
        b = self.peek(ptr, count * size)
        return OUT_OF_BOUNDS if b is None else [decode(b, i * size) for i in range(count)]
