"""Files in memory against files on a host tmpfs, in one run: a file read
with fd_read and written with fd_write 64 KiB at a time, and path_open +
fd_filestat_get + fd_close on 10,000 files, with the preopen a host directory
on tmpfs, a MemoryDir holding the same tree, and an Overlay over it.

    python benchmarks/memory.py [--size-mib 64] [--files 10000] [--repeat 5] [--tmp DIR]

The guest is files.wat. --tmp defaults to /dev/shm (a tmpfs) where there is
one. Each figure is the median of R runs after a warm-up round; the three
take turns within each round, so a change in the machine's load falls on all
alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import wasmtime

from files import prepare, pywasi_guest  # the same tree and guest as benchmarks/files.py's
from pywasi import MemoryDir, Overlay

HERE = Path(__file__).resolve().parent
KIB, MIB = 1024, 1024 * 1024
BUFFER = 64 * KIB
CASES = ("read", "write", "stat")


def run_case(call, case: str, size: int, files: int) -> float:
    """Seconds one run of `case` takes (per file for "stat"), checking what
    the guest answers."""
    t = time.perf_counter()
    if case == "read":
        assert call("stream", BUFFER, 0) == size, "the guest read a wrong size"
    elif case == "write":
        assert call("write_file", BUFFER, size) == size, "the guest wrote a wrong size"
    else:
        assert call("stat_files", files) == files, "the guest saw wrong sizes"
        return (time.perf_counter() - t) / files
    return time.perf_counter() - t


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=64)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tmp", default="/dev/shm" if os.path.isdir("/dev/shm") else None,
                        help="where to put the host directory (default: /dev/shm, a tmpfs)")
    args = parser.parse_args(argv)
    size = args.size_mib * MIB
    engine = wasmtime.Engine()
    module = wasmtime.Module(engine, wasmtime.wat2wasm((HERE / "files.wat").read_text()))
    with tempfile.TemporaryDirectory(prefix="pywasi-bench-", dir=args.tmp) as tmp:
        root = Path(tmp)
        prepare(root, args.size_mib, args.files)
        devnull = os.open(os.devnull, os.O_WRONLY)
        closing: list = [lambda: os.close(devnull)]
        try:
            contestants = {
                "host": pywasi_guest(module, engine, root, devnull, closing),
                "memory": pywasi_guest(module, engine, MemoryDir.from_path(root), devnull, closing),
                "overlay": pywasi_guest(module, engine, Overlay(root), devnull, closing),
            }
            samples = {name: {case: [] for case in CASES} for name in contestants}
            for round_ in range(args.repeat + 1):
                for case in CASES:
                    for name, call in contestants.items():
                        seconds = run_case(call, case, size, args.files)
                        if round_:  # round 0 warms up
                            samples[name][case].append(seconds)
        finally:
            for close in reversed(closing):
                close()
    median = {n: {c: statistics.median(s) for c, s in cases.items()} for n, cases in samples.items()}
    names = list(median)
    head = f"{'':<24}" + "".join(f"{n:>10}" for n in names) + f"{'memory/host':>13}"
    print(f"{args.size_mib} MiB, 64 KiB a call, GB/s (median of {args.repeat}); host: {args.tmp or 'the default tmp'}")
    print(head)
    for case in ("read", "write"):
        rate = {n: size / median[n][case] / 1e9 for n in names}
        print(f"{'fd_' + case:<24}" + "".join(f"{rate[n]:>10.2f}" for n in names)
              + f"{rate['memory'] / rate['host']:>12.2f}x")
    ns = {n: median[n]["stat"] * 1e9 for n in names}
    print(f"\npath_open + fd_filestat_get + fd_close on {args.files:,} files, ns per file")
    print(head)
    print(f"{'per file':<24}" + "".join(f"{ns[n]:>10.0f}" for n in names) + f"{ns['host'] / ns['memory']:>12.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
