"""What a fuzzed call is made of: its arguments, drawn against the state of a
guest instance (tests/fuzz/world.py) and written into its memory, and the
run of calls an example makes. The fuzz tests draw from here; what each
checks of a call is theirs.

The number of calls is PYWASI_FUZZ_CALLS (default 20,000); a test takes its
share of it.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator

import wasmtime
from hypothesis import HealthCheck, given, settings, strategies as st

from pywasi import ProcExit
from pywasi.codegen import abi as lowering, model as m
from pywasi.codegen.layout import layout
from pywasi.generated.preview1 import Clockid
from pywasi.handlers.filesystems import host as sandbox
from pywasi.runtime.errors import WasiError
from pywasi.runtime.memory import IOV_MAX
from tests.fuzz import guest, world

MASK32 = guest.MASK32
TOTAL_CALLS = int(os.environ.get("PYWASI_FUZZ_CALLS", "20000"))
CALLS_PER_EXAMPLE = 40
VERSIONS = ("preview1", "unstable")
BATCH = 100  # examples per hypothesis run


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
    """Zero a quarter of the time (an offset, a cookie, a size: what most
    often means something), else an edge, a small number or any."""
    edges = [e for e in EDGES64 if e < 2**bits]
    return st.one_of(st.just(0), st.sampled_from(edges), st.integers(0, 4096), st.integers(0, 2**bits - 1))


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


def call(inst: world.Instance, name: str, args: list[int]):
    """("errno", n), ("trap", message) or ("exit", code)."""
    try:
        result = inst.exports[name](inst.store, *args)
    except ProcExit as e:
        return "exit", e.code
    except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
        return "trap", str(e)
    return "errno", result


# What an example may open first (mostly with every right) for the rest to work on:
# (preopen fd, path, oflags).
OPENS = ((4, "a.txt", 0), (4, "dir", 2), (4, "new.txt", 1), (5, "c.txt", 0), (4, "dir/sub", 2), (4, "link_in", 0))


def every_right(version: str) -> int:
    return (1 << len(m.unwrap(guest.spec(version).type("rights")).flags)) - 1


def opening(version: str, inst: world.Instance, fd: int, path: str, oflags: int, rights: int) -> dict:
    inst.write(0x100, path.encode())
    return {"fd": fd, "dirflags": 1, "path_ptr": 0x100, "path_len": len(path), "oflags": oflags,
            "fs_rights_base": rights, "fs_rights_inheriting": every_right(version), "fdflags": 0, "fd_out": 0x80}


# The run of an example ---------------------------------------------------------------


def world_options(data) -> tuple[str, dict]:
    """The sandbox strategy (openat2 or the walk) and a world's stdio and
    descriptor limit."""
    strategy = data.draw(st.sampled_from([s for s in ("openat2", "walk") if s != "openat2" or sandbox.OPENAT2_WORKS]))
    options = data.draw(st.fixed_dictionaries({
        "stdin": st.sampled_from(["pipe", "memory"]),
        "stdout": st.sampled_from(["memory", "growing", "devnull", "file"]),
        "stderr": st.sampled_from(["memory", "growing", "devnull"]),
        "max_fds": st.sampled_from([None, 1024, 9]),
    }))
    return strategy, options


def every_function(version: str):
    """Any function of the version, or (now and then) the guest growing its
    memory."""
    return st.sampled_from(list(guest.lowerings(version)) + ["grow"] * 4)


def steps(data, version: str, caller: Caller, names=None) -> Iterator[tuple[str, object]]:
    """An example's calls, each drawn once the one before was made (it draws
    against the state that call left): ("grow", pages), for the caller to
    grow the guest's memory by, or (function, its arguments by core name).
    First a few opens, then CALLS_PER_EXAMPLE calls of `names` (a strategy;
    every function of the version by default)."""
    inst = caller.inst
    names = every_function(version) if names is None else names
    every = every_right(version)
    for fd, path, oflags in data.draw(st.lists(st.sampled_from(OPENS), max_size=4, unique=True)):
        # Mostly with every right; now and then with some, for the calls a
        # missing right refuses (ENOTCAPABLE, before anything else).
        rights = data.draw(weighted((3, st.just(every)), (1, st.integers(0, every))))
        yield from _called(caller, "path_open", opening(version, inst, fd, path, oflags, rights))
    done = 0
    while done < CALLS_PER_EXAMPLE:
        name = data.draw(names)
        if name == "grow":
            old = inst.memory_size
            yield "grow", data.draw(st.integers(0, 2))
            if inst.memory_size > old:
                caller.grown = (old, inst.memory_size)
            continue
        done += 1
        caller.taken = []
        a = caller.args(version, name)
        if name == "poll_oneoff":
            _bound_poll(caller, version, a)
        yield from _called(caller, name, a)


def _called(caller: Caller, name: str, a: dict) -> Iterator[tuple[str, object]]:
    fds = set(caller.inst.open_fds())
    yield name, a
    caller.closed |= fds - set(caller.inst.open_fds())


def examples(run, version: str, count: int) -> None:
    """`run(data, version)` for `count` examples. In batches: hypothesis keeps
    a record of every choice of a run (about 0.2 MB an example here), which a
    new run starts afresh."""
    for start in range(0, count, BATCH):
        _batch(run, version, min(BATCH, count - start))


def _batch(run, version: str, count: int) -> None:
    @settings(max_examples=count, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.data())
    def example(data):
        run(data, version)

    example()
