"""Host-call cost: the same guest loops under pywasi, wasmtime's native WASI
and Node's node:wasi, in one run. Prints ns per call and the ratios.

    python benchmarks/hostcalls.py [--calls N] [--repeat R]

fd_write writes 16 bytes to /dev/null (the guest's stdout). Each figure is the
median of R runs of N calls.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import wasmtime

from pywasi import WASI

HERE = Path(__file__).resolve().parent
CALLS = ("args_sizes_get", "clock_time_get", "random_get", "fd_write")


def wasm_bytes() -> bytes:
    return wasmtime.wat2wasm((HERE / "hostcalls.wat").read_text())


def time_loops(instance, store, calls: int, repeat: int) -> dict[str, float]:
    exports = instance.exports(store)
    out = {}
    for name in CALLS:
        loop = exports[name]
        assert loop(store, 1000) == 0, f"{name} failed in the guest"
        samples = []
        for _ in range(repeat):
            t = time.perf_counter_ns()
            loop(store, calls)
            samples.append((time.perf_counter_ns() - t) / calls)
        out[name] = statistics.median(samples)
    return out


def pywasi_run(module, engine, devnull: int, calls: int, repeat: int) -> dict[str, float]:
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    wasi = WASI(args=["bench", "x"], stdout=devnull)
    wasi.define(linker)
    instance = linker.instantiate(store, module)
    wasi.start(instance, store)
    try:
        return time_loops(instance, store, calls, repeat)
    finally:
        wasi.close()


def native_run(module, engine, calls: int, repeat: int) -> dict[str, float]:
    store = wasmtime.Store(engine)
    config = wasmtime.WasiConfig()
    config.argv = ["bench", "x"]
    config.stdout_file = os.devnull
    store.set_wasi(config)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    instance = linker.instantiate(store, module)
    return time_loops(instance, store, calls, repeat)


NODE_SCRIPT = r"""
const fs = require('fs');
const { WASI } = require('wasi');
const [wasmPath, calls, repeat] = process.argv.slice(2);
const devnull = fs.openSync('/dev/null', 'w');
const wasi = new WASI({ version: 'preview1', args: ['bench', 'x'], stdout: devnull, returnOnExit: true });
const mod = new WebAssembly.Module(fs.readFileSync(wasmPath));
const inst = new WebAssembly.Instance(mod, wasi.getImportObject());
wasi.start(inst);
const out = {};
for (const name of ['args_sizes_get', 'clock_time_get', 'random_get', 'fd_write']) {
  inst.exports[name](1000);
  const samples = [];
  for (let r = 0; r < Number(repeat); r++) {
    const t = process.hrtime.bigint();
    inst.exports[name](Number(calls));
    samples.push(Number(process.hrtime.bigint() - t) / Number(calls));
  }
  samples.sort((a, b) => a - b);
  out[name] = samples[Math.floor(samples.length / 2)];
}
console.log(JSON.stringify(out));
"""


def node_run(wasm: bytes, calls: int, repeat: int) -> dict[str, float] | None:
    node = shutil.which("node")
    if node is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hostcalls.wasm"
        path.write_bytes(wasm)
        script = Path(tmp) / "bench.js"
        script.write_text(NODE_SCRIPT)
        out = subprocess.run(
            [node, "--no-warnings", str(script), str(path), str(calls * 10), str(repeat)],
            capture_output=True, text=True, check=True,
        )
    return json.loads(out.stdout)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    engine = wasmtime.Engine()
    wasm = wasm_bytes()
    module = wasmtime.Module(engine, wasm)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        ours = pywasi_run(module, engine, devnull, args.calls, args.repeat)
    finally:
        os.close(devnull)
    native = native_run(module, engine, args.calls, args.repeat)
    node = node_run(wasm, args.calls, args.repeat)
    print(f"host calls, ns per call (median of {args.repeat} x {args.calls:,} calls)")
    header = f"{'call':<16}{'pywasi':>9}{'native':>9}{'node':>9}{'pywasi/native':>15}{'pywasi/node':>13}"
    print(header)
    for name in CALLS:
        n = node[name] if node else float("nan")
        print(f"{name:<16}{ours[name]:>9.0f}{native[name]:>9.0f}{n:>9.0f}{ours[name] / native[name]:>14.2f}x{ours[name] / n:>12.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
