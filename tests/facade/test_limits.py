"""Limits a host embedding untrusted code needs: open descriptors and
captured output."""

from __future__ import annotations

import gc
import io
import os
import socket
import subprocess
import sys

import pytest
import wasmtime

from pywasi import WASI, TimeoutExpired, run
from pywasi.generated.preview1 import Errno
from tests.support import compile_c, wat

FLOOD = r"""
#include <errno.h>
#include <stdio.h>
#include <string.h>
int main(void) {
    static char block[4096];
    memset(block, 'x', sizeof block);
    size_t total = 0;
    for (int i = 0; i < 256; i++) {
        size_t n = fwrite(block, 1, sizeof block, stdout);
        total += n;
        if (fflush(stdout) != 0 || n < sizeof block) {
            fprintf(stderr, "stopped after %zu bytes: %s\n", total, strerror(errno));
            return 3;
        }
    }
    return 0;
}
"""


def test_captured_output_is_capped_and_the_guest_told():
    out, err = io.BytesIO(), io.BytesIO()
    code = run(compile_c(FLOOD), stdout=out, stderr=err, max_output=10_000).returncode
    assert code == 3
    assert out.getvalue() == b"x" * 10_000
    assert err.getvalue().decode().startswith("stopped after ")
    assert err.getvalue().decode().endswith(": File too large\n")


def test_no_output_limit():
    out = io.BytesIO()
    assert run(compile_c(FLOOD), stdout=out, max_output=None).returncode == 0
    assert len(out.getvalue()) == 256 * 4096


ACCEPT = """
(module
  (import "wasi_snapshot_preview1" "sock_accept" (func $accept (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "accept") (result i32) (call $accept (i32.const 3) (i32.const 0) (i32.const 0)))
  (func (export "_start")))
"""


def test_open_descriptor_limit_is_emfile_and_leaks_nothing():
    server = socket.create_server(("127.0.0.1", 0))
    clients = [socket.create_connection(server.getsockname()) for _ in range(3)]
    try:
        engine = wasmtime.Engine()
        store = wasmtime.Store(engine)
        linker = wasmtime.Linker(engine)
        gc.collect()  # what earlier tests left for the collector (a module's memory image fd) goes now
        before = len(os.listdir("/proc/self/fd"))
        with WASI(sockets=[server], max_fds=5) as w:  # stdio, the listener, one more
            w.define(linker)
            instance = linker.instantiate(store, wasmtime.Module(engine, wat(ACCEPT)))
            w.start(instance, store)
            accept = instance.exports(store)["accept"]
            assert accept(store) == 0
            assert accept(store) == Errno.MFILE
            assert accept(store) == Errno.MFILE
        assert len(os.listdir("/proc/self/fd")) == before  # the refused connections were closed
    finally:
        for c in clients:
            c.close()
        server.close()


@pytest.mark.parametrize("option, value, error", [
    ("max_fds", 2, ValueError), ("max_fds", "many", TypeError), ("max_output", -1, ValueError),
    ("max_output", 1.5, TypeError),
])
def test_limit_options_are_checked(option, value, error):
    with pytest.raises(error, match=option):
        WASI(**{option: value})


def test_path_open_past_the_limit_is_emfile_and_creates_nothing(tmp_path):
    program = compile_c(
        r"""
        #include <errno.h>
        #include <fcntl.h>
        #include <stdio.h>
        #include <string.h>
        int main(void) {
            int opened = 0;
            char name[32];
            for (int i = 0; i < 10; i++) {
                snprintf(name, sizeof name, "/d/f%d", i);
                if (open(name, O_CREAT | O_WRONLY, 0644) < 0) {
                    printf("open %d: %s\n", i, strerror(errno));
                    break;
                }
                opened++;
            }
            printf("opened %d\n", opened);
            return 0;
        }
        """
    )
    out = io.BytesIO()
    assert run(program, preopens={"/d": str(tmp_path)}, stdout=out, max_fds=6).returncode == 0
    assert out.getvalue() == b"open 2: No file descriptors available\nopened 2\n"  # musl's EMFILE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f0", "f1"]


AMPLIFY = """
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1024)  ;; 64 MiB, all zeros: empty iovecs, realtime clocks
  (func (export "write") (param $n i32) (result i32)
    (call $write (i32.const 1) (i32.const 0) (local.get $n) (i32.const 8)))
  (func (export "poll") (param $n i32) (result i32)
    (call $poll (i32.const 0) (i32.const 0x2000000) (local.get $n) (i32.const 8)))
  (func (export "_start")))
"""


def test_a_guest_cannot_make_the_host_allocate_for_its_counts():
    # 4 million iovecs and 600,000 subscriptions fit in the guest's 64 MiB,
    # but as Python objects they would take some 1.2 GB of the host's. Past
    # IOV_MAX and MAX_RECORDS the calls are EINVAL before anything is built.
    import tracemalloc

    from pywasi.runtime.memory import IOV_MAX, MAX_RECORDS

    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    with WASI(stdout=io.BytesIO()) as w:
        w.define(linker)
        instance = linker.instantiate(store, wasmtime.Module(engine, wat(AMPLIFY)))
        w.start(instance, store)
        exports = instance.exports(store)
        assert exports["write"](store, IOV_MAX) == 0
        assert exports["poll"](store, 100) == 0
        tracemalloc.start()
        try:
            assert exports["write"](store, 4_000_000) == Errno.INVAL
            assert exports["poll"](store, 600_000) == Errno.INVAL
            assert exports["poll"](store, MAX_RECORDS + 1) == Errno.INVAL
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 1 << 20


GREEDY = r"""
#include <stdio.h>
#include <stdlib.h>
static void *volatile kept;  /* so that the compiler keeps every malloc */
int main(void) {
    int mib = 0;
    while ((kept = malloc(1 << 20))) mib++;
    printf("got %d MiB\n", mib);
    return 0;
}
"""
SPIN = '(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))'


def limited(module, **store_limits):
    """Run `module` as the README's "Running untrusted code" sets wasmtime
    up: fuel and epochs on, the store limited as asked, WASI's timeout.
    Returns (outcome, stdout)."""
    config = wasmtime.Config()
    config.consume_fuel = True
    config.epoch_interruption = True
    engine = wasmtime.Engine(config)
    store = wasmtime.Store(engine)
    if "memory_size" in store_limits:
        store.set_limits(memory_size=store_limits["memory_size"])
    store.set_fuel(store_limits.get("fuel", 10_000_000_000))
    linker = wasmtime.Linker(engine)
    out = io.BytesIO()
    with WASI(max_fds=64, max_output=1 << 20, stdout=out, timeout=store_limits.get("seconds", 60)) as wasi:
        wasi.define(linker)
        instance = linker.instantiate(store, wasmtime.Module(engine, module))
        try:
            outcome = wasi.start(instance, store)
        except (wasmtime.Trap, TimeoutExpired) as stopped:
            outcome = stopped
    return outcome, out.getvalue()


def test_wasmtime_limits_combine_with_pywasi():
    # What the README shows: a memory limit the guest's malloc runs into,
    # fuel that runs out, a timeout.
    # (wasi-libc's programs start with 16 MiB of memory, 257 pages.)
    code, out = limited(compile_c(GREEDY).read_bytes(), memory_size=24 << 20)
    assert code == 0 and out.startswith(b"got ") and 0 < int(out.split()[1]) < 8
    trap, _ = limited(wat(SPIN), fuel=1_000_000)
    assert isinstance(trap, wasmtime.Trap) and "fuel" in str(trap)
    stopped, _ = limited(wat(SPIN), seconds=0.2)
    assert isinstance(stopped, TimeoutExpired) and stopped.timeout == 0.2


HOARD = r"""
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
int main(void) {
    int opened = 0;
    while (open("/d/f", O_RDONLY) >= 0) opened++;
    printf("%d %s\n", opened, strerror(errno));  /* the host's writer opens a file here */
    return 0;
}
"""

# In a process whose soft RLIMIT_NOFILE is 256: a guest holds all the fds it
# can, then writes, and stdout's writer (the host's own code) opens a file.
HOST_KEEPS_ROOM = """
import io, resource, sys
from pywasi import run
resource.setrlimit(resource.RLIMIT_NOFILE, (256, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

class Writer(io.RawIOBase):
    def writable(self):
        return True
    def write(self, b):
        if not bytes(b).strip():
            return len(b)
        try:
            with open(sys.argv[2] + "/f"):
                host = "host open ok"
        except OSError as e:
            host = "host open failed: " + e.strerror
        print(bytes(b).decode().strip(), "/", host)
        return len(b)

sys.exit(run(sys.argv[1], preopens={"/d": sys.argv[2]}, stdout=Writer()).returncode)
"""


def test_default_fd_limit_leaves_the_host_room(tmp_path):
    (tmp_path / "f").touch()
    out = subprocess.run([sys.executable, "-c", HOST_KEEPS_ROOM, str(compile_c(HOARD)), str(tmp_path)],
                         capture_output=True, text=True)
    assert (out.returncode, out.stderr) == (0, "")
    # Half of the soft limit: stdio and the preopen hold 4 of the 128.
    assert out.stdout == "124 No file descriptors available / host open ok\n"
