"""What the usage record costs a host call: pywasi.run counts every host call
(an int in each callback's closure) and the bytes of every read and write
(an attribute on the handler object). This times those two statements alone,
next to the host calls of benchmarks/hostcalls.py, in one run.

    python benchmarks/accounting.py [--calls N] [--repeat R]

Each figure is the median of R runs of N iterations, in ns.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import wasmtime

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hostcalls  # noqa: E402 - the host-call benchmark, beside this file


def _closures():
    """A callback's shape without and with the count."""
    def plain(a):
        return a

    calls = 0

    def counted(a):
        nonlocal calls
        calls += 1
        return a

    return plain, counted


class _Handler:
    def __init__(self):
        self.bytes_written = 0

    def plain(self, n):
        return n

    def counted(self, n):
        self.bytes_written += n
        return n


def per_iteration(function, n: int, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t = time.perf_counter_ns()
        for _ in range(n):
            function(16)
        samples.append((time.perf_counter_ns() - t) / n)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    plain, counted = _closures()
    handler = _Handler()
    call_count = per_iteration(counted, args.calls, args.repeat) - per_iteration(plain, args.calls, args.repeat)
    byte_count = per_iteration(handler.counted, args.calls, args.repeat) - per_iteration(
        handler.plain, args.calls, args.repeat
    )

    engine = wasmtime.Engine()
    module = wasmtime.Module(engine, hostcalls.wasm_bytes())
    devnull = os.open(os.devnull, os.O_WRONLY)
    calls = hostcalls.pywasi_run(module, engine, devnull, args.calls // 5, args.repeat)

    print(f"counting a host call:   {call_count:6.1f} ns (every call)")
    print(f"counting bytes moved:   {byte_count:6.1f} ns (fd_read/fd_write/pread/pwrite/sock_*)")
    for name, ns in calls.items():
        cost = call_count + (byte_count if name == "fd_write" else 0)
        print(f"{name:22s}  {ns:6.0f} ns a call; the accounting is {100 * cost / ns:4.1f}% of it")


if __name__ == "__main__":
    main()
