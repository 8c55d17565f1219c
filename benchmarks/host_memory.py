"""Host memory that hostile guests can make the host spend: each pattern runs
in a fresh process, which reports its peak resident size (ru_maxrss) and
that of the same process before the guest ran.

    python benchmarks/host_memory.py readdir [--opens N] [--entries E] [--native]
    python benchmarks/host_memory.py long-path [--mib M] [--strategy walk|openat2] [--trace]

readdir: a guest with 64 KiB of memory opens a directory of E entries N times
and reads one byte of each listing, closing nothing. --native runs the same
guest on wasmtime's own WASI instead of pywasi.

long-path: a guest hands path_open one path of M MiB ("a/a/a/...").
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import subprocess
import sys
import tempfile

import wasmtime

from pywasi import WASI
from pywasi.handlers.filesystems import host as host_fs

READDIR_WAT = """
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_readdir"
    (func $fd_readdir (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1 1)
  (data (i32.const 0) ".")
  (func (export "_start") (local $i i32) (local $e i32)
    (loop $again
      ;; path_open(3, 0, ".", 1, O_DIRECTORY, FD_READDIR, 0, 0, &fd at 16)
      (local.set $e (call $path_open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 1)
                      (i32.const 2) (i64.const 0x4000) (i64.const 0) (i32.const 0) (i32.const 16)))
      (if (local.get $e) (then (call $proc_exit (i32.add (i32.const 100) (local.get $e)))))
      ;; fd_readdir(fd, buf at 64, 1 byte, cookie 0, &used at 24)
      (local.set $e (call $fd_readdir (i32.load (i32.const 16)) (i32.const 64) (i32.const 1) (i64.const 0)
                      (i32.const 24)))
      (if (local.get $e) (then (call $proc_exit (i32.add (i32.const 200) (local.get $e)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const OPENS)))))
)
"""

LONG_PATH_WAT = """
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") PAGES PAGES)
  (func (export "_start") (local $i i32)
    ;; "a/a/a/..." over LENGTH bytes from 64
    (loop $fill
      (i32.store16 (i32.add (i32.const 64) (local.get $i)) (i32.const 0x2f61))
      (local.set $i (i32.add (local.get $i) (i32.const 2)))
      (br_if $fill (i32.lt_u (local.get $i) (i32.const LENGTH))))
    (call $proc_exit (call $path_open (i32.const 3) (i32.const 0) (i32.const 64) (i32.const LENGTH)
                       (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 16))))
)
"""


def peak_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child_readdir(opens: int, entries: int, native: bool) -> None:
    with tempfile.TemporaryDirectory() as top:
        for i in range(entries):
            open(os.path.join(top, f"entry-{i:06d}"), "w").close()
        engine = wasmtime.Engine()
        module = wasmtime.Module(engine, READDIR_WAT.replace("OPENS", str(opens)))
        before = peak_kib()
        code = run(engine, module, top, native, max_fds=opens + 8)
        report(before, code)


def child_long_path(mib: int, strategy: str, trace: bool) -> None:
    host_fs.select(strategy)
    length = mib << 20
    pages = (length + 64 + 65535) // 65536
    with tempfile.TemporaryDirectory() as top:
        engine = wasmtime.Engine()
        wat = LONG_PATH_WAT.replace("PAGES", str(pages)).replace("LENGTH", str(length))
        module = wasmtime.Module(engine, wat)
        before = peak_kib()
        code = run(engine, module, top, False, trace=io.StringIO() if trace else None)
        report(before, code)


def run(engine, module, top: str, native: bool, **options) -> int:
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    if native:
        config = wasmtime.WasiConfig()
        config.preopen_dir(top, "/box")
        store.set_wasi(config)
        linker.define_wasi()
        instance = linker.instantiate(store, module)
        try:
            instance.exports(store)["_start"](store)
        except wasmtime.ExitTrap as e:
            return e.code
        return 0
    with WASI(preopens={"/box": top}, **options) as wasi:
        wasi.define(linker)
        return wasi.start(linker.instantiate(store, module), store)


def report(before: int, code: int) -> None:
    print(f"exit {code}: peak {peak_kib() / 1024:.0f} MiB, {(peak_kib() - before) / 1024:.0f} MiB of it while the guest ran")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("pattern", choices=("readdir", "long-path"))
    p.add_argument("--opens", type=int, default=1000)
    p.add_argument("--entries", type=int, default=10_000)
    p.add_argument("--native", action="store_true")
    p.add_argument("--mib", type=int, default=32)
    p.add_argument("--strategy", choices=("walk", "openat2"), default="walk")
    p.add_argument("--trace", action="store_true")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if not a.child:  # a fresh process, so that the peak is this pattern's
        sys.exit(subprocess.run([sys.executable, __file__, *sys.argv[1:], "--child"]).returncode)
    if a.pattern == "readdir":
        child_readdir(a.opens, a.entries, a.native)
    else:
        child_long_path(a.mib, a.strategy, a.trace)


if __name__ == "__main__":
    main()
