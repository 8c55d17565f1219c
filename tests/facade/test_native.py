"""The C hot path (pywasi/native.py, generated/native.c): the calls it serves
answer exactly as the Python stubs do (errno, memory, trap message) for
hostile arguments, and every call it must not serve reaches Python: before
start, under an interrupt, with trace or stats, from another store, and when
a subclass overrides the handler."""

from __future__ import annotations

import gc
import io
import os
import subprocess
import sys
import threading
import time

import pytest
import wasmtime
from hypothesis import HealthCheck, given, settings, strategies as st

from pywasi import WASI, NotStarted, Stats, native
from pywasi.handlers.host import Host
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
    _python_raises(g, "fd_write")
    g.call("fd_write", 1, 0, 0, 0)  # served by Python
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
