"""What a WASI instance leaves behind: after a thousand programs in one
process, no host fd, no callback and no memory; after a trap in the middle
of I/O, nothing once closed."""

from __future__ import annotations

import gc
import io
import os
import re
import subprocess
import sys
import warnings

import pytest
import wasmtime

from pywasi import WASI, bridge
from tests.support import ROOT, compile_c

FILE_IO = r"""
#include <stdio.h>
#include <string.h>
#include <wasi/api.h>
int main(int argc, char **argv) {
    FILE *f = fopen("/data/out.txt", "w");
    fprintf(f, "run %s\n", argv[1]);
    fclose(f);
    f = fopen("/data/out.txt", "r");
    char line[64] = {0};
    fgets(line, sizeof line, f);
    printf("%s", line);
    /* f, kept and also are never closed: WASI.close() must close them */
    FILE *kept = fopen("/data/in.txt", "r");
    FILE *also = fopen("/data/out.txt", "a");
    if (!kept || !also) return 1;
    if (strcmp(argv[2], "trap") == 0) {
        /* a write whose buffer lies past the end of memory: a trap in fd_write */
        __wasi_ciovec_t bad = {(const uint8_t *)0xFFFFFFF0u, 64};
        __wasi_size_t n;
        __wasi_fd_write(fileno(also), &bad, 1, &n);
    }
    return 0;
}
"""


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Program:
    """One compiled module, run afresh each time: a store, a linker, a WASI."""

    def __init__(self, data):
        (data / "in.txt").write_bytes(b"input\n")
        self.data = data
        self.engine = wasmtime.Engine()
        self.module = wasmtime.Module.from_file(self.engine, str(compile_c(FILE_IO)))

    def run(self, i: int, how: str = "return") -> bytes:
        out = io.BytesIO()
        store = wasmtime.Store(self.engine)
        linker = wasmtime.Linker(self.engine)
        with WASI(args=["p", str(i), how], preopens={"/data": str(self.data)}, stdout=out) as wasi:
            wasi.define(linker)
            assert wasi.start(linker.instantiate(store, self.module), store) == 0
        return out.getvalue()


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts fds in /proc")
def test_a_thousand_runs_leave_nothing_behind(tmp_path):
    program = Program(tmp_path)
    for i in range(100):  # warm up: wasmtime's and Python's one-time allocations
        program.run(i)
    gc.collect()
    fds, callbacks, warm = open_fds(), len(bridge._LIVE), rss()
    for i in range(1000):
        assert program.run(i) == b"run %d\n" % i
    gc.collect()
    # Every file each run opened (three of them never closed by the guest) is
    # closed, every callback wasmtime held is finalized, and memory is flat:
    # 1,000 runs may not grow it by more than a few KB each would.
    assert open_fds() == fds
    assert len(bridge._LIVE) == callbacks
    assert rss() - warm < 4 << 20, f"RSS grew by {(rss() - warm) >> 10} KB over 1,000 runs"


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts fds in /proc")
def test_a_trap_in_the_middle_of_io_leaves_no_fd_after_close(tmp_path):
    program = Program(tmp_path)
    program.run(0)
    gc.collect()
    before = open_fds()
    store = wasmtime.Store(program.engine)
    linker = wasmtime.Linker(program.engine)
    wasi = WASI(args=["p", "1", "trap"], preopens={"/data": str(tmp_path)}, stdout=io.BytesIO())
    wasi.define(linker)
    with pytest.raises(wasmtime.WasmtimeError, match="fd_write: out of bounds"):
        wasi.start(linker.instantiate(store, program.module), store)
    assert open_fds() == before + 4  # the preopen and the three files the guest left open
    wasi.close()
    assert open_fds() == before


# A guest that opens /data/guest.txt and writes to it until a write fails,
# then exits with 100 + the errno.
WRITE_UNTIL_CLOSED = """
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "guest.txt")
  (data (i32.const 128) "GUEST DATA\\n")
  (func (export "_start") (local $fd i32) (local $errno i32)
    (local.set $errno (call $open (i32.const 3) (i32.const 0) (i32.const 64) (i32.const 9)
      (i32.const 1) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 8)))  ;; O_CREAT, FD_WRITE
    (if (local.get $errno) (then (call $exit (i32.const 99))))
    (local.set $fd (i32.load (i32.const 8)))
    (i32.store (i32.const 16) (i32.const 128)) (i32.store (i32.const 20) (i32.const 11))
    (loop $l
      (local.set $errno (call $write (local.get $fd) (i32.const 16) (i32.const 1) (i32.const 24)))
      (br_if $l (i32.eqz (local.get $errno))))
    (call $exit (i32.add (i32.const 100) (local.get $errno)))))
"""


def test_close_from_another_thread_while_the_guest_writes(tmp_path):
    # wasi.close() while the guest writes in another thread, then the host
    # opens files at once: not one of them may get the guest's bytes (the
    # fd a call is still using stays open until it returns), and the guest
    # ends with a trap saying it was closed, never an internal error.
    import threading
    import time

    from tests.support import wat

    engine = wasmtime.Engine()
    module = wasmtime.Module(engine, wat(WRITE_UNTIL_CLOSED))
    mixed, outcomes = [], []
    for round_ in range(20):
        data = tmp_path / f"r{round_}"
        data.mkdir()
        store = wasmtime.Store(engine)
        linker = wasmtime.Linker(engine)
        wasi = WASI(preopens={"/data": str(data)})
        wasi.define(linker)
        instance = linker.instantiate(store, module)

        def guest():
            try:
                outcomes.append(wasi.start(instance, store))
            except BaseException as e:  # noqa: B036 - compared below
                outcomes.append(e)

        thread = threading.Thread(target=guest)
        thread.start()
        deadline = time.monotonic() + 30
        while (not (data / "guest.txt").exists() or not (data / "guest.txt").stat().st_size) and time.monotonic() < deadline:
            time.sleep(0.001)
        wasi.close()
        host = [open(data / f"host{i}.txt", "w+b") for i in range(40)]
        thread.join(30)
        for f in host:
            f.seek(0)
            if f.read():
                mixed.append(f.name)
            f.close()
    assert mixed == []
    for outcome in outcomes:
        assert isinstance(outcome, wasmtime.WasmtimeError), outcome
        assert re.search(r"pywasi: (fd_write|path_open) called after wasi\.close\(\)", str(outcome)), outcome


CLOSING_REACTOR = """
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "\\80\\00\\00\\00\\05\\00\\00\\00")  ;; one iovec: 5 bytes at 128
  (data (i32.const 128) "hello")
  (func (export "write") (result i32) (call $write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24))))
"""


@pytest.mark.parametrize("caller", ["guest", "host"])
def test_close_inside_a_host_call_and_calls_after_close(caller):
    # The host closes the WASI object from inside a host call (its stdout
    # writer), the call made by the guest or by the host itself through
    # wasi_import: that call still ends normally, storing its count in
    # memory; the next call traps saying why (before: TypeError: cannot
    # modify read-only memory, then NotStarted).
    from tests.support import wat

    class Closing(io.RawIOBase):
        def writable(self):
            return True

        def write(self, data):
            wasi.close()
            return len(data)

    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    wasi = WASI(stdout=Closing())
    wasi.define(linker)
    instance = linker.instantiate(store, wasmtime.Module(engine, wat(CLOSING_REACTOR)))
    exports = instance.exports(store)
    wasi.finalize_bindings(instance, store)
    if caller == "guest":
        write = lambda: exports["write"](store)  # noqa: E731
        closed = pytest.raises(wasmtime.WasmtimeError, match=r"pywasi: fd_write called after wasi\.close\(\)")
    else:
        write = lambda: wasi.wasi_import["fd_write"](1, 16, 1, 24)  # noqa: E731
        closed = pytest.raises(bridge.Closed, match="this WASI object was closed")
    assert write() == 0
    assert exports["memory"].read(store, 24, 28) == b"\x05\x00\x00\x00"
    with closed:
        write()


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts fds in /proc")
def test_runs_without_close_release_their_fds_when_collected_and_warn(tmp_path):
    # The README's first example never calls close(): as a Python file does,
    # a WASI object releases what it holds when collected, with a ResourceWarning.
    program = Program(tmp_path)
    program.run(0)
    gc.collect()
    before = open_fds()

    def run_without_close(i: int) -> None:
        store = wasmtime.Store(program.engine)
        linker = wasmtime.Linker(program.engine)
        wasi = WASI(args=["p", str(i), "return"], preopens={"/data": str(tmp_path)}, stdout=io.BytesIO())
        wasi.define(linker)
        assert wasi.start(linker.instantiate(store, program.module), store) == 0

    with pytest.warns(ResourceWarning) as warned:
        for i in range(1000):
            run_without_close(i)
        gc.collect()
    assert open_fds() == before  # the preopen and the three files each run left open
    assert len(warned) == 1000
    assert str(warned[0].message).startswith("unclosed WASI")
    # Closed ones say nothing when collected.
    with WASI(preopens={"/data": str(tmp_path)}):
        pass
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gc.collect()


def test_an_unclosed_wasi_collected_while_signal_handlers_are_guarded():
    # A collection may run anywhere, also while start() guards the signal
    # handlers (pywasi/interrupt.py holds its lock then); an unclosed WASI
    # object collected there unguards them too, on the same thread.
    code = """
import gc, warnings, wasmtime
from pywasi import WASI, interrupt
warnings.simplefilter("ignore", ResourceWarning)
store = wasmtime.Store()
wasi = WASI()
instance = wasmtime.Instance(store, wasmtime.Module(store.engine, '(module (memory (export "memory") 1))'), [])
wasi.finalize_bindings(instance, store)
wasi.cycle = wasi  # collected only by the cycle collector
del wasi
with interrupt._lock:
    gc.collect()
print("collected")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert out.stdout == "collected\n", out.stderr


SIZES = """
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $sizes (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "sizes") (result i32) (call $sizes (i32.const 0) (i32.const 4))))
"""


def test_a_store_serves_one_open_wasi_object():
    # Whichever path serves the calls: a second WASI object cannot take a
    # store whose first is still open (its instance's calls would reach the
    # wrong one); once the first is closed, it can, and the calls reach it.
    engine = wasmtime.Engine()
    module = wasmtime.Module(engine, wasmtime.wat2wasm(SIZES))
    store = wasmtime.Store(engine)
    first, second = WASI(args=["a"]), WASI(args=["b", "cc"])
    linker = wasmtime.Linker(engine)
    first.define(linker)
    first.finalize_bindings(linker.instantiate(store, module), store)
    with pytest.raises(ValueError, match="store is bound to another WASI object that is not closed") as refused:
        second.finalize_bindings(linker.instantiate(store, module), store)
    assert refused.value.code == "ERR_INVALID_ARG_VALUE"
    first.close()
    linker = wasmtime.Linker(engine)
    third = WASI(args=["b", "cc"])
    third.define(linker)
    instance = linker.instantiate(store, module)
    third.finalize_bindings(instance, store)
    assert instance.exports(store)["sizes"](store) == 0
    assert instance.exports(store)["memory"].read(store, 0, 8) == (2).to_bytes(4, "little") + (5).to_bytes(4, "little")
    second.close()
    third.close()
