"""Every host function of both ABIs, called through the real bridge with
random lowered arguments, against a sandbox with secrets beside it.

Each example is a fresh guest instance (tests/fuzz/world.py) and a run of
calls through the trampoline exports (tests/fuzz/guest.py): descriptors that
are open, closed, renumbered or made up; pointers inside memory, near its
end, past it, negative, misaligned or overlapping each other; huge lengths
and counts; random bytes and hostile names as paths; valid and invalid enum
and flag values. After every call:

- it returned an errno the spec defines (ENOSYS only where pywasi says it
  does not implement the function), or trapped with a message naming
  the function and a region that is really out of bounds or misaligned, or
  (proc_exit only) raised ProcExit with its code;
- it trapped exactly when a region its stub checks first is bad, and never
  succeeded with a bad buffer reached through an iovec;
- memory changed only where the call may write, and not at all when it
  trapped or failed;
- a read of in-memory stdin put the bytes it consumed into its iovecs in
  order, and a write to captured output appended exactly the bytes of its
  iovecs (memory grows between calls, through the `grow` export, and during
  them, through an output that runs the guest to grow it);
- no Python exception escaped, and none was left for a later call.

After every example: the host's fd count is back where it was, nothing
outside the sandbox was opened, read, created, changed or deleted
(tests.support.Untouched), and no exception was swallowed by a callback.
Half the examples are traced and counted (WASI(trace=, stats=)): the
decoders meet the same arguments, and every call must give one line.

The number of calls is PYWASI_FUZZ_CALLS (default 20,000), split over the
two ABI versions (PYWASI_FUZZ_REPORT=1 prints how each function answered);
the sandbox strategy (openat2 or the walk) is drawn per example. No call can
block: see world.Instance and `_bound_poll`.
"""

from __future__ import annotations

import collections
import faulthandler
import gc
import os
import random
import re
import struct
import sys

import pytest
import wasmtime
from hypothesis import HealthCheck, given, settings, strategies as st

from pywasi import ProcExit, bridge
from pywasi.audit import ENOSYS, status_of
from pywasi.codegen import abi as lowering, model as m
from pywasi.codegen.layout import layout
from pywasi.generated.preview1 import Clockid, Errno
from pywasi.handlers.descriptors.stdio import MemoryInput, MemoryOutput
from pywasi.handlers.filesystems import host as sandbox
from pywasi.runtime.errors import WasiError
from pywasi.handlers.host import Host
from pywasi.runtime.memory import IOV_MAX
from tests.fuzz import guest, world
from tests.support import Untouched

MASK32 = guest.MASK32
TOTAL_CALLS = int(os.environ.get("PYWASI_FUZZ_CALLS", "20000"))
CALLS_PER_EXAMPLE = 40
VERSIONS = ("preview1", "unstable")
EXAMPLES = max(1, -(-TOTAL_CALLS // (CALLS_PER_EXAMPLE * len(VERSIONS))))
BATCH = 100  # examples per hypothesis run
HANG = 120  # seconds: an example that takes longer dumps every stack and ends the run

ERRNOS = {int(e) for e in Errno}
ENGINE = wasmtime.Engine()
STATS: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)

# Values ----------------------------------------------------------------------------

EDGES32 = (0, 1, 2, 3, 4, 7, 8, 0xFFFF, 0x10000, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FF00, 0xFFFF_FFF8,
           0xFFFF_FFFE, 0xFFFF_FFFF)
EDGES64 = EDGES32 + (2**32, 2**44, 2**53, 2**62, 2**63 - 1, 2**63, 2**64 - 2, 2**64 - 1)
FD_EDGES = (0, 1, 2, 3, 4, 5, 6, 7, 8, 63, 64, 1023, 1024, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF)
MANY_IOVECS = (IOV_MAX - 1, IOV_MAX, IOV_MAX + 1, 3 * IOV_MAX)
COUNT_EDGES = (5, 8, 64, 1024, 0x0800_0000, 0x1555_5556, 0x2000_0000, 0x7FFF_FFFF, 0xFFFF_FFFF)
MAX_OFFSET = 2**63 - 1


def weighted(*pairs):
    """One of the strategies, each `weight` times as likely as a weight of 1
    (st.one_of draws its branches evenly, and a branch given twice once)."""
    strategies = [strategy for _, strategy in pairs]
    picks = [i for i, (weight, _) in enumerate(pairs) for _ in range(weight)]
    return st.sampled_from(picks).flatmap(lambda i: strategies[i])


def unsigned(bits: int):
    edges = [e for e in EDGES64 if e < 2**bits]
    return st.one_of(st.sampled_from(edges), st.integers(0, 4096), st.integers(0, 2**bits - 1))


def signed_core(value: int, wasm: str) -> int:
    """A raw value as wasmtime-py takes it for an i32 or i64 parameter."""
    bits = 32 if wasm == "i32" else 64
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def path_strategy(inst: world.Instance):
    components = st.sampled_from(world.COMPONENTS)
    return weighted(
        (8, st.sampled_from(inst.paths)),
        (4, st.sampled_from(world.COMPONENTS).map(str.encode)),
        (4, st.lists(components, min_size=1, max_size=5).map(lambda c: "/".join(c).encode())),
        (1, st.lists(components, min_size=1, max_size=4).map(lambda c: ("/" + "/".join(c)).encode())),
        (1, st.binary(max_size=40)),
        (1, st.text(max_size=20).map(lambda t: t.encode("utf-8", "surrogatepass"))),
        (1, st.sampled_from([
            str(inst.world / "secret").encode(), str(inst.box / "a.txt").encode(), b"a.txt\0x",
            b"a" * 255, b"a" * 256, b"dir/" * 1100, b"x" * 5000, b"../" * 50 + b"etc/passwd",
        ])),
    )


# What kind of descriptor each family of calls is meant for.
_KINDS = {"path": world.DIRECTORY, "sock": world.SOCKET, "fd": world.FILE, "poll": world.WAITS}


class Caller:
    """Draws one call's arguments, writes what they point at into guest
    memory, and remembers every pointer it chose (for overlapping ones)."""

    def __init__(self, data, inst: world.Instance):
        self.data = data
        self.inst = inst
        self.taken: list[int] = []
        self.closed: set[int] = set()
        self.paths = path_strategy(inst)
        self.grown: tuple[int, int] | None = None  # the pages the last `grow` added

    def draw(self, strategy):
        return self.data.draw(strategy)

    # Scalars ---------------------------------------------------------------

    def fd(self) -> int:
        open_fds = self.inst.open_fds()
        pairs = [(1, st.sampled_from(FD_EDGES)), (1, st.integers(0, MASK32))]
        if open_fds:
            pairs.append((6, st.sampled_from(open_fds)))
            suited = self.inst.open_fds(_KINDS.get(self.function.split("_")[0]))
            if self.function == "fd_readdir":
                suited = self.inst.open_fds(world.DIRECTORY)
            if suited:
                pairs.append((18, st.sampled_from(suited)))
        if self.closed:
            pairs.append((2, st.sampled_from(sorted(self.closed))))
        return self.draw(weighted(*pairs))

    def enum(self, named: m.Named) -> int:
        cases = len(m.unwrap(named).cases)
        bits = m.unwrap(named).tag.bits
        return self.draw(weighted(
            (12, st.integers(0, cases - 1)), (1, st.sampled_from([cases, 2**bits - 1])), (1, unsigned(32))
        ))

    def flags(self, named: m.Named) -> int:
        u = m.unwrap(named)
        every = (1 << len(u.flags)) - 1
        if named.name == "rights":  # asking for every right gets what the directory may pass on
            return self.draw(weighted(
                (6, st.integers(0, every)), (6, st.just(every)), (1, st.just(0)), (1, unsigned(u.repr.bits))
            ))
        return self.draw(weighted(
            (8, st.integers(0, every)), (4, st.just(0)), (1, st.just(every)), (1, unsigned(u.repr.bits))
        ))

    # Regions -----------------------------------------------------------------

    def pointer(self, size: int, align: int, grown: int = 0) -> int:
        """A pointer to `size` bytes: mostly good ones; `grown` weighs the
        pages the last `grow` added (the host has not looked at them yet
        unless a call reached them)."""
        mem = self.inst.memory_size
        kinds = ("fits",) * 24 + ("overlap",) * 3 + ("end", "misaligned", "wild")
        if self.grown is not None and grown:
            kinds += ("grown",) * grown
        kind = self.draw(st.sampled_from(kinds))
        if kind == "grown" and self.grown[0] + size <= mem:
            p = self.draw(st.integers(self.grown[0], mem - size))
        elif kind == "overlap" and self.taken:
            p = self.draw(st.sampled_from(self.taken)) + self.draw(st.integers(-8, 8))
        elif kind == "end":
            p = mem - size + self.draw(st.integers(-9, 9))
        elif kind in ("fits", "misaligned", "overlap") and size <= mem:
            p = self.draw(st.integers(0, (mem - size) // align)) * align
            if kind == "misaligned" and align > 1:
                p += self.draw(st.integers(1, align - 1))
        else:
            p = self.draw(st.one_of(st.sampled_from(EDGES32 + (mem, mem + 1, (-size) & MASK32)),
                                    st.integers(0, MASK32)))
        p &= MASK32
        self.taken.append(p)
        return p

    def length(self) -> int:
        mem = self.inst.memory_size
        return self.draw(weighted(
            (8, st.integers(0, 64)), (4, st.integers(0, 4096)),
            (2, st.sampled_from([0, 1, 23, 24, 25, 255, 256, mem // 2, mem, mem + 1])), (1, st.sampled_from(EDGES32)),
        ))

    def count(self) -> int:
        return self.draw(weighted((12, st.integers(0, 4)), (1, st.sampled_from(COUNT_EDGES))))

    # Steps ---------------------------------------------------------------------

    def args(self, version: str, name: str) -> dict[str, int]:
        low = guest.lowerings(version)[name]
        self.function = name
        a: dict[str, int] = {}
        for step in low.steps:
            match step:
                case lowering.LiftHandle(core=core):
                    a[core] = self.fd()
                case lowering.LiftEnum(core=core, named=named):
                    a[core] = self.enum(named)
                case lowering.LiftFlags(core=core, named=named):
                    a[core] = self.flags(named)
                case lowering.LiftInt(core=core, int=i):
                    a[core] = self.draw(unsigned(i.bits))
                case lowering.LiftString(ptr=ptr, len=length):
                    self.string(a, ptr, length)
                case lowering.LiftBuffer(ptr=ptr, len=length) | lowering.OutDirents(ptr=ptr, len=length):
                    a[length] = self.length()
                    a[ptr] = self.pointer(a[length], 1)
                case lowering.LiftBufferList(ptr=ptr, len=count, layout=lay, buf_offset=bo, len_offset=lo):
                    self.buffer_list(a, ptr, count, lay, bo, lo)
                case lowering.LiftArray(ptr=ptr, count=count, element=element):
                    a[count] = self.count()
                    a[ptr] = self.pointer(a[count] * layout(element).size, layout(element).align)
                    self.subscriptions(version, a[ptr], a[count], element)
                case lowering.OutArray(ptr=ptr, count=count, element=element):
                    a[ptr] = self.pointer(a[count] * layout(element).size, layout(element).align)
                case lowering.OutStrings(vector=vector, buf=buf):
                    strings = self.inst.argv if name == "args_get" else self.inst.environ
                    a[vector] = self.pointer(4 * len(strings), 4)
                    a[buf] = self.pointer(sum(len(s) + 1 for s in strings), 1)
        for out in low.outs:
            lay = layout(out.type)
            a[out.core] = self.pointer(lay.size, lay.align)
        return SAFETY.get(name, _as_is)(a)

    def string(self, a: dict, ptr: str, length: str) -> None:
        path = self.draw(self.paths)
        n = self.draw(weighted(
            (12, st.just(len(path))), (1, st.integers(0, len(path) + 8)), (1, st.sampled_from(EDGES32))
        ))
        a[length] = n
        a[ptr] = self.pointer(n, 1)
        if a[ptr] + len(path) <= self.inst.memory_size:
            self.inst.write(a[ptr], path)

    def buffer_list(self, a: dict, ptr: str, count: str, lay, bo: int, lo: int) -> None:
        """An iovec array: a few iovecs of any length, or (now and then)
        around IOV_MAX short ones, a few of them repeated."""
        many = self.draw(weighted((12, st.just(False)), (1, st.just(True))))
        a[count] = self.draw(st.sampled_from(MANY_IOVECS)) if many else self.count()
        a[ptr] = self.pointer(a[count] * lay.size, lay.align)
        if a[ptr] % lay.align or a[ptr] + a[count] * lay.size > self.inst.memory_size:
            return
        records = []
        for _ in range(min(a[count], 6)):
            n = self.draw(st.integers(0, 64)) if many else self.length()
            record = bytearray(lay.size)
            struct.pack_into("<I", record, bo, self.pointer(n, 1, grown=24))
            struct.pack_into("<I", record, lo, n)
            records.append(bytes(record))
        written = a[count] if many else len(records)
        self.inst.write(a[ptr], b"".join(records[i % len(records)] for i in range(written)) if records else b"")

    def subscriptions(self, version: str, ptr: int, count: int, element: m.Named) -> None:
        lay = layout(element)
        if ptr % lay.align or ptr + count * lay.size > self.inst.memory_size:
            return  # the stub traps before it reads any
        clock_type = guest.clock_type(element)
        for i in range(min(count, 6)):
            tag = self.draw(weighted((12, st.integers(0, 2)), (1, st.sampled_from([3, 255]))))
            if tag == 0:
                payload = {}
                for f in m.unwrap(clock_type).fields:  # id comes before timeout
                    payload[f.name] = self.clock_field(f.name, payload.get("id"))
            elif tag in (1, 2):
                payload = {"file_descriptor": self.fd()}
            else:
                payload = None
            buf = bytearray(lay.size)
            guest.encode(element, {"userdata": self.draw(unsigned(64)), "u": (tag, payload)}, buf, 0)
            self.inst.write(ptr + i * lay.size, bytes(buf))

    def clock_field(self, name: str, clock: int | None) -> int:
        match name:
            case "id":
                return self.draw(weighted((12, st.integers(0, 3)), (1, st.sampled_from([4, MASK32]))))
            case "timeout":
                # Relative, or absolute near the guest's now on its clock (the
                # handler's own reading: its monotonic clock has its origin).
                now = self.inst.wasi._host.clock_time_get(Clockid(clock), 0) if clock < 4 else 0
                return self.draw(weighted(
                    (2, st.integers(0, 3_000_000)),
                    (1, st.sampled_from([0, 1, 2**63, 2**64 - 1, 10**18])),
                    (2, st.integers(-10_000_000, 3_000_000).map(lambda d: max(0, now + d))),
                ))
            case "flags":
                return self.draw(weighted((12, st.sampled_from([0, 1])), (1, unsigned(16))))
        return self.draw(unsigned(64))  # precision, identifier


def _as_is(a: dict) -> dict:
    return a


def _allocate(a: dict) -> dict:
    # fd_allocate really reserves disk (or, on tmpfs, memory): keep it small,
    # or so large that it fails before any is reserved (the handler's EINVAL
    # past off_t, the kernel's EFBIG when offset + len overflows it).
    offset, length = a["offset"], a["len_"]
    if offset <= MAX_OFFSET and length <= MAX_OFFSET and offset + length <= MAX_OFFSET:
        a["offset"], a["len_"] = offset % (1 << 20), length % (1 << 20)
    return a


SAFETY = {"fd_allocate": _allocate}


# poll_oneoff never waits long ------------------------------------------------------


def _bound_poll(caller: Caller, version: str, a: dict) -> None:
    """A poll_oneoff that would wait (every subscription valid, none ready at
    once) gets a clock of at most 3 ms: a write subscription on a listener,
    or a clock of a year, would otherwise wait that long, as on any host."""
    low = guest.lowerings(version)["poll_oneoff"]
    step = next(s for s in low.steps if isinstance(s, lowering.LiftArray))
    lay = layout(step.element)
    ptr, count = a[step.ptr] & MASK32, a[step.count] & MASK32
    inst = caller.inst
    if count == 0 or ptr % lay.align or ptr + count * lay.size > inst.memory_size:
        return  # EINVAL or a trap: nothing waits
    memory = inst.snapshot()
    ready_at_once = False
    for i in range(count):
        index, payload = guest.decode(step.element, memory, ptr + i * lay.size)["u"]
        if payload is None:
            return  # EINVAL
        if index == 0 and (payload["id"] >= 4 or payload["flags"] & ~1):
            return  # EINVAL
        if index in (1, 2):
            # Every descriptor here is ready (or fails) at once, but for a
            # listener asked for writing.
            try:
                d = inst.wasi._host.fds.get(payload["file_descriptor"])
            except WasiError:
                d = None
            ready_at_once |= not (index == 2 and isinstance(d, world.SOCKET) and d.sock is inst.listener)
    if ready_at_once:
        return
    at = ptr + caller.draw(st.integers(0, count - 1)) * lay.size
    clock = {f.name: 0 for f in m.unwrap(guest.clock_type(step.element)).fields}
    clock.update(id=1, timeout=caller.draw(st.integers(0, 3_000_000)))
    buf = bytearray(lay.size)
    guest.encode(step.element, {"userdata": 0xB0B, "u": (0, clock)}, buf, 0)
    inst.write(at, bytes(buf))


# Outcomes --------------------------------------------------------------------------

TRAP_BOUNDS = re.compile(r"(\w+): out of bounds: (\d+) bytes at (0x[0-9a-f]+), memory is (\d+) bytes")
TRAP_ALIGN = re.compile(r"(\w+): misaligned pointer (0x[0-9a-f]+) \(must be aligned to (\d+)\)")


def call(inst: world.Instance, name: str, args: list[int]):
    """("errno", n), ("trap", message) or ("exit", code)."""
    try:
        result = inst.exports[name](inst.store, *args)
    except ProcExit as e:
        return "exit", e.code
    except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
        return "trap", str(e)
    return "errno", result


def check(version: str, inst: world.Instance, name: str, a: dict, before: bytes, outcome) -> None:
    kind, value = outcome
    after = inst.snapshot()
    where = f"{version} {name}({a})"
    assert wasmtime._func.LAST_EXCEPTION is None, f"{where} left an exception behind"
    if name == "proc_exit":
        assert outcome == ("exit", a["rval"] & MASK32), where
        return
    if name == "proc_raise" and kind == "exit":  # a signal whose default action ends a process
        assert 0 < a["sig"] & MASK32 < 31 and value == 128 + (a["sig"] & MASK32), where
        return
    assert kind != "exit", where
    top, nested = guest.regions(version, name, a, before, inst.argv, inst.environ)
    size = len(before)
    bad_top = [r for r in top if not r.good(size)]
    bad_nested = [r for r in nested if not r.good(size)]
    if kind == "trap":
        assert bad_top or bad_nested, f"{where} trapped with every region good: {value}"
        assert after[: len(before)] == before, f"{where} trapped after writing memory"
        bounds, align = TRAP_BOUNDS.search(value), TRAP_ALIGN.search(value)
        assert bounds or align, f"{where}: not a bad-pointer trap: {value}"
        if bounds:
            fn, n, p, mem = bounds.groups()
            assert fn == name and int(p, 16) + int(n) > int(mem) and int(mem) == size, f"{where}: {value}"
            assert (int(p, 16), int(n)) in {(r.ptr, r.size) for r in bad_top + bad_nested}, f"{where}: {value}"
        else:
            fn, p, al = align.groups()
            assert fn == name and int(p, 16) % int(al), f"{where}: {value}"
            assert int(p, 16) in {r.ptr for r in bad_top + bad_nested}, f"{where}: {value}"
        return
    assert isinstance(value, int) and value in ERRNOS, f"{where} returned {value!r}"
    assert value != Errno.NOSYS or status_of(Host, name).status == ENOSYS, f"{where}: ENOSYS, but it is implemented"
    assert not bad_top, f"{where} answered {Errno(value).name} with a bad region: {bad_top}"
    if bad_nested:
        assert value != 0, f"{where} succeeded with a bad buffer: {bad_nested}"
    assert not after[len(before) :].strip(b"\0"), f"{where}: memory grown during the call is not zero"
    changed = _changed(before, after)
    assert value == 0 or not changed, f"{where} failed with {Errno(value).name} but wrote at {changed[:8]}"
    if changed:
        writable = [r for r in top + nested if r.write]
        stray = [i for i in changed if not any(r.ptr <= i < r.ptr + r.size for r in writable)]
        assert not stray, f"{where} -> {Errno(value).name} wrote outside its out regions at {stray[:8]}"
    if value == 0 and name in RESULTS:
        out = {r.what: r for r in top}
        writable = [r for r in top + nested if r.write]

        def stored(core: str, code: str = "<I"):
            """What the call stored at an out-pointer, or None when another
            region it may write overlaps it (then either may have won)."""
            r = out[core]
            if any(o is not r and o.ptr < r.ptr + r.size and r.ptr < o.ptr + o.size for o in writable):
                return None
            return struct.unpack_from(code, after, r.ptr)[0]

        RESULTS[name](inst, a, nested, stored, where)


def _size_within(total):
    def result(inst, a, nested, stored, where):
        size = stored("size_out")
        assert size is None or size <= total(a, nested), f"{where} says it moved {size} bytes"

    return result


def _new_fd(inst, a, nested, stored, where):
    fd = stored("fd_out")
    assert fd is None or fd in inst.open_fds(), f"{where} returned fd {fd}, which is not open"


def _events(inst, a, nested, stored, where):
    size = stored("size_out")
    assert size is None or 1 <= size <= a["nsubscriptions"] & MASK32, f"{where} returned {size} events"


def _sizes(strings):
    def result(inst, a, nested, stored, where):
        counted = stored("size0_out"), stored("size1_out")
        listed = getattr(inst, strings)
        for got, want in zip(counted, (len(listed), sum(len(s) + 1 for s in listed))):
            assert got is None or got == want, f"{where} answered {counted}"

    return result


def _inside(inst, a, nested, stored, where):
    """The attributes path_filestat_get answers are those of something in
    the sandbox: a stat that reached out would be no inotify event, so
    Untouched would not see it. (An open that reached out would be.)"""
    dev, ino = stored("filestat_out", "<Q"), stored("filestat_out", "<8xQ")
    if dev is None:
        return
    inside = {(st.st_dev, st.st_ino) for st in map(os.lstat, [inst.box, *inst.box.rglob("*")])}
    assert (dev, ino) in inside, f"{where} answered for something outside the sandbox"


_IOVECS = _size_within(lambda a, nested: sum(r.size for r in nested))
RESULTS = {
    "fd_read": _IOVECS, "fd_pread": _IOVECS, "fd_write": _IOVECS, "fd_pwrite": _IOVECS,
    "sock_recv": _IOVECS, "sock_send": _IOVECS,
    "fd_readdir": _size_within(lambda a, nested: a["buf_len"] & MASK32),
    "path_readlink": _size_within(lambda a, nested: a["buf_len"] & MASK32),
    "path_open": _new_fd, "sock_accept": _new_fd, "poll_oneoff": _events,
    "args_sizes_get": _sizes("argv"), "environ_sizes_get": _sizes("environ"),
    "path_filestat_get": _inside,
}


def _memory_stream(inst: world.Instance, name: str, a: dict):
    """For fd_read of in-memory stdin or fd_write to captured output: the
    descriptor and where its stream stood before the call."""
    if name not in ("fd_read", "fd_write"):
        return None
    try:
        d = inst.wasi._host.fds.get(a["fd"] & MASK32)
    except WasiError:
        return None
    if name == "fd_read" and isinstance(d, MemoryInput):
        return d, d.source.tell()
    if name == "fd_write" and isinstance(d, MemoryOutput):
        return d, len(d.sink.getvalue())
    return None


def check_stream(version: str, inst: world.Instance, name: str, a: dict, before: bytes, d, at: int) -> None:
    """The bytes a successful read or write moved are exactly those of its
    iovecs, in order, whichever of them lie in memory grown since the host
    last looked (a stale view would have dropped them)."""
    where = f"{version} {name}({a})"
    after = inst.snapshot()
    _, nested = guest.regions(version, name, a, before, inst.argv, inst.environ)
    size_out = a["size_out"] & MASK32
    count = struct.unpack_from("<I", after, size_out)[0]
    if name == "fd_write":
        out = d.sink.getvalue()[at:]
        sent = b"".join(before[r.ptr : r.ptr + r.size] for r in nested)
        assert out == sent[: len(out)], f"{where} wrote {out[:40]!r}, not its iovecs' {sent[:40]!r}"
        assert count == len(out) or any(r.ptr < size_out + 4 and size_out < r.ptr + r.size for r in nested), where
        return
    data = world.STDIN[at : d.source.tell()]
    spans = [(r.ptr, r.ptr + r.size) for r in nested] + [(size_out, size_out + 4)]
    if any(p < q_end and q < p_end for i, (p, p_end) in enumerate(spans) for q, q_end in spans[i + 1 :]):
        return  # overlapping buffers: which write won is not the point here
    assert count == len(data), f"{where} says it read {count} bytes, the stream gave {len(data)}"
    for r in nested:
        chunk, data = data[: r.size], data[r.size :]
        assert after[r.ptr : r.ptr + len(chunk)] == chunk, f"{where}: {r.what} got {after[r.ptr : r.ptr + len(chunk)]!r}, not {chunk!r}"


def _changed(before: bytes, after: bytes) -> list[int]:
    if before == after:
        return []
    out = []
    step = 4096
    for start in range(0, len(before), step):
        a, b = before[start : start + step], after[start : start + step]
        if a != b:
            out += [start + i for i in range(len(a)) if a[i] != b[i]]
    return out


# The run ---------------------------------------------------------------------------


def do_call(version: str, inst: world.Instance, caller: Caller, name: str, a: dict) -> None:
    fds = set(inst.open_fds())
    info = guest.lowerings(version)[name]
    args = [signed_core(a[c.name], c.wasm) for c in info.core_params]
    before = inst.snapshot()
    stream = _memory_stream(inst, name, a)
    outcome = call(inst, name, args)
    check(version, inst, name, a, before, outcome)
    if stream is not None and outcome == ("errno", 0):
        check_stream(version, inst, name, a, before, *stream)
    STATS[f"{version} {name}"][_label(outcome)] += 1
    caller.closed |= fds - set(inst.open_fds())
    if name == "sock_accept" and outcome == ("errno", 0):
        inst.pending -= 1
        inst.connect()


# What an example may open first, with every right, for the rest to work on:
# (preopen fd, path, oflags).
OPENS = ((4, "a.txt", 0), (4, "dir", 2), (4, "new.txt", 1), (5, "c.txt", 0), (4, "dir/sub", 2), (4, "link_in", 0))


def opening(version: str, inst: world.Instance, fd: int, path: str, oflags: int) -> dict:
    rights = (1 << len(m.unwrap(guest.spec(version).type("rights")).flags)) - 1
    inst.write(0x100, path.encode())
    return {"fd": fd, "dirflags": 1, "path_ptr": 0x100, "path_len": len(path), "oflags": oflags,
            "fs_rights_base": rights, "fs_rights_inheriting": rights, "fdflags": 0, "fd_out": 0x80}


def host_fds() -> dict[int, str]:
    """The process's open fds and what each is open on."""
    out = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            out[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:  # the fd listdir itself had open
            pass
    return out


def run_example(data, version: str) -> None:
    strategy = data.draw(st.sampled_from([s for s in ("openat2", "walk") if s != "openat2" or sandbox.OPENAT2_WORKS]))
    stdio = data.draw(st.fixed_dictionaries({
        "stdin": st.sampled_from(["pipe", "memory"]),
        "stdout": st.sampled_from(["memory", "growing", "devnull", "file"]),
        "stderr": st.sampled_from(["memory", "growing", "devnull"]),
    }))
    max_fds = data.draw(st.sampled_from([None, 1024, 9]))
    observed = data.draw(st.booleans())
    fill = random.Random(data.draw(st.integers(0, 2**32)))
    unraisable = []
    fds_before = host_fds()
    previous_strategy = sandbox.select(strategy)
    previous_hook, sys.unraisablehook = sys.unraisablehook, unraisable.append
    faulthandler.dump_traceback_later(HANG, exit=True)
    inst = world.Instance(ENGINE, version, max_fds=max_fds, observed=observed, **stdio)
    try:
        inst.write(0, fill.randbytes(inst.memory_size))
        caller = Caller(data, inst)
        names = list(guest.lowerings(version)) + ["grow"] * 4
        with Untouched(inst.world, keep="box"):
            opens = data.draw(st.lists(st.sampled_from(OPENS), max_size=4, unique=True))
            for fd, path, oflags in opens:
                do_call(version, inst, caller, "path_open", opening(version, inst, fd, path, oflags))
            done = 0
            while done < CALLS_PER_EXAMPLE:
                name = data.draw(st.sampled_from(names))
                if name == "grow":
                    old = inst.memory_size
                    inst.exports["grow"](inst.store, data.draw(st.integers(0, 2)))
                    if inst.memory_size > old:
                        caller.grown = (old, inst.memory_size)
                    continue
                done += 1
                caller.taken = []
                a = caller.args(version, name)
                if name == "poll_oneoff":
                    _bound_poll(caller, version, a)
                do_call(version, inst, caller, name, a)
            if observed:  # every call, whatever its end, was traced and counted
                calls = len(opens) + CALLS_PER_EXAMPLE
                assert len(inst.lines) == calls
                assert sum(s.calls for s in inst.stats.called().values()) == calls
                inst.stats.report()
    finally:
        inst.close()
        faulthandler.cancel_dump_traceback_later()
        sys.unraisablehook = previous_hook
        sandbox.select(previous_strategy)
    assert unraisable == [], f"exceptions escaped host-call callbacks: {unraisable}"
    # New fds, or fds on something else than before (an fd the collector
    # closed meanwhile, of something an earlier test left, is no leak).
    leaked = {fd: what for fd, what in host_fds().items() if fds_before.get(fd) != what}
    assert not leaked, f"host fds leaked: {leaked}"
    assert bridge._local.__dict__.get("pending") is None


def _label(outcome) -> str:
    kind, value = outcome
    if kind == "errno":
        return Errno(value).name
    if kind == "exit":
        return "exit"
    return "trap: " + ("bounds" if "out of bounds" in value else "alignment")


def fuzz_batch(version: str, examples: int) -> None:
    @settings(max_examples=examples, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.data())
    def fuzz(data):
        run_example(data, version)

    fuzz()


@pytest.mark.parametrize("version", VERSIONS)
def test_every_host_function_under_fuzzing(version):
    def calls() -> int:
        return sum(sum(c.values()) for k, c in STATS.items() if k.startswith(version + " "))

    before = calls()
    gc.collect()  # what earlier tests left to the collector is closed before, not during
    # In batches: hypothesis keeps a record of every choice of a run (about
    # 0.2 MB an example here), which a new run starts afresh.
    for start in range(0, EXAMPLES, BATCH):
        fuzz_batch(version, min(BATCH, EXAMPLES - start))
    assert calls() - before >= EXAMPLES * CALLS_PER_EXAMPLE
    counts = {k.split()[1]: c for k, c in STATS.items() if k.startswith(version + " ")}
    if EXAMPLES * CALLS_PER_EXAMPLE >= 2000:
        assert set(counts) == set(guest.lowerings(version))  # every function was called
    if os.environ.get("PYWASI_FUZZ_REPORT"):
        print(f"\n{version}: {calls() - before} calls")
        for name in sorted(counts):
            print(f"  {name}: {dict(counts[name].most_common())}")
