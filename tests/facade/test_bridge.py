"""The host-call bridge: traps with the function's name, memory that grows
or moves, exceptions kept per thread, the public-API fallback, Ctrl-C."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import textwrap
import threading

import pytest
import wasmtime

from pywasi import WASI, NotStarted, bridge, native
from tests.support import ROOT, wat

WRITE_AT = """
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 32) "grown\\n")
  (func (export "write_at") (param $iov i32) (param $out i32) (result i32)
    (call $write (i32.const 1) (local.get $iov) (i32.const 1) (local.get $out)))
  (func (export "grow") (param $pages i32) (result i32) (memory.grow (local.get $pages)))
  (func (export "store") (param $at i32) (param $value i32) (i32.store (local.get $at) (local.get $value)))
  (func (export "_start")))
"""


def setup(text=WRITE_AT, engine=None, **options):
    engine = engine or wasmtime.Engine()
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    out = io.BytesIO()
    wasi = WASI(stdout=out, **options)
    wasi.define(linker)
    instance = linker.instantiate(store, wasmtime.Module(engine, wat(text)))
    wasi.start(instance, store)
    return wasi, instance.exports(store), store, out


@pytest.mark.parametrize(
    "iov, out, message",
    [
        (65536 - 4, 0, r"fd_write: out of bounds: 8 bytes at 0xfffc, memory is 65536 bytes"),
        (2, 0, r"fd_write: misaligned pointer 0x2 \(must be aligned to 4\)"),
        (0, -4, r"fd_write: out of bounds: 4 bytes at 0xfffffffc"),
    ],
)
def test_bad_pointers_trap_naming_the_function(iov, out, message):
    wasi, exports, store, _ = setup()
    with pytest.raises(wasmtime.WasmtimeError, match=message):
        exports["write_at"](store, iov, out)


def test_access_past_the_old_end_after_growth():
    wasi, exports, store, out = setup()
    assert exports["grow"](store, 2) == 1
    at = 65536 * 2 + 64  # in the new pages: the stub's view must be refreshed
    exports["store"](store, at, 32)
    exports["store"](store, at + 4, 6)
    assert exports["write_at"](store, at, at + 8) == 0
    assert out.getvalue() == b"grown\n"


@pytest.mark.skipif(
    not hasattr(wasmtime.Config, "memory_reservation"),
    reason="this wasmtime-py cannot configure the memory reservation (memories never move)",
)
def test_memory_that_moves_on_growth():
    config = wasmtime.Config()
    config.memory_reservation = 0
    config.memory_reservation_for_growth = 0
    config.memory_guard_size = 0
    engine = wasmtime.Engine(config)
    wasi, exports, store, out = setup(engine=engine)
    memory = exports["memory"]
    assert bridge.memory_may_move(store, memory)
    base = memory.data_ptr(store)
    for _ in range(5):
        exports["grow"](store, 1)
        # Pointers inside the *old* size: only a refresh before the call
        # keeps the stub off the freed mapping.
        exports["store"](store, 0, 32)
        exports["store"](store, 4, 6)
        assert exports["write_at"](store, 0, 8) == 0
    assert out.getvalue() == b"grown\n" * 5
    assert memory.data_ptr(store) is not base


def test_default_engine_memory_does_not_move():
    _, exports, store, _ = setup()
    assert not bridge.memory_may_move(store, exports["memory"])


def test_internal_error_is_a_trap_with_the_cause_chained():
    class Broken(io.RawIOBase):
        def write(self, data):
            raise ZeroDivisionError("broken sink")

    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    wasi = WASI(stdout=Broken())
    wasi.define(linker)
    text = WRITE_AT.replace('(func (export "_start"))', """(func (export "_start")
        (i32.store (i32.const 0) (i32.const 32)) (i32.store (i32.const 4) (i32.const 6))
        (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))""")
    instance = linker.instantiate(store, wasmtime.Module(engine, wat(text)))
    with pytest.raises(wasmtime.WasmtimeError, match="fd_write failed: ZeroDivisionError: broken sink") as info:
        wasi.start(instance, store)
    assert isinstance(info.value.__cause__, ZeroDivisionError)


EXIT_LOOP = """
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (import "wasi_snapshot_preview1" "sched_yield" (func $yield (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (param) (local $i i32)
    (loop $l
      (drop (call $yield))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 20000))))
    (call $exit (i32.const {code}))))
"""


def test_exceptions_stay_in_their_thread():
    # Programs in eight threads at once each exit with their own code, five
    # times over: every start() sees its own ProcExit, never another thread's.
    module_text = {c: wat(EXIT_LOOP.format(code=c)) for c in range(1, 9)}
    results: dict[int, list[int]] = {c: [] for c in module_text}
    errors = []

    def one(code: int):
        try:
            engine = wasmtime.Engine()
            module = wasmtime.Module(engine, module_text[code])
            for _ in range(5):
                store = wasmtime.Store(engine)
                linker = wasmtime.Linker(engine)
                with WASI() as wasi:
                    wasi.define(linker)
                    results[code].append(wasi.start(linker.instantiate(store, module), store))
        except BaseException as e:  # pragma: no cover - shows up in the assert
            errors.append(e)

    threads = [threading.Thread(target=one, args=(c,)) for c in module_text]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert results == {c: [c] * 5 for c in module_text}


def test_public_api_fallback_in_a_subprocess():
    script = textwrap.dedent(
        f"""
        import io, wasmtime
        from pywasi import WASI, bridge, ProcExit
        from tests.support import wat
        assert not bridge.RAW
        engine = wasmtime.Engine(); store = wasmtime.Store(engine); linker = wasmtime.Linker(engine)
        out = io.BytesIO(); w = WASI(stdout=out); w.define(linker)
        inst = linker.instantiate(store, wasmtime.Module(engine, wat({WRITE_AT!r})))
        w.start(inst, store)
        e = inst.exports(store)
        e["store"](store, 0, 32); e["store"](store, 4, 6)
        assert e["write_at"](store, 0, 8) == 0
        try:
            e["write_at"](store, 2, 8)
        except wasmtime.Trap as t:
            assert "fd_write: misaligned pointer" in str(t), str(t)
        print(out.getvalue().decode(), end="")
        """
    )
    env = dict(os.environ, PYWASI_BRIDGE="public")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT)
    assert (out.returncode, out.stdout, out.stderr) == (0, "grown\n", "")


SIGINT_SCRIPT = """
import os, signal, sys, threading, time
from pywasi import run
from tests.support import wat
module = wat(sys.argv[1])
stdin, writer = os.pipe()  # stays open and empty: reading it waits
threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
try:
    run(module, stdin=stdin)
except KeyboardInterrupt:
    # the process is healthy: run another program
    print("interrupted; next run exits", run(wat('(module (import "wasi_snapshot_preview1" "proc_exit" (func $e (param i32))) (memory (export "memory") 1) (func (export "_start") (call $e (i32.const 5))))')).returncode)
"""

HOST_CALL_LOOP = """
(module
  (import "wasi_snapshot_preview1" "sched_yield" (func $yield (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (loop $l (drop (call $yield)) (br $l))))
"""
PURE_LOOP = '(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))'
# Blocked in a host call: a poll_oneoff on the longest clock there is, and
# an fd_read of a pipe nobody writes to.
POLL_FOREVER = """
(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store8 (i32.const 8) (i32.const 0))          ;; a clock
    (i32.store (i32.const 16) (i32.const 1))          ;; monotonic
    (i64.store (i32.const 24) (i64.const -1))         ;; 2**64 - 1 ns from now
    (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))))
"""
READ_PIPE = """
(module
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 16))
    (drop (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))))
"""


@pytest.mark.parametrize(
    "module", [HOST_CALL_LOOP, PURE_LOOP, POLL_FOREVER, READ_PIPE],
    ids=["host-calls", "no-host-calls", "blocked-in-poll", "blocked-in-read"],
)
def test_ctrl_c_ends_start_with_keyboard_interrupt(module):
    out = subprocess.run([sys.executable, "-c", SIGINT_SCRIPT, module], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert (out.returncode, out.stdout, out.stderr) == (0, "interrupted; next run exits 5\n", "")


def test_supported_wasmtime_range():
    from importlib.metadata import requires, version

    spec = next(r for r in requires("pywasi") if r.startswith("wasmtime"))
    bounds = dict(re.findall(r"(>=|<)\s*(\d+)", spec))
    low, high = int(bounds[">="]), int(bounds["<"])
    major = int(version("wasmtime").split(".")[0])
    assert low <= major < high, f"wasmtime {version('wasmtime')} is outside the supported {spec}"
    assert bridge.RAW or os.environ.get("PYWASI_BRIDGE") == "public", "the raw C API is missing from this wheel"
    # wasmtime-py's hook through which a host call's exception reaches the thread that called
    assert bridge._HOOKED and wasmtime._func.maybe_raise_last_exn is bridge._raise_kept


REENTER_SCRIPT = """
import io, sys, wasmtime
from pywasi import WASI
from tests.support import wat
config = wasmtime.Config()
config.memory_reservation = 0
config.memory_reservation_for_growth = 0
config.memory_guard_size = 0
engine = wasmtime.Engine(config)
store = wasmtime.Store(engine); linker = wasmtime.Linker(engine)
TEXT = '''
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 32) "hello\\\\n")
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "_start") (local $i i32)
    (i32.store (i32.const 0) (i32.const 32)) (i32.store (i32.const 4) (i32.const 6))
    (loop $l
      (i32.store (i32.const 8) (i32.const 0))
      (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (if (i32.ne (i32.load (i32.const 8)) (i32.const 6)) (then (call $exit (i32.const 99))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 20))))))
'''
got = []
class Writer(io.RawIOBase):
    def writable(self):
        return True
    def write(self, data):
        if sys.argv[1] == "grow-then-read":
            exports["grow"](store, 1)  # re-enters the guest, which moves its memory
            got.append(bytes(data))
        else:
            got.append(bytes(data))
            exports["grow"](store, 1)
        return 6
wasi = WASI(stdout=Writer())
wasi.define(linker)
instance = linker.instantiate(store, wasmtime.Module(engine, wat(TEXT)))
exports = instance.exports(store)
print(wasi.start(instance, store), b"".join(got) == b"hello\\n" * 20, exports["memory"].size(store))
"""


@pytest.mark.skipif(not hasattr(wasmtime.Config, "memory_reservation"), reason="memories never move here")
@pytest.mark.parametrize("order", ["read-then-grow", "grow-then-read"])
def test_host_call_that_reenters_the_guest_and_moves_its_memory(order):
    # A stdout writer calls a guest export that grows a memory that moves:
    # fd_write stores its count, and the writer reads its argument, in the
    # memory as it is now (before: a segmentation fault, writing into or
    # reading from the freed mapping).
    out = subprocess.run([sys.executable, "-c", REENTER_SCRIPT, order], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert (out.returncode, out.stdout, out.stderr) == (0, "0 True 21\n", "")


REACTOR_EXIT = """
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "leave") (param $code i32) (call $exit (local.get $code))))
"""


def test_a_reactors_exit_stays_in_its_thread():
    # The host calls a reactor's export itself (through wasmtime-py) from
    # eight threads, 300 calls each: every call raises ProcExit with the code
    # it passed (before: 9 of 2,400 got another thread's, 33 a WasmtimeError).
    from pywasi import ProcExit

    engine = wasmtime.Engine()
    module = wasmtime.Module(engine, wat(REACTOR_EXIT))
    wrong = []
    start = threading.Barrier(8)

    def one(thread: int):
        store = wasmtime.Store(engine)
        linker = wasmtime.Linker(engine)
        with WASI() as wasi:
            wasi.define(linker)
            instance = linker.instantiate(store, module)
            wasi.initialize(instance, store)
            leave = instance.exports(store)["leave"]
            start.wait()
            for i in range(300):
                code = thread * 1000 + i
                try:
                    leave(store, code)
                    wrong.append((code, "returned"))
                except ProcExit as e:
                    if e.code != code:
                        wrong.append((code, e.code))
                except BaseException as e:  # noqa: B036 - counted below
                    wrong.append((code, repr(e)))

    threads = [threading.Thread(target=one, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []
    assert wasmtime._func.LAST_EXCEPTION is None


NESTED_EXIT = """
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 32) "bye\\n")
  (func (export "leave") (param $code i32) (call $exit (local.get $code)))
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 32)) (i32.store (i32.const 4) (i32.const 4))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (unreachable)))
"""


@pytest.mark.parametrize("bridge_kind", ["raw", "public"])
def test_proc_exit_in_a_nested_host_guest_host_chain(bridge_kind):
    # start() -> guest -> fd_write -> the host's stdout writer -> a guest
    # export -> proc_exit(7): start() returns 7 (before: WasmtimeError).
    script = textwrap.dedent(
        f"""
        import io, wasmtime
        from pywasi import WASI
        from tests.support import wat
        engine = wasmtime.Engine(); store = wasmtime.Store(engine); linker = wasmtime.Linker(engine)
        class Writer(io.RawIOBase):
            def writable(self):
                return True
            def write(self, data):
                exports["leave"](store, 7)
        w = WASI(stdout=Writer()); w.define(linker)
        inst = linker.instantiate(store, wasmtime.Module(engine, wat({NESTED_EXIT!r})))
        exports = inst.exports(store)
        print(w.start(inst, store), wasmtime._func.LAST_EXCEPTION)
        """
    )
    env = dict(os.environ, PYWASI_BRIDGE=bridge_kind)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT)
    assert (out.returncode, out.stdout, out.stderr) == (0, "7 None\n", "")


# Host calls between stretches of pure wasm: a signal arrives while the
# guest is in wasm, so Python handles it at a callback's first bytecode.
SPIN = """
(module
  (import "wasi_snapshot_preview1" "sched_yield" (func $yield (result i32)))
  (memory (export "memory") 1)
  (func (export "spin") (local $i i32)
    (loop $l
      (drop (call $yield))
      (local.set $i (i32.const 0))
      (loop $busy
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $busy (i32.lt_u (local.get $i) (i32.const 2000000))))
      (br $l)))
  (func (export "once") (result i32) (call $yield)))
"""

HANDLED_CTRL_C = """
import os, signal, sys, threading, wasmtime
from pywasi import WASI
from tests.support import wat
engine = wasmtime.Engine(); module = wasmtime.Module(engine, wat(sys.argv[1]))
reactors = []
for _ in range(2):
    store = wasmtime.Store(engine); linker = wasmtime.Linker(engine); w = WASI(); w.define(linker)
    instance = linker.instantiate(store, module); w.initialize(instance, store)
    reactors.append((instance.exports(store), store, w))
(a, store_a, _), (b, store_b, _) = reactors
threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
try:
    a["spin"](store_a)
except KeyboardInterrupt:
    print("interrupted")
print(b["once"](store_b), a["once"](store_a), b["once"](store_b))
"""


def test_a_handled_ctrl_c_does_not_stick():
    # Ctrl-C during one reactor's call, caught by the host: later calls into
    # it and into another bound reactor run (before: KeyboardInterrupt, for
    # every call after).
    out = subprocess.run([sys.executable, "-c", HANDLED_CTRL_C, SPIN], capture_output=True, text=True, cwd=ROOT,
                         timeout=60)
    assert (out.returncode, out.stdout, out.stderr) == (0, "interrupted\n0 0 0\n", "")


# A command making host calls between stretches of pure wasm for a few
# seconds, then returning 0.
BUSY = """
(module
  (import "wasi_snapshot_preview1" "sched_yield" (func $yield (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $i i32) (local $j i32)
    (loop $l
      (drop (call $yield))
      (local.set $j (i32.const 0))
      (loop $busy
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br_if $busy (i32.lt_u (local.get $j) (i32.const 200000))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 10000))))))
"""

DELIVERED = """
import ctypes, os, signal, sys, threading, wasmtime
from pywasi import WASI
from tests.support import wat
class Deadline(Exception):
    pass
def on_signal(signum, frame):
    raise Deadline("time is up")
how = sys.argv[2]
signal.signal(signal.SIGALRM if how == "sigalrm" else signal.SIGINT, on_signal)
def deliver(me):
    if how == "sigalrm":
        signal.setitimer(signal.ITIMER_REAL, 0.2)
    elif how == "sigint-handler":
        threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    else:
        threading.Timer(0.2, lambda: ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(me), ctypes.py_object(Deadline))).start()
engine = wasmtime.Engine()
module = wasmtime.Module(engine, wat(sys.argv[1]))
for _ in range(4):
    store = wasmtime.Store(engine); linker = wasmtime.Linker(engine)
    wasi = WASI(); wasi.define(linker)
    instance = linker.instantiate(store, module)
    deliver(threading.get_ident())
    try:
        print("returned", wasi.start(instance, store))
    except Deadline as e:
        print("raised Deadline")
    except wasmtime.WasmtimeError as e:
        print("raised", type(e).__name__, "from", type(e.__cause__).__name__)
    wasi.close()
"""


@pytest.mark.parametrize("how", ["sigalrm", "sigint-handler", "async"])
def test_exceptions_delivered_while_the_guest_runs_end_it(how):
    # A signal handler that raises (a SIGALRM deadline, a custom SIGINT
    # handler) or an async exception, on the guest's thread while it runs:
    # start() raises that exception (before: "Exception ignored on calling
    # ctypes callback function" and start() returned 0). An async exception
    # may also fire inside a stub, like any failure there: then start()
    # raises the trap it made, caused by the exception.
    out = subprocess.run([sys.executable, "-c", DELIVERED, BUSY, how], capture_output=True, text=True, cwd=ROOT,
                         timeout=120)
    raised = {"raised Deadline"} | ({"raised WasmtimeError from Deadline"} if how == "async" else set())
    assert (out.returncode, out.stderr) == (0, ""), out
    assert len(out.stdout.splitlines()) == 4 and set(out.stdout.splitlines()) <= raised, out.stdout


def test_one_wasi_object_in_two_stores():
    # The WASI object is bound to one instance; another instance of the same
    # linker, in another store and never started, calls fd_write and fd_read:
    # both fail saying so, and neither touches the bound instance's memory or
    # stdio (before: fd_write wrote the bound instance's bytes, fd_read
    # overwrote them). With the extension a call finds its WASI object from
    # its store, and that store has none: as a reactor's export called
    # before initialize(), NotStarted. On the pure-Python bridge the
    # callbacks are the object's own, and trap naming the other store.
    engine = wasmtime.Engine()
    linker = wasmtime.Linker(engine)
    out = io.BytesIO()
    wasi = WASI(stdin=b"from stdin", stdout=out)
    wasi.define(linker)
    text = WRITE_AT.replace('(memory (export "memory") 1)', """
      (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "read_at") (param $iov i32) (param $out i32) (result i32)
        (call $read (i32.const 0) (local.get $iov) (i32.const 1) (local.get $out)))""")
    module = wasmtime.Module(engine, wat(text))
    bound_store, other_store = wasmtime.Store(engine), wasmtime.Store(engine)
    bound = linker.instantiate(bound_store, module)
    other = linker.instantiate(other_store, module)
    wasi.start(bound, bound_store)
    b, e = bound.exports(bound_store), other.exports(other_store)
    for exports, store in ((b, bound_store), (e, other_store)):  # an iovec at 0: "grown\n"
        exports["store"](store, 0, 32)
        exports["store"](store, 4, 6)
    memory = b["memory"]
    before = memory.read(bound_store, 0, 128)
    for export, name in (("write_at", "fd_write"), ("read_at", "fd_read")):
        if native.ENABLED:
            with pytest.raises(NotStarted, match=rf"^{name} was called before the WASI instance was set up"):
                e[export](other_store, 0, 8)
        else:
            with pytest.raises(wasmtime.WasmtimeError, match=rf"pywasi: {name} called from another store"):
                e[export](other_store, 0, 8)
    assert memory.read(bound_store, 0, 128) == before
    assert out.getvalue() == b""
    assert b["write_at"](bound_store, 0, 8) == 0  # the bound instance goes on as before
    assert out.getvalue() == b"grown\n"


# A handler set after earlier runs (whatever they set up once for the
# process) is guarded in the next: it stops the guest, as one set before.
HANDLER_SET_LATER = """
import signal, sys, wasmtime
from pywasi import WASI, run
from tests.support import wat
class Deadline(Exception):
    pass
def on_alarm(signum, frame):
    raise Deadline("time is up")
for _ in range(2):
    run(wat('(module (memory (export "memory") 1) (func (export "_start")))'))
signal.signal(signal.SIGALRM, on_alarm)
engine = wasmtime.Engine()
store = wasmtime.Store(engine); linker = wasmtime.Linker(engine)
with WASI() as wasi:
    wasi.define(linker)
    instance = linker.instantiate(store, wasmtime.Module(engine, wat(sys.argv[1])))
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    try:
        print("returned", wasi.start(instance, store))
    except Deadline:
        print("raised Deadline")
"""


def script(source: str, *argv: str) -> tuple[int, str, str]:
    """(returncode, stdout, stderr) of Python running `source` here, in a process of its own."""
    out = subprocess.run([sys.executable, "-c", source, *argv], capture_output=True, text=True, cwd=ROOT, timeout=120)
    return out.returncode, out.stdout, out.stderr


def test_a_signal_handler_set_after_earlier_runs_still_ends_the_guest():
    assert script(HANDLER_SET_LATER, BUSY) == (0, "raised Deadline\n", "")


# In a process of its own: handlers are themselves again when the last bound
# WASI object closes, and other tests may leave theirs for the collector.
GUARDED_WHILE_BOUND = """
import signal, wasmtime
from pywasi import WASI
from tests.support import wat
def on_alarm(signum, frame):
    pass
signal.signal(signal.SIGALRM, on_alarm)
for _ in range(2):
    engine = wasmtime.Engine(); store = wasmtime.Store(engine); linker = wasmtime.Linker(engine)
    wasi = WASI(); wasi.define(linker)
    module = wasmtime.Module(engine, wat('(module (memory (export "memory") 1) (func (export "_start")))'))
    wasi.start(linker.instantiate(store, module), store)
    alarm, sigint = signal.getsignal(signal.SIGALRM), signal.getsignal(signal.SIGINT)
    print(alarm is not on_alarm, alarm.pywasi_guards is on_alarm, sigint.pywasi_guards is signal.default_int_handler)
    wasi.close()
    print(signal.getsignal(signal.SIGALRM) is on_alarm, signal.getsignal(signal.SIGINT) is signal.default_int_handler)
"""


def test_handlers_are_guarded_while_bound_and_themselves_after_close():
    assert script(GUARDED_WHILE_BOUND) == (0, "True True True\nTrue True\n" * 2, "")


# Ctrl-C in a loop without host calls, run after run: each finds the
# ticker of the one before (it lingers a moment), and each is stopped.
CTRL_C_TWICE = """
import os, signal, sys, threading
from pywasi import run
from tests.support import wat
module = wat(sys.argv[1])
for _ in range(2):
    threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    try:
        run(module)
    except KeyboardInterrupt:
        print("interrupted")
"""


def test_ctrl_c_stops_a_pure_loop_run_after_run():
    assert script(CTRL_C_TWICE, PURE_LOOP) == (0, "interrupted\ninterrupted\n", "")


CALLS_IN_PYTHON = """
(module
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $prestat (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $i i32)
    (loop $l
      (drop (call $prestat (i32.const 9) (i32.const 0)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 2000000))))))
"""

ASYNC_STORM = """
import ctypes, sys, threading, time, wasmtime
from pywasi import WASI
from tests.support import wat
class Deadline(Exception):
    pass
engine = wasmtime.Engine()
module = wasmtime.Module(engine, wat(sys.argv[1]))
me = threading.get_ident()
def fire(wasi, delay):
    # Once the guest calls the host (not while the host starts threads,
    # whose state briefly carries the main thread's ident), after a delay.
    while wasi._bridge.calls() == 0:
        time.sleep(0.0005)
    time.sleep(delay)
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(me), ctypes.py_object(Deadline))
for round in range(60):
    store = wasmtime.Store(engine); linker = wasmtime.Linker(engine)
    wasi = WASI(); wasi.define(linker)
    instance = linker.instantiate(store, module)
    firing = threading.Thread(target=fire, args=(wasi, (round % 7) * 0.0013))
    firing.start()
    try:
        print("returned", wasi.start(instance, store))
    except Deadline:
        print("raised Deadline")
    except wasmtime.WasmtimeError as e:
        print("raised", type(e).__name__, "from", type(e.__cause__).__name__)
    firing.join()
    wasi.close()
"""


def test_async_exceptions_at_any_bytecode_of_a_host_call_end_the_guest():
    # A guest that only makes host calls Python answers, and an async
    # exception 60 times, at a moment that moves: wherever it lands (a
    # stub's first bytecode, deep in a handler, the trap maker), start()
    # raises it or the trap it caused, the process neither crashes nor
    # prints "Exception ignored", and the guest never goes on as if nothing
    # happened.
    out = subprocess.run([sys.executable, "-c", ASYNC_STORM, CALLS_IN_PYTHON], capture_output=True, text=True,
                         cwd=ROOT, timeout=300)
    assert (out.returncode, out.stderr) == (0, ""), out
    lines = out.stdout.splitlines()
    assert len(lines) == 60 and set(lines) <= {"raised Deadline", "raised WasmtimeError from Deadline"}, out.stdout
