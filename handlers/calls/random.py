"""random_get: bytes from the host's cryptographically secure source, or
from a seeded generator (deterministic=True).

Small requests are served from a pool refilled from os.urandom 4 KiB at a
time (a getrandom() call costs more than the rest of a host call); the pool
is dropped in a forked child, which must not repeat its parent's bytes.
"""

from __future__ import annotations

import os
import random

_POOL_SIZE = 4096
_SMALL = 256


class _Pool:
    def __init__(self):
        self.clear()

    def clear(self) -> None:
        self.data = b""
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            self.data = os.urandom(_POOL_SIZE)
            self.pos = 0
        start = self.pos
        self.pos = start + n
        return self.data[start : start + n]


_pool = _Pool()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_pool.clear)


class Randomness:
    def random_get(self, buf: memoryview) -> None:
        n = len(buf)
        buf[:] = _pool.take(n) if n <= _SMALL else os.urandom(n)


class SeededRandomness:
    """deterministic=True: random_get draws from MT19937, the Mersenne Twister
    of Python's random.Random, seeded with `seed` (random.seed's rule for an
    int), taking getrandbits(8 * n) as n little-endian bytes: a well-known,
    fast, reproducible generator. Not a secret, and not meant to be one:
    whoever knows the seed knows every byte."""

    def __init__(self, seed: int):
        self._generator = random.Random(seed)

    def random_get(self, buf: memoryview) -> None:
        n = len(buf)
        if n:
            buf[:] = self._generator.getrandbits(8 * n).to_bytes(n, "little")
