"""Plain-int copies of the flag types handlers test on hot paths.

IntFlag arithmetic builds enum members (about 1 us an operation); int
arithmetic costs about 20 ns. Handlers test bits against these, and keep
rights and flags as ints.
"""

from __future__ import annotations

from enum import IntFlag
from typing import TYPE_CHECKING

from pywasi.generated.preview1 import (
    Eventrwflags, Fdflags, Fstflags, Lookupflags, Oflags, Riflags, Rights, Roflags, Sdflags, Subclockflags,
)


class _Bits:
    def __init__(self, flags: type[IntFlag]) -> None:
        for member in flags:
            setattr(self, str(member.name), int(member))
        self.ALL = sum(int(m) for m in flags)

    if TYPE_CHECKING:  # the members' names, set above, are ints

        def __getattr__(self, name: str) -> int: ...


RIGHTS = _Bits(Rights)
FDFLAGS = _Bits(Fdflags)
OFLAGS = _Bits(Oflags)
LOOKUP = _Bits(Lookupflags)
FST = _Bits(Fstflags)
SUBCLOCK = _Bits(Subclockflags)
EVENTRW = _Bits(Eventrwflags)
RIFLAGS = _Bits(Riflags)
ROFLAGS = _Bits(Roflags)
SDFLAGS = _Bits(Sdflags)
