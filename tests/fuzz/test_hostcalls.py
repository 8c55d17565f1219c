"""Every host function of both ABIs, called through the real bridge with
random lowered arguments, against a sandbox with secrets beside it.

Each example is a fresh guest instance (tests/fuzz/world.py) and a run of
calls (tests/fuzz/draw.py) through the trampoline exports
(tests/fuzz/guest.py): descriptors that
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
block: see world.Instance and draw._bound_poll.
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
from hypothesis import strategies as st

from pywasi import bridge
from pywasi.audit import ENOSYS, status_of
from pywasi.generated.preview1 import Errno
from pywasi.handlers.descriptors.stdio import MemoryInput, MemoryOutput
from pywasi.handlers.filesystems import host as sandbox
from pywasi.runtime.errors import WasiError
from pywasi.handlers.host import Host
from tests.fuzz import draw, guest, world
from tests.fuzz.draw import CALLS_PER_EXAMPLE, MASK32, VERSIONS
from tests.support import Untouched

EXAMPLES = max(1, -(-draw.TOTAL_CALLS // (CALLS_PER_EXAMPLE * len(VERSIONS))))
HANG = 120  # seconds: an example that takes longer dumps every stack and ends the run

ERRNOS = {int(e) for e in Errno}
ENGINE = wasmtime.Engine()
STATS: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)

# Outcomes --------------------------------------------------------------------------

TRAP_BOUNDS = re.compile(r"(\w+): out of bounds: (\d+) bytes at (0x[0-9a-f]+), memory is (\d+) bytes")
TRAP_ALIGN = re.compile(r"(\w+): misaligned pointer (0x[0-9a-f]+) \(must be aligned to (\d+)\)")




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


def do_call(version: str, inst: world.Instance, name: str, a: dict) -> None:
    info = guest.lowerings(version)[name]
    args = [draw.signed_core(a[c.name], c.wasm) for c in info.core_params]
    before = inst.snapshot()
    stream = _memory_stream(inst, name, a)
    outcome = draw.call(inst, name, args)
    check(version, inst, name, a, before, outcome)
    if stream is not None and outcome == ("errno", 0):
        check_stream(version, inst, name, a, before, *stream)
    STATS[f"{version} {name}"][_label(outcome)] += 1
    if name == "sock_accept" and outcome == ("errno", 0):
        inst.accepted()


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
    strategy, options = draw.world_options(data)
    observed = data.draw(st.booleans())
    fill = random.Random(data.draw(st.integers(0, 2**32)))
    unraisable = []
    fds_before = host_fds()
    previous_strategy = sandbox.select(strategy)
    previous_hook, sys.unraisablehook = sys.unraisablehook, unraisable.append
    faulthandler.dump_traceback_later(HANG, exit=True)
    inst = world.Instance(ENGINE, version, observed=observed, **options)
    try:
        inst.write(0, fill.randbytes(inst.memory_size))
        calls = 0
        with Untouched(inst.world, keep="box"):
            for name, a in draw.steps(data, version, draw.Caller(data, inst)):
                if name == "grow":
                    inst.exports["grow"](inst.store, a)
                    continue
                do_call(version, inst, name, a)
                calls += 1
            if observed:  # every call, whatever its end, was traced and counted
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


@pytest.mark.parametrize("version", VERSIONS)
def test_every_host_function_under_fuzzing(version):
    def calls() -> int:
        return sum(sum(c.values()) for k, c in STATS.items() if k.startswith(version + " "))

    before = calls()
    gc.collect()  # what earlier tests left to the collector is closed before, not during
    draw.examples(run_example, version, EXAMPLES)
    assert calls() - before >= EXAMPLES * CALLS_PER_EXAMPLE
    counts = {k.split()[1]: c for k, c in STATS.items() if k.startswith(version + " ")}
    if EXAMPLES * CALLS_PER_EXAMPLE >= 2000:
        assert set(counts) == set(guest.lowerings(version))  # every function was called
    if os.environ.get("PYWASI_FUZZ_REPORT"):
        print(f"\n{version}: {calls() - before} calls")
        for name in sorted(counts):
            print(f"  {name}: {dict(counts[name].most_common())}")
