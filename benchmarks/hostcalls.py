"""Host-call cost: the same guest loops under pywasi, wasmtime's native WASI
and Node's node:wasi, in one run. Prints ns per call and the ratios.

    python benchmarks/hostcalls.py [--calls N] [--repeat R]

fd_write writes 16 bytes to /dev/null (the guest's stdout). Each figure is the
median of R runs of N calls. pywasi is measured as set up (with PYWASI_NATIVE=1 the calls its C
extension serves run in C) and again on the pure-Python path
(PYWASI_NATIVE=0, in a child process).

Then three scenarios, against wasmtime's native WASI in the same run:
- busy: clock_time_get while another Python thread spins (it holds the GIL
  but at its switch interval), as a ratio to the same call idle;
- threads: four guests in four threads, 50,000 clock_time_get calls each:
  the wall time of all four;
- whole run: WASI object, define, instantiate, start a guest that returns at
  once (this benchmark's module), per run.
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
import threading
import time
from pathlib import Path

import wasmtime

from pywasi import WASI, native as hot_path

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
    wasi, instance, store = _pywasi_instance(module, engine, devnull)
    try:
        return time_loops(instance, store, calls, repeat)
    finally:
        wasi.close()


def native_run(module, engine, calls: int, repeat: int) -> dict[str, float]:
    _, instance, store = _native_instance(module, engine)
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


# Scenarios --------------------------------------------------------------------------

SCENARIO_CALLS = 50_000
THREADS = 4


def _pywasi_instance(module, engine, devnull: int):
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    wasi = WASI(args=["bench", "x"], stdout=devnull)
    wasi.define(linker)
    instance = linker.instantiate(store, module)
    wasi.start(instance, store)
    return wasi, instance, store


def _native_instance(module, engine):
    store = wasmtime.Store(engine)
    config = wasmtime.WasiConfig()
    config.argv = ["bench", "x"]
    config.stdout_file = os.devnull
    store.set_wasi(config)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    return None, linker.instantiate(store, module), store


def _per_call(instance, store, name: str, calls: int, repeat: int) -> float:
    loop = instance.exports(store)[name]
    samples = []
    for _ in range(repeat):
        t = time.perf_counter_ns()
        loop(store, calls)
        samples.append((time.perf_counter_ns() - t) / calls)
    return statistics.median(samples)


def busy(make, repeat: int) -> tuple[float, float]:
    """(idle, busy) ns per clock_time_get, busy: next to a spinning Python thread."""
    wasi, instance, store = make()
    idle = _per_call(instance, store, "clock_time_get", SCENARIO_CALLS, repeat)
    stop = threading.Event()

    def spin():
        n = 0
        while not stop.is_set():
            n += 1

    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        # As many calls as take 0.2 s: a call that waits for the GIL waits a
        # switch interval (5 ms), and so does the loop's return, once.
        n = 16
        while True:
            t = time.perf_counter_ns()
            instance.exports(store)["clock_time_get"](store, n)
            if time.perf_counter_ns() - t > 200_000_000 or n >= SCENARIO_CALLS * 64:
                break
            n *= 2
        loaded = _per_call(instance, store, "clock_time_get", n, repeat)
    finally:
        stop.set()
        spinner.join()
        if wasi is not None:
            wasi.close()
    return idle, loaded


def threads(make, repeat: int) -> float:
    """Wall ns of THREADS guests, each in its own thread, making SCENARIO_CALLS calls."""
    guests = [make() for _ in range(THREADS)]
    samples = []
    for _ in range(repeat):
        barrier = threading.Barrier(THREADS + 1)

        def run(instance, store):
            loop = instance.exports(store)["clock_time_get"]
            barrier.wait()
            loop(store, SCENARIO_CALLS)

        workers = [threading.Thread(target=run, args=(i, s)) for _, i, s in guests]
        for w in workers:
            w.start()
        barrier.wait()
        t = time.perf_counter_ns()
        for w in workers:
            w.join()
        samples.append(time.perf_counter_ns() - t)
    for wasi, _, _ in guests:
        if wasi is not None:
            wasi.close()
    return statistics.median(samples)


def whole_run(run_once, repeat: int, runs: int = 200) -> float:
    """ns per whole small run."""
    run_once()
    samples = []
    for _ in range(repeat):
        t = time.perf_counter_ns()
        for _ in range(runs):
            run_once()
        samples.append((time.perf_counter_ns() - t) / runs)
    return statistics.median(samples)


def pywasi_whole(module, engine, devnull: int):
    def once():
        with WASI(args=["bench"], stdout=devnull) as wasi:
            store = wasmtime.Store(engine)
            linker = wasmtime.Linker(engine)
            wasi.define(linker)
            wasi.start(linker.instantiate(store, module), store)

    return once


def native_whole(module, engine):
    def once():
        store = wasmtime.Store(engine)
        config = wasmtime.WasiConfig()
        config.argv = ["bench"]
        config.stdout_file = os.devnull
        store.set_wasi(config)
        linker = wasmtime.Linker(engine)
        linker.define_wasi()
        linker.instantiate(store, module).exports(store)["_start"](store)

    return once


def measure_pywasi(calls: int, repeat: int) -> dict:
    """Every pywasi figure, on the path in force in this process."""
    engine = wasmtime.Engine()
    module = wasmtime.Module(engine, wasm_bytes())
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        make = lambda: _pywasi_instance(module, engine, devnull)  # noqa: E731
        idle, loaded = busy(make, repeat)
        return dict(
            calls=pywasi_run(module, engine, devnull, calls, repeat),
            idle=idle, busy=loaded,
            threads=threads(make, repeat),
            whole=whole_run(pywasi_whole(module, engine, devnull), repeat),
        )
    finally:
        os.close(devnull)


def measure_native(calls: int, repeat: int) -> dict:
    engine = wasmtime.Engine()
    module = wasmtime.Module(engine, wasm_bytes())
    make = lambda: _native_instance(module, engine)  # noqa: E731
    idle, loaded = busy(make, repeat)
    return dict(
        calls=native_run(module, engine, calls, repeat),
        idle=idle, busy=loaded,
        threads=threads(make, repeat),
        whole=whole_run(native_whole(module, engine), repeat),
    )


def pure_python(calls: int, repeat: int) -> dict | None:
    """measure_pywasi in a child with PYWASI_NATIVE=0 (the path is chosen at import)."""
    out = subprocess.run(
        [sys.executable, __file__, "--pywasi-json", "--calls", str(calls), "--repeat", str(repeat)],
        capture_output=True, text=True, env={**os.environ, "PYWASI_NATIVE": "0"},
    )
    return json.loads(out.stdout) if out.returncode == 0 else None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pywasi-json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.pywasi_json:
        print(json.dumps(measure_pywasi(args.calls, args.repeat)))
        return 0
    ours = measure_pywasi(args.calls, args.repeat)
    python = pure_python(args.calls, args.repeat)
    native = measure_native(args.calls, args.repeat)
    node = node_run(wasm_bytes(), args.calls, args.repeat)
    nan = float("nan")
    py = python or {"calls": {}, "idle": nan, "busy": nan, "threads": nan, "whole": nan}
    print(f"host calls, ns per call (median of {args.repeat} x {args.calls:,} calls)")
    print(f"pywasi: {native_status()}; python: the same, PYWASI_NATIVE=0; wasmtime: its native WASI")
    print(f"{'call':<16}{'pywasi':>9}{'python':>9}{'wasmtime':>10}{'node':>9}"
          f"{'pywasi/wasmtime':>17}{'python/wasmtime':>17}{'pywasi/node':>13}")
    for name in CALLS:
        n = node[name] if node else nan
        p, w, o = ours["calls"][name], native["calls"][name], py["calls"].get(name, nan)
        print(f"{name:<16}{p:>9.0f}{o:>9.0f}{w:>10.0f}{n:>9.0f}{p / w:>16.2f}x{o / w:>16.2f}x{p / n:>12.1f}x")
    print()
    print(f"{'scenario':<38}{'pywasi':>12}{'python':>12}{'wasmtime':>12}{'pywasi/wt':>11}{'python/wt':>11}")
    rows = [
        ("clock_time_get idle (ns)", "idle"),
        ("clock_time_get, a busy thread (ns)", "busy"),
        (f"{THREADS} guest threads, wall (ms)", "threads"),
        ("one whole small run (us)", "whole"),
    ]
    scale = {"threads": 1e6, "whole": 1e3}
    for label, key in rows:
        p, o, w = (d[key] / scale.get(key, 1) for d in (ours, py, native))
        print(f"{label:<38}{p:>12.1f}{o:>12.1f}{w:>12.1f}{p / w:>10.2f}x{o / w:>10.2f}x")
    print(f"{'busy / idle':<38}{ours['busy'] / ours['idle']:>11.1f}x{py['busy'] / py['idle']:>11.1f}x"
          f"{native['busy'] / native['idle']:>11.1f}x")
    return 0


def native_status() -> str:
    return f"C hot path {hot_path.STATUS}"


if __name__ == "__main__":
    sys.exit(main())
