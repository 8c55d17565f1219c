"""The C hot path (pywasi/native.py, generated/native.c): the calls it serves
answer exactly as the Python stubs do (errno, memory, trap message) for
hostile arguments, and every call it must not serve reaches Python: before
start, under an interrupt, with trace or stats, from another store, and when
a subclass overrides the handler."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import io
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import wasmtime
from hypothesis import HealthCheck, given, settings, strategies as st

from pywasi import WASI, MemoryDir, NotStarted, Stats, native
from pywasi.generated.preview1 import Errno
from pywasi.handlers.bits import FDFLAGS, OFLAGS, RIGHTS
from pywasi.handlers.host import Host
from pywasi.runtime.memory import IOV_MAX
from tests.fuzz.guest import MAX_PAGES, compiled
from tests.support import ROOT

pytestmark = pytest.mark.skipif(not native.ENABLED, reason=f"the C hot path is {native.STATUS}")

PAGE = 65536
ARGS = ["prog", "ärg", "", "x" * 300]
ENV = {"HOME": "/", "EMPTY": "", "LANG": "C.UTF-8"}
ENGINE = wasmtime.Engine()


class Guest:
    """The fuzz trampolines over one WASI object; `python` forces every call
    through the Python stubs (the C callbacks hand them over)."""

    def __init__(self, version: str, python: bool, **options):
        self.store = wasmtime.Store(ENGINE)
        linker = wasmtime.Linker(ENGINE)
        self.wasi = WASI(version=version, args=ARGS, env=ENV, **options)
        self.wasi.define(linker)
        self.instance = linker.instantiate(self.store, compiled(ENGINE, version))
        self.wasi.finalize_bindings(self.instance, self.store)
        if python:
            self.wasi._native.switch(False)
        self.exports = self.instance.exports(self.store)
        self.memory = self.exports["memory"]

    def fill(self, pages: int) -> None:
        grown = pages - self.memory.size(self.store)
        if grown > 0:
            self.memory.grow(self.store, grown)
        self.memory.write(self.store, bytes(range(256)) * (pages * PAGE // 256), 0)

    def call(self, name: str, *args) -> tuple[object, bytes]:
        try:
            result = self.exports[name](self.store, *args)
        except Exception as e:  # a trap (its message and backtrace), or what a host call raised
            result = f"{type(e).__name__}: {e}"
        return result, self.memory.read(self.store, 0, self.memory.data_len(self.store))


def pair(version: str, pages: int) -> tuple[Guest, Guest]:
    guests = Guest(version, python=False), Guest(version, python=True)
    for g in guests:
        g.fill(pages)
    return guests


def pointer(pages: int):
    """Pointers anywhere a guest may pass one: in memory, at and past its
    end, misaligned, negative (as wasm passes i32), huge."""
    end = pages * PAGE
    return st.one_of(
        st.integers(0, end),
        st.integers(end - 16, end + 16),
        st.integers(-(2**31), 2**31 - 1),
        st.sampled_from([0, 1, 3, 4, 8, end - 4, end - 8, end, 2**31 - 1, -1, -4, -8]),
    )


FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
VERSIONS = ("preview1", "unstable")


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", ["args_sizes_get", "environ_sizes_get", "args_get", "environ_get"])
@FUZZ
@given(pages=st.integers(1, MAX_PAGES), data=st.data())
def test_args_and_environ_answer_as_python_does(version, name, pages, data):
    c, py = pair(version, pages)
    a, b = data.draw(pointer(pages)), data.draw(pointer(pages))
    assert c.call(name, a, b) == py.call(name, a, b)


@pytest.mark.parametrize("version", VERSIONS)
@FUZZ
@given(pages=st.integers(1, MAX_PAGES), data=st.data())
def test_clock_res_get_answers_as_python_does(version, pages, data):
    c, py = pair(version, pages)
    clock = data.draw(st.one_of(st.integers(0, 5), st.integers(-(2**31), 2**31 - 1)))
    out = data.draw(pointer(pages))
    assert c.call("clock_res_get", clock, out) == py.call("clock_res_get", clock, out)


@pytest.mark.parametrize("version", VERSIONS)
@FUZZ
@given(pages=st.integers(1, MAX_PAGES), data=st.data())
def test_clock_time_get_answers_as_python_does(version, pages, data):
    c, py = pair(version, pages)
    clock = data.draw(st.one_of(st.integers(0, 5), st.integers(-(2**31), 2**31 - 1)))
    precision = data.draw(st.integers(-(2**63), 2**63 - 1))
    out = data.draw(pointer(pages))
    (r1, m1), (r2, m2) = c.call("clock_time_get", clock, precision, out), py.call("clock_time_get", clock, precision, out)
    assert r1 == r2
    if r1 == 0:  # the same bytes but the 8 the time went to; that time is the same clock's
        at = out & 0xFFFFFFFF
        assert m1[:at] + m1[at + 8 :] == m2[:at] + m2[at + 8 :]
        t1, t2 = (int.from_bytes(m[at : at + 8], "little") for m in (m1, m2))
        if clock in (0, 1):
            assert abs(t1 - t2) < 10**9 * 60
    else:
        assert m1 == m2


@pytest.mark.parametrize("version", VERSIONS)
@FUZZ
@given(pages=st.integers(1, MAX_PAGES), data=st.data())
def test_random_get_answers_as_python_does(version, pages, data):
    c, py = pair(version, pages)
    buf = data.draw(pointer(pages))
    length = data.draw(st.one_of(st.integers(0, 600), st.integers(-(2**31), 2**31 - 1)))
    (r1, m1), (r2, m2) = c.call("random_get", buf, length), py.call("random_get", buf, length)
    assert r1 == r2
    if r1 == 0:
        at, n = buf & 0xFFFFFFFF, length & 0xFFFFFFFF
        assert m1[:at] + m1[at + n :] == m2[:at] + m2[at + n :]  # nothing outside the buffer
        if n >= 16:
            assert m1[at : at + n] != m2[at : at + n]
    else:
        assert m1 == m2


def test_sched_yield():
    c, py = pair("preview1", 1)
    assert c.call("sched_yield") == py.call("sched_yield")


def test_trap_messages_name_the_function():
    c, _ = pair("preview1", 1)
    assert "args_sizes_get: misaligned pointer 0x2 (must be aligned to 4)" in c.call("args_sizes_get", 2, 8)[0]
    assert "clock_time_get: out of bounds: 8 bytes at 0xfffffff8, memory is 65536 bytes" in (
        c.call("clock_time_get", 0, 0, -8)[0]
    )
    assert "args_get: out of bounds: " in c.call("args_get", 0, PAGE - 2)[0]


# Who answers -------------------------------------------------------------------------


def off_main(guest: Guest, name: str, *args):
    """guest.call on a thread of its own: on the main thread a call now and
    then goes to Python on purpose (see the test below)."""
    out = []
    worker = threading.Thread(target=lambda: out.append(guest.call(name, *args)))
    worker.start()
    worker.join()
    return out[0]


def _slot(guest: Guest, name: str) -> int:
    return guest.wasi._bridge.names.index(name)


def _python_raises(guest: Guest, name: str) -> None:
    """Make the Python path of `name` fail loudly: a call it answers traps."""

    def boom(*args):
        raise RuntimeError("answered in Python")

    guest.wasi._bridge.slots[_slot(guest, name)] = boom


def test_c_answers_without_entering_python():
    g = Guest("preview1", python=False)
    _python_raises(g, "clock_time_get")
    assert off_main(g, "clock_time_get", 1, 0, 0)[0] == 0
    assert off_main(g, "args_sizes_get", 0, 4)[0] == 0
    assert g.wasi._native.calls() == 2  # what C served
    _python_raises(g, "fd_filestat_get")
    g.call("fd_filestat_get", 1, 0)  # served by Python
    assert g.wasi._bridge.calls() == 3  # a usage record's count: both kinds


@pytest.mark.parametrize(
    "options",
    [dict(stats=Stats()), dict(trace=lambda call: None)],
    ids=["stats", "trace"],
)
def test_trace_and_stats_see_every_call(options):
    g = Guest("preview1", python=False, **options)
    _python_raises(g, "clock_time_get")
    assert "answered in Python" in g.call("clock_time_get", 1, 0, 0)[0]


def test_an_overridden_handler_answers(monkeypatch):
    class Frozen(Host):
        def clock_time_get(self, id_, precision):
            return 42

    monkeypatch.setattr("pywasi.wasi.Host", Frozen)  # the WASI object is built on it
    g = Guest("preview1", python=False)
    assert g.call("clock_time_get", 1, 0, 0)[1][:8] == (42).to_bytes(8, "little")
    _python_raises(g, "args_sizes_get")  # the others are still served in C
    assert off_main(g, "args_sizes_get", 0, 4)[0] == 0


def test_before_start_and_after_close_python_answers():
    store = wasmtime.Store(ENGINE)
    linker = wasmtime.Linker(ENGINE)
    wasi = WASI(args=ARGS)
    wasi.define(linker)
    instance = linker.instantiate(store, compiled(ENGINE, "preview1"))
    sizes = instance.exports(store)["args_sizes_get"]
    with pytest.raises(NotStarted):
        sizes(store, 0, 4)
    wasi.finalize_bindings(instance, store)
    assert sizes(store, 0, 4) == 0
    wasi.close()
    with pytest.raises(Exception, match="after wasi.close"):
        sizes(store, 0, 4)


def test_a_stop_reaches_a_guest_in_c_calls():
    g = Guest("preview1", python=False)
    g.wasi._bridge.stop(KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        g.call("clock_time_get", 1, 0, 0)
    _python_raises(g, "clock_time_get")  # delivered once: C answers again
    assert off_main(g, "clock_time_get", 1, 0, 0)[0] == 0


def test_on_the_main_thread_python_sees_some_calls():
    # so that its signal handlers run (a SIGALRM handler of the host's) while
    # a guest's calls all stay in C: one call per 50 ms goes to Python there
    # (NATIVE_PYTHON_EVERY_NS), not one per so many calls, which next to a
    # busy thread would wait for the GIL over and over.
    g = Guest("preview1", python=False)
    _python_raises(g, "sched_yield")
    answers = []
    began = time.monotonic()
    while time.monotonic() - began < 0.3:
        answers.append(g.call("sched_yield")[0])
    in_python = sum("answered in Python" in str(a) for a in answers)
    assert answers.count(0) + in_python == len(answers)
    assert 2 <= in_python <= 8, (in_python, len(answers))


def test_another_store_reaches_no_wasi_object():
    # A store the WASI object was not started with cannot reach its state:
    # the call, served in C or not, raises NotStarted as a reactor's export
    # called before initialize() does, and is not counted as the object's.
    linker = wasmtime.Linker(ENGINE)
    wasi = WASI(args=ARGS)
    wasi.define(linker)
    started = wasmtime.Store(ENGINE)
    wasi.finalize_bindings(linker.instantiate(started, compiled(ENGINE, "preview1")), started)
    other = wasmtime.Store(ENGINE)
    exports = linker.instantiate(other, compiled(ENGINE, "preview1")).exports(other)
    for name, args in (("args_sizes_get", (0, 4)), ("fd_write", (1, 0, 0, 0))):  # in C, and through Python
        with pytest.raises(NotStarted, match=f"^{name} was called before the WASI instance was set up"):
            off_main_call(exports[name], other, *args)
    assert wasi._bridge.calls() == 0
    wasi.close()


def test_a_guest_of_another_version_reaches_no_wasi_object():
    # The callbacks are shared by every WASI object, but a preview1 import
    # never reaches a wasi_unstable object's stubs (whose ABI differs: the
    # whence order, the filestat layout), in C or in Python.
    linker = wasmtime.Linker(ENGINE)
    WASI(version="preview1").define(linker)
    store = wasmtime.Store(ENGINE)
    instance = linker.instantiate(store, compiled(ENGINE, "preview1"))
    unstable = WASI(version="unstable", args=ARGS)
    unstable.finalize_bindings(instance, store)
    exports = instance.exports(store)
    for name, args in (("args_sizes_get", (0, 4)), ("fd_seek", (1, 0, 0, 8)), ("sock_accept", (3, 0, 16))):
        with pytest.raises(NotStarted, match=rf"^{name} \(wasi_snapshot_preview1\) was called from a store "
                                             r"whose WASI object serves wasi_unstable"):
            off_main_call(exports[name], store, *args)
    assert unstable._bridge.calls() == 0
    unstable.close()


def test_c_stays_off_once_closed():
    # A stop taken back (take_stop switches C on again) after close() must
    # not let C answer for a closed object.
    g = Guest("preview1", python=False)
    g.wasi.close()
    g.wasi._native.switch(True)
    assert "after wasi.close()" in str(off_main(g, "args_sizes_get", 0, 4)[0])


def off_main_call(function, store, *args):
    errors = []

    def run():
        try:
            function(store, *args)
        except Exception as e:
            errors.append(e)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    if errors:
        raise errors[0]


def test_the_monotonic_clock_counts_from_the_instance():
    g = Guest("preview1", python=False)
    g.call("clock_time_get", 1, 0, 0)
    first = int.from_bytes(g.memory.read(g.store, 0, 8), "little")
    assert first < 10 * 10**9  # from the WASI object's creation, not the host's boot
    time.sleep(0.01)
    g.call("clock_time_get", 1, 0, 0)
    assert int.from_bytes(g.memory.read(g.store, 0, 8), "little") >= first + 10**7


def test_native_off_is_said_and_pure_python_works():
    code = (
        "from pywasi import native, WASI; print(native.ENABLED, native.STATUS);"
        "w = WASI(args=['a']); print(w._native)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                         env={**os.environ, "PYWASI_NATIVE": "0"})
    assert out.stdout.splitlines() == ["False off: PYWASI_NATIVE=0", "None"]
    audit = subprocess.run([sys.executable, "-m", "pywasi", "audit"], capture_output=True, text=True, cwd=ROOT,
                           env={**os.environ, "PYWASI_NATIVE": "0"})
    assert audit.stdout.splitlines()[-1] == "host calls in C: off: PYWASI_NATIVE=0"


# One linker for many runs -------------------------------------------------------------

ECHO_ARGS = """
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; writes its argv[1] to stdout: args in C, fd_write through the trampoline
  (func (export "_start")
    (drop (call $sizes (i32.const 0) (i32.const 4)))
    (drop (call $args (i32.const 16) (i32.const 256)))
    (i32.store (i32.const 8) (i32.load (i32.const 20)))
    (i32.store (i32.const 12) (i32.sub (i32.sub (i32.load (i32.const 4))
                                               (i32.sub (i32.load (i32.const 20)) (i32.const 256)))
                                       (i32.const 1)))
    (drop (call $write (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 64)))))
"""


def test_one_linker_serves_every_wasi_object_by_its_store():
    # The linker is defined once (by the first WASI object); every run in it
    # reaches the WASI object its store was started with, on its own thread
    # or not, and the defining object's own fate changes nothing.
    linker = wasmtime.Linker(ENGINE)
    definer = WASI(args=["prog", "definer"])
    definer.define(linker)
    definer.close()
    module = wasmtime.Module(ENGINE, wasmtime.wat2wasm(ECHO_ARGS))
    outputs: dict[int, bytes] = {}

    def run(n: int) -> None:
        out = io.BytesIO()
        with WASI(args=["prog", f"run {n}"], stdout=out) as wasi:
            store = wasmtime.Store(ENGINE)
            assert wasi.start(linker.instantiate(store, module), store) == 0
            assert wasi._bridge.calls() == 3
        outputs[n] = out.getvalue()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run(8)
    assert outputs == {n: f"run {n}".encode() for n in range(9)}


def test_a_store_is_forgotten_with_its_bindings():
    linker = wasmtime.Linker(ENGINE)
    first, second = WASI(args=["a"]), WASI(args=["c", "dd"])
    first.define(linker)
    store = wasmtime.Store(ENGINE)
    module = compiled(ENGINE, "preview1")
    gc.collect()  # stores of earlier tests, gone
    baseline = native.bound_stores()
    first.finalize_bindings(linker.instantiate(store, module), store)
    assert native.bound_stores() == baseline + 1
    first.close()
    second.finalize_bindings(linker.instantiate(store, module), store)  # replaces the closed one
    assert native.bound_stores() == baseline + 1
    second.close()
    del store
    gc.collect()
    assert native.bound_stores() == baseline  # deleting the store forgot it


def test_closing_a_store_forgets_it_before_its_address_is_reused():
    gc.collect()
    linker = wasmtime.Linker(ENGINE)
    wasi = WASI(args=["a"])
    wasi.define(linker)
    store = wasmtime.Store(ENGINE)
    wasi.finalize_bindings(linker.instantiate(store, compiled(ENGINE, "preview1")), store)
    baseline = native.bound_stores()
    store.close()
    assert native.bound_stores() == baseline - 1
    wasi.close()


# fd calls ------------------------------------------------------------------------------
# fd_read, fd_write, fd_pread, fd_pwrite, fd_seek, fd_tell and fd_fdstat_get on
# descriptors over a host fd, each guest of a pair on its own copy of the same
# files: the same answers, the same memory, the same files after.

FILE = bytes(range(256)) * 40
FD_CALLS = ("fd_read", "fd_write", "fd_pread", "fd_pwrite", "fd_seek", "fd_tell", "fd_fdstat_get")
SCRATCH = 1024  # where a path to open is put (before the memory is filled)
DIR_FD = 3  # the preopen


def _tree(root) -> None:
    root.mkdir()
    for name in ("rw", "ro", "app", "wo", "in"):
        (root / name).write_bytes(FILE)
    (root / "out").write_bytes(b"")
    (root / "sub").mkdir()


def open_at(g: Guest, path: bytes, oflags: int = 0, rights: int = RIGHTS.ALL, fdflags: int = 0) -> int:
    rights &= sum(g.wasi._abi.Rights)  # wasi_unstable has fewer
    g.memory.write(g.store, path, SCRATCH)
    result = g.exports["path_open"](g.store, DIR_FD, 0, SCRATCH, len(path), oflags, rights, rights, fdflags, 0)
    assert result == 0, (path, result)
    return int.from_bytes(g.memory.read(g.store, 0, 4), "little")


class FdGuest(Guest):
    """A guest over a directory of files (preopened at fd 3) with files open
    at 4 (read-write), 5 (read-only), 6 (append), 7 (write-only) and 8 (a
    directory), or after the preopens given; stdin and stdout are files
    there, stderr /dev/null."""

    def __init__(self, version: str, python: bool, root, **options):
        self.streams = [open(root / "in", "rb"), open(root / "out", "wb"), open(os.devnull, "wb")]
        stdio = dict(zip(("stdin", "stdout", "stderr"), self.streams))
        super().__init__(version, python, **{"preopens": {"/d": str(root)}, **stdio, **options})
        self.root = root
        read_only = RIGHTS.FD_READ | RIGHTS.FD_SEEK | RIGHTS.FD_TELL
        opened = [
            open_at(self, b"rw"),
            open_at(self, b"ro", rights=read_only),
            open_at(self, b"app", fdflags=FDFLAGS.APPEND),
            open_at(self, b"wo", rights=RIGHTS.FD_WRITE),
            open_at(self, b"sub", oflags=OFLAGS.DIRECTORY, rights=RIGHTS.ALL & ~RIGHTS.FD_WRITE),
        ]
        first = 3 + len(options.get("preopens", [None]))
        assert opened == list(range(first, first + 5))

    def close(self) -> None:
        self.wasi.close()
        for stream in self.streams:
            stream.close()

    def files(self) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted(self.root.iterdir()) if p.is_file()}


@contextlib.contextmanager
def fd_pair(version: str, pages: int = 1, **options):
    with tempfile.TemporaryDirectory() as tmp:
        roots = Path(tmp) / "c", Path(tmp) / "py"
        guests = []
        try:
            for root, python in zip(roots, (False, True)):
                _tree(root)
                guests.append(FdGuest(version, python, root, **options))
                guests[-1].fill(pages)
            yield guests
        finally:
            for g in guests:
                g.close()


def fd_number():
    return st.one_of(st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 100, 65536 + 4, -1, 2**31 - 1]),
                     st.integers(-(2**31), 2**31 - 1))


@st.composite
def iovecs(draw, pages: int):
    """(pointer, count, records): an iovec list put in memory, or a hostile
    pointer and count; each record's buffer anywhere, its length small or
    huge."""
    end = pages * PAGE
    count = draw(st.integers(0, 6))
    records = [
        (draw(st.one_of(st.integers(0, end), pointer(pages))),
         draw(st.one_of(st.integers(0, 300), st.sampled_from([0, 1, end, 2**32 - 1]), st.integers(0, 2**32 - 1))))
        for _ in range(count)
    ]
    at = draw(st.one_of(st.integers(0, end // 8 - 8).map(lambda i: i * 8), pointer(pages)))
    n = draw(st.one_of(st.just(count), st.sampled_from([0, 1, 1024, 1025, 2**32 - 1]), st.integers(-(2**31), 2**31 - 1)))
    return at, n, records


def put_iovecs(g: Guest, at: int, records) -> None:
    data = b"".join(struct.pack("<II", buf & 0xFFFFFFFF, n & 0xFFFFFFFF) for buf, n in records)
    at &= 0xFFFFFFFF
    if data and at + len(data) <= g.memory.data_len(g.store):
        g.memory.write(g.store, data, at)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", ["fd_read", "fd_write", "fd_pread", "fd_pwrite"])
@FUZZ
@given(pages=st.integers(1, MAX_PAGES), data=st.data())
def test_fd_reads_and_writes_answer_as_python_does(version, name, pages, data):
    fd = data.draw(fd_number())
    at, n, records = data.draw(iovecs(pages))
    out = data.draw(pointer(pages))
    offset = data.draw(st.one_of(st.integers(0, 20000), st.integers(-(2**63), 2**63 - 1)))
    with fd_pair(version, pages) as (c, py):
        answers = []
        for g in (c, py):
            put_iovecs(g, at, records)
            args = (fd, at, n, offset, out) if name in ("fd_pread", "fd_pwrite") else (fd, at, n, out)
            answers.append(g.call(name, *args))
            answers.append(g.call("fd_tell", fd, 0)[0])
        assert answers[:2] == answers[2:]
        assert c.files() == py.files()


@pytest.mark.parametrize("version", VERSIONS)
@FUZZ
@given(pages=st.integers(1, MAX_PAGES), data=st.data())
def test_fd_seek_and_tell_answer_as_python_does(version, pages, data):
    fd = data.draw(fd_number())
    offset = data.draw(st.one_of(st.integers(-20000, 20000), st.sampled_from([0, -1, 2**63 - 1, -(2**63)]),
                                 st.integers(-(2**63), 2**63 - 1)))
    whence = data.draw(st.one_of(st.integers(0, 3), st.integers(-(2**31), 2**31 - 1)))
    out = data.draw(pointer(pages))
    with fd_pair(version, pages) as (c, py):
        assert c.call("fd_seek", fd, offset, whence, out) == py.call("fd_seek", fd, offset, whence, out)
        assert c.call("fd_tell", fd, out) == py.call("fd_tell", fd, out)


@pytest.mark.parametrize("version", VERSIONS)
@FUZZ
@given(pages=st.integers(1, MAX_PAGES), data=st.data())
def test_fd_fdstat_get_answers_as_python_does(version, pages, data):
    fd = data.draw(fd_number())
    out = data.draw(pointer(pages))
    with fd_pair(version, pages) as (c, py):
        assert c.call("fd_fdstat_get", fd, out) == py.call("fd_fdstat_get", fd, out)


def _u32(g: Guest, at: int) -> int:
    return int.from_bytes(g.memory.read(g.store, at, at + 4), "little")


def _u64(g: Guest, at: int) -> int:
    return int.from_bytes(g.memory.read(g.store, at, at + 8), "little")


IOV, OUT, BUF = 16, 32, 256  # an iovec, an out value, its buffer


def one_iovec(g: Guest, data: bytes = b"", length: int | None = None) -> None:
    g.memory.write(g.store, struct.pack("<II", BUF, len(data) if length is None else length), IOV)
    if data:
        g.memory.write(g.store, data, BUF)


@pytest.mark.parametrize("version", VERSIONS)
def test_fd_calls_are_served_in_c(version, tmp_path):
    _tree(tmp_path / "d")
    g = FdGuest(version, False, tmp_path / "d")
    try:
        for name in FD_CALLS:
            _python_raises(g, name)
        one_iovec(g, length=100)
        assert off_main(g, "fd_read", 4, IOV, 1, OUT)[0] == 0
        assert _u32(g, OUT) == 100 and g.memory.read(g.store, BUF, BUF + 100) == FILE[:100]
        assert off_main(g, "fd_pread", 5, IOV, 1, 1000, OUT)[0] == 0
        assert g.memory.read(g.store, BUF, BUF + 100) == FILE[1000:1100]
        one_iovec(g, b"hello")
        assert off_main(g, "fd_write", 6, IOV, 1, OUT)[0] == 0  # appended
        assert off_main(g, "fd_pwrite", 4, IOV, 1, 3, OUT)[0] == 0
        assert off_main(g, "fd_write", 1, IOV, 1, OUT)[0] == 0  # stdout, a host file
        whence_end = 1 if version == "unstable" else 2  # wasi_unstable: cur, end, set
        assert off_main(g, "fd_seek", 4, -10, whence_end, OUT)[0] == 0 and _u64(g, OUT) == len(FILE) - 10
        assert off_main(g, "fd_tell", 4, OUT)[0] == 0 and _u64(g, OUT) == len(FILE) - 10
        assert off_main(g, "fd_fdstat_get", 7, OUT)[0] == 0
        assert g.memory.read(g.store, OUT, OUT + 24) == struct.pack("<BxHxxxxQQ", 4, 0, RIGHTS.FD_WRITE, RIGHTS.FD_WRITE)
        assert off_main(g, "fd_read", 7, IOV, 1, OUT)[0] == Errno.NOTCAPABLE
        assert g.wasi._native.moved() == (200, 15)
        assert g.wasi._counts() == (9 + 5, 200, 15)  # and the five path_open in Python
        g.streams[1].flush()
        files = g.files()
        assert files["app"] == FILE + b"hello" and files["rw"][:8] == FILE[:3] + b"hello" and files["out"] == b"hello"
    finally:
        g.close()


def test_fd_trap_messages_name_the_function():
    with fd_pair("preview1") as (c, py):
        for name in ("fd_write", "fd_read", "fd_seek"):
            _python_raises(c, name)
        for g in (c, py):
            g.memory.write(g.store, struct.pack("<IIII", 0, 4, PAGE - 2, 5), IOV)
            assert "fd_write: out of bounds: 5 bytes at 0xfffe, memory is 65536 bytes" in (
                off_main(g, "fd_write", 1, IOV, 2, OUT)[0])
            assert "fd_read: misaligned pointer 0x11 (must be aligned to 4)" in off_main(g, "fd_read", 4, 17, 1, OUT)[0]
            assert "fd_seek: out of bounds: 8 bytes at 0x10000" in off_main(g, "fd_seek", 4, 0, 0, PAGE)[0]


def test_iovec_counts_as_python_has_them():
    # IOV_MAX of them is as many as readv(2) takes; one more is EINVAL,
    # before any of them is looked at; more than the inline room C keeps.
    with fd_pair("preview1", pages=2) as (c, py):
        for name in ("fd_write", "fd_read", "fd_pwrite"):
            _python_raises(c, name)
        answers = []
        for g in (c, py):
            g.memory.write(g.store, struct.pack("<II", BUF, 1) * IOV_MAX, PAGE)  # one byte each, all the same
            answers.append([
                off_main(g, "fd_write", 4, PAGE, IOV_MAX, OUT),
                off_main(g, "fd_read", 4, PAGE, IOV_MAX + 1, OUT),
                off_main(g, "fd_pwrite", 4, PAGE + 8, 9, 7, OUT),
                off_main(g, "fd_read", 4, PAGE, IOV_MAX, OUT),
            ])
        assert answers[0] == answers[1]
        assert [a[0] for a in answers[0]] == [0, Errno.INVAL, 0, 0]
        assert c.files() == py.files()


# What C hands to Python --------------------------------------------------------------


def answered_in_python(g: Guest, name: str, *args) -> bool:
    _python_raises(g, name)
    answer = off_main(g, name, *args)[0]
    g.wasi._bridge.slots[_slot(g, name)] = g.wasi._bridge.live[_slot(g, name)]
    return "answered in Python" in str(answer)


@pytest.mark.parametrize("stdout", ["captured", "limited"])
def test_captured_or_limited_stdout_is_written_in_python(stdout, tmp_path):
    out = tmp_path / "out"
    with open(out, "wb") as f:
        options = dict(stdout=io.BytesIO()) if stdout == "captured" else dict(stdout=f, max_output=3)
        g = Guest("preview1", python=False, **options)
        one_iovec(g, b"hello")
        assert answered_in_python(g, "fd_write", 1, IOV, 1, OUT)
        assert answered_in_python(g, "fd_fdstat_get", 1, OUT)
        assert off_main(g, "fd_write", 1, IOV, 1, OUT)[0] == 0 and _u32(g, OUT) == (5 if stdout == "captured" else 3)
        # stderr: the host's fd 2, under the same limit
        assert answered_in_python(g, "fd_write", 2, IOV, 1, OUT) == (stdout == "limited")
        g.wasi.close()
    if stdout == "limited":
        assert out.read_bytes() == b"hel"


def test_memory_files_directories_and_free_numbers_are_python_s(tmp_path):
    _tree(tmp_path / "d")
    g = FdGuest("preview1", False, tmp_path / "d", preopens={"/d": str(tmp_path / "d"), "/m": MemoryDir({"f": b"x"})})
    try:
        g.memory.write(g.store, b"f", SCRATCH)
        assert g.exports["path_open"](g.store, 4, 0, SCRATCH, 1, 0, RIGHTS.FD_READ, 0, 0, 0) == 0  # /m is fd 4
        memory_file = _u32(g, 0)
        one_iovec(g, length=1)
        assert answered_in_python(g, "fd_read", memory_file, IOV, 1, OUT)
        assert answered_in_python(g, "fd_fdstat_get", 4, OUT)  # a MemoryDir
        assert answered_in_python(g, "fd_fdstat_get", 9, OUT)  # a host directory (sub)
        assert answered_in_python(g, "fd_tell", 99, OUT)  # no descriptor
        assert off_main(g, "fd_tell", 99, OUT)[0] == Errno.BADF
        assert not answered_in_python(g, "fd_read", 5, IOV, 1, OUT)  # rw, a host file
    finally:
        g.close()


def test_an_overridden_fd_handler_answers(monkeypatch):
    class Counting(Host):
        def fd_write(self, fd, iovs):
            return 7

    monkeypatch.setattr("pywasi.wasi.Host", Counting)
    g = Guest("preview1", python=False)
    one_iovec(g, b"hello")
    assert off_main(g, "fd_write", 2, IOV, 1, OUT)[0] == 0 and _u32(g, OUT) == 7
    assert not answered_in_python(g, "fd_fdstat_get", 2, OUT)


def test_a_renumbered_or_closed_fd_is_seen_by_the_next_c_call(tmp_path):
    _tree(tmp_path / "d")
    g = FdGuest("preview1", False, tmp_path / "d")
    try:
        one_iovec(g, length=4)
        assert off_main(g, "fd_fdstat_get", 7, OUT)[0] == 0 and g.memory.read(g.store, OUT, OUT + 1) == b"\4"
        assert g.call("fd_renumber", 8, 7)[0] == 0  # the directory, onto the write-only file
        assert answered_in_python(g, "fd_fdstat_get", 7, OUT)
        assert g.call("fd_renumber", 5, 6)[0] == 0  # the read-only file, onto the append-only one
        assert off_main(g, "fd_read", 6, IOV, 1, OUT)[0] == 0 and g.memory.read(g.store, BUF, BUF + 4) == FILE[:4]
        assert off_main(g, "fd_read", 5, IOV, 1, OUT)[0] == Errno.BADF
        assert g.call("fd_fdstat_set_rights", 6, RIGHTS.FD_SEEK, 0)[0] == 0
        assert off_main(g, "fd_read", 6, IOV, 1, OUT)[0] == Errno.NOTCAPABLE
        assert g.call("fd_fdstat_set_flags", 4, FDFLAGS.APPEND)[0] == 0
        assert off_main(g, "fd_fdstat_get", 4, OUT)[0] == 0
        assert g.memory.read(g.store, OUT + 2, OUT + 4) == b"\1\0"
        assert g.call("fd_close", 4)[0] == 0
        assert off_main(g, "fd_tell", 4, OUT)[0] == Errno.BADF
        assert not answered_in_python(g, "fd_tell", 0, OUT)
    finally:
        g.close()


# Streams that can block: C serves what is ready now ------------------------------------

ATOMIC = os.pathconf("/", "PC_PIPE_BUF")


def _pipe_pair(scenario: str):
    """A pipe as stdin or stdout of each guest of a pair, as the scenario has
    it; (guests, the pipes' other ends)."""
    guests, ends = [], []
    for python in (False, True):
        r, w = os.pipe()
        if scenario.startswith("read"):
            g = Guest("preview1", python, stdin=r)
            ends.append((w, r))
            if scenario == "read ready":
                os.write(w, b"abc")
        else:
            g = Guest("preview1", python, stdout=w)
            ends.append((r, w))
            if scenario == "write, reader gone":
                os.close(r)
            if scenario == "write full, nonblocking":
                os.set_blocking(w, False)
                with contextlib.suppress(BlockingIOError):
                    while True:
                        os.write(w, b"x" * 65536)
                os.set_blocking(w, True)
        if "nonblocking" in scenario:
            assert g.call("fd_fdstat_set_flags", 0 if scenario.startswith("read") else 1, FDFLAGS.NONBLOCK)[0] == 0
        guests.append(g)
    return guests, ends


PIPE_SCENARIOS = {
    # scenario: (call, whether C answers)
    "read ready": (("fd_read", 0), True),
    "read empty": (("fd_read", 0), False),  # Python waits, where a stop can end the wait
    "read empty, nonblocking": (("fd_read", 0), True),  # EAGAIN
    "write small": (("fd_write", 1), True),
    "write large": (("fd_write", 1), False),  # more than a ready pipe surely takes
    "write, reader gone": (("fd_write", 1), True),  # EPIPE
    "write full, nonblocking": (("fd_write", 1), True),  # EAGAIN
}


@pytest.mark.parametrize("scenario", PIPE_SCENARIOS)
def test_pipes_answer_as_python_does(scenario):
    (name, fd), in_c = PIPE_SCENARIOS[scenario]
    (c, py), ends = _pipe_pair(scenario)
    try:
        size = ATOMIC + 1 if scenario == "write large" else 10
        for g in (c, py):
            one_iovec(g, b"y" * size if name == "fd_write" else b"", length=size)
        _python_raises(c, name)
        c_answer = off_main(c, name, fd, IOV, 1, OUT)
        assert ("answered in Python" not in str(c_answer[0])) == in_c
        if in_c:
            assert c_answer == off_main(py, name, fd, IOV, 1, OUT)
    finally:
        for g in (c, py):
            g.wasi.close()
        for pair in ends:
            for end in pair:
                with contextlib.suppress(OSError):
                    os.close(end)


def test_a_connection_is_served_in_c_when_ready():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        g = Guest("preview1", python=False, sockets=[listener])  # at fd 3
        try:
            client = socket.create_connection(listener.getsockname())
            assert g.call("sock_accept", 3, 0, OUT)[0] == 0
            conn = _u32(g, OUT)
            one_iovec(g, b"pong")
            assert not answered_in_python(g, "fd_write", conn, IOV, 1, OUT)
            assert client.recv(10) == b"pong"
            one_iovec(g, length=10)
            assert answered_in_python(g, "fd_read", conn, IOV, 1, OUT)  # nothing to read: Python waits
            client.sendall(b"ping")
            time.sleep(0.05)
            _python_raises(g, "fd_read")
            assert off_main(g, "fd_read", conn, IOV, 1, OUT)[0] == 0
            assert g.memory.read(g.store, BUF, BUF + _u32(g, OUT)) == b"ping"
            assert off_main(g, "fd_read", 3, IOV, 1, OUT)[0] == Errno.NOTCAPABLE  # the listener
            assert g.call("fd_fdstat_set_flags", conn, FDFLAGS.NONBLOCK)[0] == 0
            assert off_main(g, "fd_read", conn, IOV, 1, OUT)[0] == Errno.AGAIN  # in C: the socket's own mode
            client.close()
            time.sleep(0.05)
            assert off_main(g, "fd_read", conn, IOV, 1, OUT)[0] == 0 and _u32(g, OUT) == 0  # the end
            assert answered_in_python(g, "fd_fdstat_get", 3, OUT) is False
        finally:
            g.wasi.close()


# Python changes the table under running C calls ------------------------------------------

PREAD_LOOP = """
(module
  (import "wasi_snapshot_preview1" "fd_pread" (func $pread (param i32 i32 i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "\\40\\00\\00\\00\\10\\00\\00\\00")  ;; an iovec: 16 bytes at 64
  (data (i32.const 128) "a")  ;; a path, for the host's path_open
  ;; loop(fd, n): n preads of 16 bytes at 0; counts how they went: at 16, reads of
  ;; only 'A'; at 20, EBADF; at 24, anything else
  (func $count (param $at i32)
    (i32.store (local.get $at) (i32.add (i32.load (local.get $at)) (i32.const 1))))
  (func (export "loop") (param $fd i32) (param $n i32)
    (local $i i32) (local $r i32) (local $k i32) (local $bad i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (i64.store (i32.const 64) (i64.const 0))
        (i64.store (i32.const 72) (i64.const 0))
        (local.set $r (call $pread (local.get $fd) (i32.const 0) (i32.const 1) (i64.const 0) (i32.const 8)))
        (if (i32.eqz (local.get $r))
          (then
            (local.set $bad (i32.ne (i32.load (i32.const 8)) (i32.const 16)))
            (local.set $k (i32.const 0))
            (block $checked
              (loop $byte
                (br_if $checked (i32.ge_u (local.get $k) (i32.const 16)))
                (if (i32.ne (i32.load8_u (i32.add (i32.const 64) (local.get $k))) (i32.const 65))
                  (then (local.set $bad (i32.const 1))))
                (local.set $k (i32.add (local.get $k) (i32.const 1)))
                (br $byte)))
            (call $count (select (i32.const 24) (i32.const 16) (local.get $bad))))
          (else (call $count (select (i32.const 20) (i32.const 24) (i32.eq (local.get $r) (i32.const 8))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))))
"""


def test_a_host_fd_is_never_used_after_python_closed_it(tmp_path):
    # A guest thread preads file a at fd 4 in C, while this thread closes
    # fd 4 (or renumbers another fd of file a onto it) through Python and
    # opens file b on the host, which gets the host fd number just freed,
    # then opens a at fd 4 again. A C call must read a, or find fd 4
    # closed: never b.
    (tmp_path / "a").write_bytes(b"A" * 16)
    (tmp_path / "b").write_bytes(b"B" * 16)
    store = wasmtime.Store(ENGINE)
    linker = wasmtime.Linker(ENGINE)
    wasi = WASI(preopens={"/d": str(tmp_path)})
    wasi.define(linker)
    instance = linker.instantiate(store, wasmtime.Module(ENGINE, wasmtime.wat2wasm(PREAD_LOOP)))
    wasi.finalize_bindings(instance, store)
    call = wasi.wasi_import
    rights = RIGHTS.FD_READ | RIGHTS.FD_SEEK

    def open_a() -> int:
        assert call["path_open"](DIR_FD, 0, 128, 1, 0, rights, rights, 0, 32) == 0
        return int.from_bytes(instance.exports(store)["memory"].read(store, 32, 36), "little")

    assert open_a() == 4
    worker = threading.Thread(target=lambda: instance.exports(store)["loop"](store, 4, 400_000))
    worker.start()
    swaps = 0
    try:
        while worker.is_alive():
            if swaps % 2:
                assert call["fd_close"](4) == 0
            else:
                assert open_a() == 5
                assert call["fd_renumber"](5, 4) == 0
            b = os.open(tmp_path / "b", os.O_RDONLY)  # the number a had, most often
            os.close(b)
            if swaps % 2:
                assert open_a() == 4
            swaps += 1
    finally:
        worker.join()
        wasi.close()
    memory = instance.exports(store)["memory"].read(store, 16, 28)
    good, closed, other = struct.unpack("<III", memory)
    assert other == 0 and good + closed == 400_000
    assert swaps > 100 and closed > 0


BIG_READ = """
(module
  (import "wasi_snapshot_preview1" "fd_pread" (func $pread (param i32 i32 i32 i64 i32) (result i32)))
  (memory (export "memory") 1025)
  (data (i32.const 0) "\\00\\00\\01\\00\\00\\00\\00\\04")  ;; an iovec: 64 MiB at 64 KiB
  (data (i32.const 128) "zero")
  ;; read(fd): at 16, 1 while its one pread is under way; at 20, its errno
  (func (export "read") (param $fd i32)
    (i32.store (i32.const 16) (i32.const 1))
    (i32.store (i32.const 20) (call $pread (local.get $fd) (i32.const 0) (i32.const 1) (i64.const 0) (i32.const 8)))
    (i32.store (i32.const 16) (i32.const 0))))
"""


@pytest.mark.parametrize("close", ["fd_close", "wasi.close"])
def test_a_close_waits_for_the_c_call_using_the_fd(close):
    # A guest thread reads 64 MiB of /dev/zero into memory filled with 0xff,
    # in one C call; this thread closes the fd (or the whole WASI object)
    # meanwhile. Either the call began first, and the close returns only
    # once it is done (the last byte is read by then), or it began after,
    # and found the fd closed.
    store = wasmtime.Store(ENGINE)
    linker = wasmtime.Linker(ENGINE)
    wasi = WASI(preopens={"/dev": "/dev"})
    wasi.define(linker)
    instance = linker.instantiate(store, wasmtime.Module(ENGINE, wasmtime.wat2wasm(BIG_READ)))
    wasi.finalize_bindings(instance, store)
    memory = instance.exports(store)["memory"]
    size = memory.data_len(store)
    view = (ctypes.c_ubyte * size).from_address(ctypes.addressof(memory.data_ptr(store).contents))
    ctypes.memset(ctypes.addressof(view) + PAGE, 0xFF, size - PAGE)
    rights = RIGHTS.FD_READ | RIGHTS.FD_SEEK
    assert wasi.wasi_import["path_open"](DIR_FD, 0, 128, 4, 0, rights, rights, 0, 32) == 0
    trapped = []

    def read():
        try:
            instance.exports(store)["read"](store, 4)
        except wasmtime.Trap as e:  # after wasi.close
            trapped.append(e)

    worker = threading.Thread(target=read)
    try:
        worker.start()
        while view[16] == 0 and worker.is_alive():
            pass
        time.sleep(0.002)
        if close == "fd_close":
            assert wasi.wasi_import["fd_close"](4) == 0
        else:
            wasi.close()
        last = view[size - 1]
        worker.join()
        errno = int.from_bytes(bytes(view[20:24]), "little")
        if close == "fd_close":
            assert (errno, last) in ((0, 0), (Errno.BADF, 0xFF))
        else:  # a call after close traps
            assert (errno, last) in ((0, 0), (0, 0xFF)) and (last == 0) == (not trapped)
    finally:
        worker.join()
        wasi.close()

