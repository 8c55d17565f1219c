"""File I/O cost, in one run: a 256 MiB file read through fd_read with 64 KiB
and 1 MiB buffers, and copied to /dev/null, under pywasi, wasmtime's native
WASI (`Linker.define_wasi`) and Node's node:wasi, next to a plain Python
os.readv loop; and path_open + fd_filestat_get + fd_close on 10,000 files.

    python benchmarks/files.py [--size-mib 256] [--files 10000] [--repeat 5] [--tmp DIR]

The guest is files.wat. pywasi is measured as set up (the calls its C
extension serves in C, when it is in force) and, as "pywasi-py", on the
pure-Python path (PYWASI_NATIVE=0, in a child process): before and after C,
side by side. Each figure is the median of R runs after a warm-up round
(which also puts the file in the page cache); the contestants take turns
within each round. The files live in a temporary directory under --tmp,
removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import wasmtime

import contestants
from pywasi import WASI

HERE = Path(__file__).resolve().parent
KIB, MIB = 1024, 1024 * 1024
BUFFERS = (64 * KIB, MIB)
GUEST_DIR = "/bench"


def prepare(root: Path, size_mib: int, files: int) -> None:
    chunk = os.urandom(MIB)
    with open(root / "big.bin", "wb") as f:
        for _ in range(size_mib):
            f.write(chunk)
    (root / "files").mkdir()
    for i in range(files):
        (root / "files" / f"f{i:05d}").write_bytes(b"x")


CASES = [f"stream:{buffer}:{copy}" for copy in (0, 1) for buffer in BUFFERS] + ["stat"]


def run_case(call, case: str, size: int, files: int) -> float:
    """Seconds one run of `case` takes through a guest's exports `call`
    (per file for "stat"), checking what the guest answers."""
    t = time.perf_counter()
    if case == "stat":
        assert call("stat_files", files) == files, "the guest saw wrong sizes"
        return (time.perf_counter() - t) / files
    _, buffer, copy = case.split(":")
    assert call("stream", int(buffer), int(copy)) == size, "the guest read a wrong size"
    return time.perf_counter() - t


def pywasi_guest(module, engine, root: Path, devnull: int, closing: list):
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    wasi = WASI(preopens={GUEST_DIR: root}, stdout=devnull)
    closing.append(wasi.close)
    wasi.define(linker)
    instance = linker.instantiate(store, module)
    wasi.initialize(instance, store)
    exports = instance.exports(store)
    return lambda name, *args: exports[name](store, *args)


def native_guest(module, engine, root: Path):
    store = wasmtime.Store(engine)
    config = wasmtime.WasiConfig()
    config.preopen_dir(str(root), GUEST_DIR)
    config.stdout_file = os.devnull
    store.set_wasi(config)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    instance = linker.instantiate(store, module)
    exports = instance.exports(store)
    return lambda name, *args: exports[name](store, *args)


def python_loops(root: Path, devnull: int, closing: list):
    """The same work in plain Python: os.readv into one buffer, os.write out;
    os.open + os.fstat + os.close per file."""

    def stream(buffer: int, copy: int) -> int:
        fd = os.open(root / "big.bin", os.O_RDONLY)
        view = memoryview(bytearray(buffer))
        views, total = [view], 0
        while n := os.readv(fd, views):
            total += n
            if copy:
                os.write(devnull, view[:n])
        os.close(fd)
        return total

    def stat_files(count: int) -> int:
        total = 0
        for i in range(count):
            fd = os.open(f"files/f{i:05d}", os.O_RDONLY, dir_fd=base)
            total += os.fstat(fd).st_size
            os.close(fd)
        return total

    base = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    closing.append(lambda: os.close(base))
    calls = {"stream": stream, "stat_files": stat_files}
    return lambda name, *args: calls[name](*args)


NODE_SCRIPT = r"""
const fs = require('fs');
const { WASI } = require('wasi');
const [wasmPath, root, size, files, repeat, buffers] = process.argv.slice(2);
const devnull = fs.openSync('/dev/null', 'w');
const wasi = new WASI({ version: 'preview1', preopens: { '/bench': root }, stdout: devnull, returnOnExit: true });
const inst = new WebAssembly.Instance(new WebAssembly.Module(fs.readFileSync(wasmPath)), wasi.getImportObject());
wasi.initialize(inst);
const median = (run) => {
  const samples = [];
  for (let r = 0; r < Number(repeat); r++) {
    const t = process.hrtime.bigint();
    run();
    samples.push(Number(process.hrtime.bigint() - t) / 1e9);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
};
const out = {};
for (const buffer of JSON.parse(buffers)) {
  for (const copy of [0, 1]) {
    if (inst.exports.stream(buffer, copy) !== BigInt(size)) throw new Error('wrong size');
    out[`stream:${buffer}:${copy}`] = median(() => inst.exports.stream(buffer, copy));
  }
}
if (inst.exports.stat_files(Number(files)) !== BigInt(files)) throw new Error('wrong sizes');
out.stat = median(() => inst.exports.stat_files(Number(files))) / Number(files);
console.log(JSON.stringify(out));
"""


def node_run(wasm: bytes, root: Path, size: int, files: int, repeat: int):
    node = shutil.which("node")
    if node is None:
        return None
    (root / "files.wasm").write_bytes(wasm)
    (root / "bench.js").write_text(NODE_SCRIPT)
    out = subprocess.run(
        [node, "--no-warnings", str(root / "bench.js"), str(root / "files.wasm"), str(root), str(size),
         str(files), str(repeat), json.dumps(BUFFERS)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout)


def report(results: dict[str, dict | None], size: int, files: int, repeat: int) -> None:
    """Rates and times, with pywasi's speed (as set up, and on the
    pure-Python path) relative to native, and to the Python loop (above 1:
    pywasi is faster)."""
    names = list(results)

    def seconds(name, case):
        return results[name][case] if results[name] else float("nan")

    head = f"{'':<22}" + "".join(f"{n:>10}" for n in names)
    print(f"pywasi: {contestants.status()}; pywasi-py: the same, PYWASI_NATIVE=0")
    print(f"\n{size // MIB} MiB through fd_read, GB/s (median of {repeat})")
    print(head + f"{'pywasi/nat':>12}{'py/nat':>8}{'pywasi/python':>15}")
    for case in CASES[:-1]:
        _, buffer, copy = case.split(":")
        label = ("copy " if int(copy) else "read ") + (f"{int(buffer) // KIB} KiB" if int(buffer) < MIB else "1 MiB")
        rate = {n: size / seconds(n, case) / 1e9 for n in names}
        print(f"{label:<22}" + "".join(f"{rate[n]:>10.2f}" for n in names)
              + f"{rate['pywasi'] / rate['native']:>11.2f}x{rate['pywasi-py'] / rate['native']:>7.2f}x"
              + f"{rate['pywasi'] / rate['python']:>14.2f}x")
    print(f"\npath_open + fd_filestat_get + fd_close on {files:,} files, ns per file (median of {repeat})")
    print(head + f"{'pywasi/nat':>12}{'py/nat':>8}")
    ns = {n: seconds(n, "stat") * 1e9 for n in names}
    print(f"{'per file':<22}" + "".join(f"{ns[n]:>10.0f}" for n in names)
          + f"{ns['native'] / ns['pywasi']:>11.2f}x{ns['native'] / ns['pywasi-py']:>7.2f}x")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tmp", default=None, help="where to put the temporary directory")
    parser.add_argument(contestants.SERVE, metavar="ROOT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    size = args.size_mib * MIB
    engine = wasmtime.Engine()
    wasm = wasmtime.wat2wasm((HERE / "files.wat").read_text())
    module = wasmtime.Module(engine, wasm)

    def timed(call):
        return lambda case: run_case(call, case, size, args.files)

    devnull = os.open(os.devnull, os.O_WRONLY)
    closing = [lambda: os.close(devnull)]
    if args.serve:  # the pywasi-py contestant, in a child on the pure-Python path
        try:
            return contestants.serve(timed(pywasi_guest(module, engine, Path(args.serve), devnull, closing)))
        finally:
            for close in reversed(closing):
                close()
    with tempfile.TemporaryDirectory(prefix="pywasi-bench-", dir=args.tmp) as tmp:
        root = Path(tmp)
        prepare(root, args.size_mib, args.files)
        try:
            pure = contestants.Child(__file__, [str(root), "--size-mib", str(args.size_mib), "--files", str(args.files)])
            closing.append(pure.close)
            players = {
                "pywasi": timed(pywasi_guest(module, engine, root, devnull, closing)),
                "pywasi-py": pure,
                "native": timed(native_guest(module, engine, root)),
                "python": timed(python_loops(root, devnull, closing)),
            }
            results = contestants.measure(players, CASES, args.repeat)
        finally:
            for close in reversed(closing):
                close()
        # Node runs in its own process, after: its figures are the least comparable.
        results["node"] = node_run(wasm, root, size, args.files, args.repeat)
    report(results, size, args.files, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
