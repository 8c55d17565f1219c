"""The C backend answers the fuzzed calls as the Python stubs do.

Two worlds built alike (tests/fuzz/world.py): in one the WASI object serves
in C the calls pywasi.native has C for; in the other its C calls are
switched off, so that every call reaches its Python stub. Each example draws
one run of hostile calls (tests/fuzz/draw.py) against the first world and
makes each call in both, on the same memory. After every call:

- the same outcome: the same errno, the same trap message, the same exit;
- the same guest memory, byte for byte, but for what no two worlds share:
  a clock's reading (the two must lie within the time between the calls),
  random_get's bytes (both must have written them), poll_oneoff's events
  (which clock has fired by then), inode numbers, and the timestamps of
  files (within the worlds' age);
- the same bytes on stdout and stderr, the same open descriptors, and the
  same files in the box (names, kinds, link counts, modes, link targets,
  sizes and bytes).

Then the second world's memory is made the first's again, so that what may
differ never reaches a later call. The calls C serves are read from the
extension, not listed here: half the calls drawn are of those. In the second
world every call must reach its Python stub, in the first none of those
(but a call in 256 on the main thread, for Python's signal handlers) and
every other one; each of those must have been answered in C.

The number of calls is a quarter of PYWASI_FUZZ_CALLS (default 20,000),
split over the two ABI versions.
"""

from __future__ import annotations

import collections
import faulthandler
import functools
import gc
import os
import random
import shutil
import stat
import struct
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import wasmtime
from hypothesis import strategies as st

from pywasi import native
from pywasi.codegen import abi as lowering, model as m
from pywasi.codegen.layout import layout
from pywasi.generated.preview1 import Clockid
from pywasi.handlers.filesystems import host as sandbox
from tests.fuzz import draw, guest, world
from tests.fuzz.draw import CALLS_PER_EXAMPLE, MASK32, VERSIONS

pytestmark = pytest.mark.skipif(not native.ENABLED, reason=f"the C hot path is {native.STATUS}")

EXAMPLES = max(1, -(-draw.TOTAL_CALLS // (4 * CALLS_PER_EXAMPLE * len(VERSIONS))))
HANG = 120  # seconds: an example that takes longer dumps every stack and ends the run
ENGINE = wasmtime.Engine()
IN_C: collections.Counter = collections.Counter()  # "version name" -> calls C answered


@functools.cache
def served(version: str) -> list[str]:
    """The functions of `version` served in C: those the extension has a C
    handler for (the world's handlers are pywasi's own)."""
    return [name for name, bit in native._native.functions(guest.VERSIONS[version][1]) if bit >= 0]


class Entered:
    """Counts the calls of a WASI object that reach a Python stub: each of
    its stubs, in the slots that the extension calls, wrapped."""

    def __init__(self, inst: world.Instance):
        self.count = 0
        slots = inst.wasi._bridge.slots
        slots[:] = [self._counted(stub) for stub in slots]

    def _counted(self, stub):
        def counted(*args):
            self.count += 1
            return stub(*args)

        return counted


# What two worlds cannot share ------------------------------------------------------
#
# Each rule gives the spans of memory a successful call wrote that are not
# compared byte for byte, after checking of them what it can: (offset, size).


def _reading(version, c, py, a, before, after, elapsed) -> Iterator[tuple[int, int]]:
    """clock_time_get: both readings, back on the host's clock (the monotonic
    one counts from each WASI object's creation), lie in order within the
    time the two calls took (the CPU-time clocks: on every core)."""
    out = a["timestamp_out"] & MASK32
    clock = Clockid(a["id_"] & MASK32)
    origin = (lambda inst: inst.wasi._host.monotonic_origin if clock == Clockid.MONOTONIC else 0)
    first, second = (struct.unpack_from("<Q", memory, out)[0] for memory in after)
    drift = second + origin(py) - first - origin(c)
    assert 0 <= drift <= elapsed * (os.cpu_count() or 1), f"{clock.name}: C read {first}, Python {second}"
    yield out, 8


def _random(version, c, py, a, before, after, elapsed) -> Iterator[tuple[int, int]]:
    buf, n = a["buf"] & MASK32, a["buf_len"] & MASK32
    if n >= 16:  # as many bytes as were there before: one chance in 2**128
        assert all(memory[buf : buf + n] != before[buf : buf + n] for memory in after), "bytes left as they were"
    yield buf, n


def _events(version, c, py, a, before, after, elapsed) -> Iterator[tuple[int, int]]:
    top, _ = guest.regions(version, "poll_oneoff", a, before, c.argv, c.environ)
    yield from ((r.ptr, r.size) for r in top if r.write)


APART = {"clock_time_get": _reading, "random_get": _random, "poll_oneoff": _events}


def _leaves(t: m.Type, offset: int) -> Iterator[tuple[str, int, int]]:
    """Every named scalar of a record, by its type's name: (name, offset, size)."""
    u = m.unwrap(t)
    if isinstance(u, m.Record):
        for f, off in zip(u.fields, layout(t).offsets):
            if isinstance(m.unwrap(f.type), m.Record):
                yield from _leaves(f.type, offset + off)
            elif isinstance(f.type, m.Named):
                yield f.type.name, offset + off, layout(f.type).size


def _typed(version, name, a, after, age) -> Iterator[tuple[int, int]]:
    """Inode numbers in records (a filestat, a dirent), and timestamps in
    them: a file's times, within the worlds' age of each other."""
    low = guest.lowerings(version)[name]
    spans = [leaf for out in low.outs for leaf in _leaves(out.type, a[out.core] & MASK32)]
    for step in low.steps:
        if isinstance(step, lowering.OutDirents) and low.outs:
            # A run of dirents, each followed by its name, `bufused` bytes.
            start = a[step.ptr] & MASK32
            end = start + struct.unpack_from("<I", after[0], a[low.outs[0].core] & MASK32)[0]
            namlen = dict((n, off) for n, off, _ in _leaves(step.dirent, 0))["dirnamlen"]
            at = start
            while at < end:  # the last one may be cut short
                spans += [(n, off, min(size, end - off)) for n, off, size in _leaves(step.dirent, at)]
                if at + namlen + 4 > end:
                    break
                at += step.header + struct.unpack_from("<I", after[0], at + namlen)[0]
    for kind, offset, size in spans:
        if kind == "timestamp" and size == 8:
            first, second = (struct.unpack_from("<Q", memory, offset)[0] for memory in after)
            assert abs(first - second) <= age, f"a timestamp at {offset:#x}: C {first}, Python {second}"
        if kind in ("timestamp", "inode"):
            yield offset, size


# One call in both worlds -----------------------------------------------------------


def files(box: Path) -> dict[str, tuple]:
    """What the box holds: each path's kind, mode and link count, and a
    file's size and the 4 KiB blocks of it that are not zeros (a sparse file
    may be terabytes long), a symlink's target."""
    out = {}
    for top, dirs, names in os.walk(box):
        for name in sorted(dirs + names):
            path = os.path.join(top, name)
            st_ = os.lstat(path)
            what: object = stat.S_IFMT(st_.st_mode)
            if stat.S_ISLNK(st_.st_mode):
                what = os.readlink(path)
            elif stat.S_ISREG(st_.st_mode):
                what = (st_.st_size, _blocks(path))
            out[os.path.relpath(path, box)] = (what, stat.S_IMODE(st_.st_mode), st_.st_nlink)
    return out


def _blocks(path: str) -> dict[int, bytes]:
    blocks = {}
    fd = os.open(path, os.O_RDONLY)
    try:
        at = 0
        while True:
            try:
                at = os.lseek(fd, at, os.SEEK_DATA) & ~4095
            except OSError:  # ENXIO: no data past `at`
                return blocks
            hole = os.lseek(fd, at, os.SEEK_HOLE)
            while at < hole:
                block = os.pread(fd, 4096, at)
                if block.strip(b"\0"):
                    blocks[at] = block
                at += 4096
    finally:
        os.close(fd)


def state(inst: world.Instance) -> tuple:
    """What a guest's calls leave behind, beside its memory."""
    fds = [(fd, type(d).__name__) for fd, d in inst.wasi._host.fds.items()]
    return fds, inst.output("stdout"), inst.output("stderr"), files(inst.box)


def both(version: str, c: world.Instance, py: world.Instance, name: str, a: dict, born: int,
         entered: tuple[Entered, Entered]) -> None:
    where = f"{version} {name}({a})"
    info = guest.lowerings(version)[name]
    args = [draw.signed_core(a[p.name], p.wasm) for p in info.core_params]
    before = c.snapshot()
    assert py.memory_size == len(before), f"{where}: memory of {len(before)} bytes in C, {py.memory_size} in Python"
    py.write(0, before)  # what the caller wrote, and what may differ of the call before
    counts = [e.count for e in entered]
    start = time.monotonic_ns()
    outcome = draw.call(c, name, args)
    other = draw.call(py, name, args)
    elapsed = time.monotonic_ns() - start
    in_python = [e.count - n for e, n in zip(entered, counts)]
    assert in_python[1] == 1, f"{where}: C switched off, yet {in_python[1]} calls reached Python"
    if name in served(version):
        IN_C[f"{version} {name}"] += 1 - in_python[0]
    else:
        assert in_python[0] == 1, f"{where}: {in_python[0]} calls reached Python, not 1"
    assert outcome == other, f"{where}: C {outcome}, Python {other}"
    after = c.snapshot(), py.snapshot()
    if after[0] != after[1] and outcome == ("errno", 0):
        apart = [*_typed(version, name, a, after, time.time_ns() - born)]
        if name in APART:
            apart += APART[name](version, c, py, a, before, after, elapsed)
        after = tuple(_blank(memory, apart) for memory in after)
    if after[0] != after[1]:
        at = [i for i in range(len(after[0])) if after[0][i] != after[1][i]]
        show = ", ".join(f"{i:#x}: {after[0][i]:#04x} {after[1][i]:#04x}" for i in at[:8])
        raise AssertionError(f"{where} -> {outcome}: memory differs at {len(at)} bytes (C, Python): {show}")
    for what, mine, theirs in zip(("descriptors", "stdout", "stderr", "files"), state(c), state(py)):
        assert mine == theirs, f"{where} -> {outcome}: C and Python left different {what}"
    if name == "sock_accept" and outcome == ("errno", 0):
        c.accepted()
        py.accepted()


def _blank(memory: bytes, spans: list[tuple[int, int]]) -> bytes:
    out = bytearray(memory)
    for offset, size in spans:
        out[offset : offset + size] = bytes(len(out[offset : offset + size]))
    return bytes(out)


# The run ---------------------------------------------------------------------------


def run_example(data, version: str) -> None:
    strategy, options = draw.world_options(data)
    fill = random.Random(data.draw(st.integers(0, 2**32)))
    previous_strategy = sandbox.select(strategy)
    faulthandler.dump_traceback_later(HANG, exit=True)
    far = Path(tempfile.mkdtemp(prefix="pywasi-far-"))  # what both boxes' absolute symlinks name
    born = time.time_ns()
    c = py = None
    try:
        c = world.Instance(ENGINE, version, far=far, **options)
        py = world.Instance(ENGINE, version, far=far, **options)
        py.wasi._native.switch(False)
        entered = Entered(c), Entered(py)
        c.write(0, fill.randbytes(c.memory_size))
        names = draw.weighted((1, draw.every_function(version)), (1, st.sampled_from(served(version))))
        for name, a in draw.steps(data, version, draw.Caller(data, c), names):
            if name == "grow":
                for inst in (c, py):
                    inst.exports["grow"](inst.store, a)
                continue
            both(version, c, py, name, a, born, entered)
    finally:
        for inst in (c, py):
            if inst is not None:
                inst.close()
        shutil.rmtree(far)
        faulthandler.cancel_dump_traceback_later()
        sandbox.select(previous_strategy)


@pytest.mark.parametrize("version", VERSIONS)
def test_c_answers_every_call_as_python_does(version):
    gc.collect()
    draw.examples(run_example, version, EXAMPLES)
    if EXAMPLES * CALLS_PER_EXAMPLE >= 1000:  # each was drawn dozens of times: C has answered each
        assert {name for name in served(version) if IN_C[f"{version} {name}"]} == set(served(version))
