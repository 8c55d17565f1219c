import os
import random

from pywasi.handlers.calls.random import Randomness, SeededRandomness


def test_fills_exactly_and_does_not_repeat():
    r = Randomness()
    seen = set()
    for n in (0, 1, 16, 255, 256, 257, 5000):
        buf = bytearray(n + 2)
        view = memoryview(buf)[1 : n + 1]
        r.random_get(view)
        assert buf[0] == 0 and buf[-1] == 0
        if n >= 16:
            assert bytes(view) not in seen
            seen.add(bytes(view))


def test_small_draws_cover_the_pool_boundary():
    r = Randomness()
    chunks = []
    for _ in range(600):  # 600 x 16 bytes crosses several 4 KiB refills
        buf = bytearray(16)
        r.random_get(memoryview(buf))
        chunks.append(bytes(buf))
    assert len(set(chunks)) == 600


def test_a_forked_child_does_not_repeat_its_parent():
    r = Randomness()
    r.random_get(memoryview(bytearray(16)))  # fill the pool in the parent
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        buf = bytearray(16)
        r.random_get(memoryview(buf))
        os.write(write, bytes(buf))
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 16)
    parent = bytearray(16)
    r.random_get(memoryview(parent))
    assert child != bytes(parent)


def test_seeded_bytes_are_mt19937s_and_the_same_for_the_same_seed():
    def draw(seed, sizes):
        r = SeededRandomness(seed)
        out = []
        for n in sizes:
            buf = bytearray(n)
            r.random_get(memoryview(buf))
            out.append(bytes(buf))
        return out

    sizes = [0, 1, 16, 4096, 3]
    assert draw(0, sizes) == draw(0, sizes) != draw(1, sizes)
    # The documented generator: Python's random.Random(seed), getrandbits(8n) as n little-endian bytes.
    reference = random.Random(7)
    assert draw(7, [32]) == [reference.getrandbits(256).to_bytes(32, "little")]
