"""What a WASI instance leaves behind: after a thousand programs in one
process, no host fd, no callback and no memory; after a trap in the middle
of I/O, nothing once closed."""

from __future__ import annotations

import gc
import io
import os

import pytest
import wasmtime

from pywasi import WASI, bridge
from tests.support import compile_c

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
