"""Where the time of one whole small run goes: hostcalls.py's "one whole
small run" (WASI object, define, instantiate, start a guest that returns at
once, close) phase by phase, next to wasmtime's native WASI doing the same,
and pywasi.run of the same module.

    python benchmarks/smallrun.py [--runs N] [--repeat R]

Each figure is the median over R rounds of the mean of N runs, in us.
The whole-run totals are measured bare; the phases in a second pass with
each phase wrapped in a timer (which adds well under a microsecond each).
Phases nest: the indented ones are parts of the one above them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import wasmtime

import pywasi
from pywasi import WASI, bridge, interrupt, native, runner, stop, wasi as wasi_module
from pywasi.generated import preview1

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hostcalls  # noqa: E402 - the host-call benchmark, beside this file

_totals: dict[str, int] = defaultdict(int)


def _timed(label: str, function):
    def timed(*args, **kwargs):
        t = time.perf_counter_ns()
        try:
            return function(*args, **kwargs)
        finally:
            _totals[label] += time.perf_counter_ns() - t

    return timed


def _timed_context(label: str, manager):
    """A context manager's entry and exit, timed apart."""

    @contextlib.contextmanager
    def timed(*args, **kwargs):
        t = time.perf_counter_ns()
        context = manager(*args, **kwargs)
        context.__enter__()
        _totals[label + " (enter)"] += time.perf_counter_ns() - t
        try:
            yield
        except BaseException as e:
            t = time.perf_counter_ns()
            if not context.__exit__(type(e), e, e.__traceback__):
                raise
        else:
            t = time.perf_counter_ns()
            context.__exit__(None, None, None)
        finally:
            _totals[label + " (exit)"] += time.perf_counter_ns() - t

    return timed


# (label, owner, attribute, context manager?): what the second pass times.
# A phase whose code has moved away is left out, not an error.
PHASES = [
    ("WASI.__init__", WASI, "__init__", False),
    ("  _host_setup (FdTable, stdio)", wasi_module, "_host_setup", False),
    ("  native.calls_for", wasi_module.native, "calls_for", False),
    ("  Bridge()", bridge, "Bridge", False),
    ("define", WASI, "define", False),
    ("start", WASI, "start", False),
    ("  _begin (exports)", WASI, "_begin", False),
    ("  _bind", WASI, "_bind", False),
    ("    native bind", native.NativeCalls, "bind", False),
    ("    memory_may_move", bridge, "memory_may_move", False),
    ("    GuestMemory.bind", wasi_module.GuestMemory, "bind", False),
    ("    abi.bind (the stubs)", preview1, "bind", False),
    ("    Bridge.install", bridge.Bridge, "install", False),
    ("    interrupt.attach", interrupt, "attach", False),
    ("  _run", WASI, "_run", False),
    ("    Stop()", wasi_module, "Stop", False),
    ("    Stop.arm", stop.Stop, "arm", False),
    ("    Stop.running", stop.Stop, "running", True),
    ("    epoch_on_sigint", interrupt, "epoch_on_sigint", True),
    ("    bridge.call", bridge, "call", False),
    ("close", WASI, "close", False),
    ("  interrupt.detach", interrupt, "detach", False),
    ("  Bridge.close", bridge.Bridge, "close", False),
    ("  Bridge.after_calls", bridge.Bridge, "after_calls", False),
    ("    Bridge.in_flight", bridge.Bridge, "in_flight", False),
    ("    GuestMemory.unbind", wasi_module.GuestMemory, "unbind", False),
    ("    Host.close", wasi_module.Host, "close", False),
]


@contextlib.contextmanager
def instrumented():
    saved = []
    for label, owner, name, is_context in PHASES:
        original = owner.__dict__.get(name) if isinstance(owner, type) else getattr(owner, name, None)
        if original is None:
            continue
        wrap = _timed_context if is_context else _timed
        saved.append((owner, name, original))
        setattr(owner, name, wrap(label, original))
    try:
        yield
    finally:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)


def mean_us(once, runs: int, repeat: int) -> float:
    return hostcalls.whole_run(once, repeat, runs) / 1e3


def phases_us(steps: list[tuple[str, object]], runs: int, repeat: int, wrap: bool) -> dict[str, float]:
    """Median per-run us of each of `steps` (label, function of the previous
    step's result), and of the phases wrapped in a timer if `wrap`."""
    rounds: dict[str, list[float]] = defaultdict(list)
    for r in range(repeat + 1):
        _totals.clear()
        with instrumented() if wrap else contextlib.nullcontext():
            for _ in range(runs):
                value = None
                for label, step in steps:
                    t = time.perf_counter_ns()
                    value = step(value)
                    _totals["= " + label] += time.perf_counter_ns() - t
        if r:  # the first round warms up
            for label, ns in _totals.items():
                rounds[label].append(ns / runs / 1e3)
    return {label: statistics.median(v) for label, v in rounds.items()}


def pywasi_steps(module, engine, devnull: int):
    def make(_):
        return WASI(args=["bench"], stdout=devnull)

    def link(wasi):
        store, linker = wasmtime.Store(engine), wasmtime.Linker(engine)
        return wasi, store, linker

    def define(v):
        v[0].define(v[2])
        return v

    def instantiate(v):
        return v[0], v[1], v[2].instantiate(v[1], module)

    def start(v):
        v[0].start(v[2], v[1])
        return v[0]

    def close(wasi):
        wasi.close()

    return [("WASI()", make), ("Store + Linker", link), ("define", define), ("instantiate", instantiate),
            ("start", start), ("close", close)]


def native_steps(module, engine):
    def config(_):
        store = wasmtime.Store(engine)
        config = wasmtime.WasiConfig()
        config.argv = ["bench"]
        config.stdout_file = os.devnull
        store.set_wasi(config)
        return store

    def link(store):
        linker = wasmtime.Linker(engine)
        linker.define_wasi()
        return store, linker

    def instantiate(v):
        return v[0], v[1].instantiate(v[0], module)

    def start(v):
        v[1].exports(v[0])["_start"](v[0])

    return [("Store + WasiConfig", config), ("Linker + define_wasi", link), ("instantiate", instantiate),
            ("start", start)]


def run_steps(wasm: bytes, cache: Path, devnull: int):
    def run(_):
        return pywasi.run(wasm, args=["bench"], stdout=devnull, cache=cache)

    return [("pywasi.run", run)]


RUN_PHASES = [
    ("  read_module", runner, "read_module"),
    ("  compile_module (cache)", runner, "compile_module"),
    ("  detect_version", runner, "detect_version"),
    ("  check_command", runner, "check_command"),
    ("  Job._start", runner.Job, "_start"),
    ("    Job._usage", runner.Job, "_usage"),
]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    engine = wasmtime.Engine()
    wasm = hostcalls.wasm_bytes()
    module = wasmtime.Module(engine, wasm)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        ours = hostcalls.pywasi_whole(module, engine, devnull)
        theirs = hostcalls.native_whole(module, engine)
        whole = mean_us(ours, args.runs, args.repeat), mean_us(theirs, args.runs, args.repeat)
        with tempfile.TemporaryDirectory() as cache:
            run_whole = mean_us(lambda: run_steps(wasm, Path(cache), devnull)[0][1](None), args.runs, args.repeat)
            PHASES.extend((label, owner, name, False) for label, owner, name in RUN_PHASES)
            run_phases = phases_us(run_steps(wasm, Path(cache), devnull), args.runs, args.repeat, True)
            del PHASES[-len(RUN_PHASES):]
        ours_phases = phases_us(pywasi_steps(module, engine, devnull), args.runs, args.repeat, True)
        their_phases = phases_us(native_steps(module, engine), args.runs, args.repeat, False)
    finally:
        os.close(devnull)

    print(f"one whole small run, us (median of {args.repeat} x {args.runs} runs)")
    print(f"  pywasi {whole[0]:.1f}   wasmtime native WASI {whole[1]:.1f}   ratio {whole[0] / whole[1]:.2f}x")
    print(f"  pywasi.run {run_whole:.1f}")
    print()
    _table("pywasi, phase by phase (timed)", ours_phases)
    _table("wasmtime native WASI, step by step", their_phases)
    _table("pywasi.run, phase by phase (timed; the run's own WASI phases as above)", run_phases)
    return 0


def _table(title: str, figures: dict[str, float]) -> None:
    print(title)
    order = [label for label, *_ in PHASES] + [label for label, *_ in RUN_PHASES]
    steps = [label for label in figures if label.startswith("= ")]
    for step in steps:
        print(f"  {step[2:]:<38}{figures[step]:>9.1f}")
    print(f"  {'(sum of steps)':<38}{sum(figures[s] for s in steps):>9.1f}")
    for label in order:
        for key in (label, label + " (enter)", label + " (exit)"):
            if key in figures:
                print(f"    {key:<36}{figures[key]:>9.1f}")
    print()


if __name__ == "__main__":
    sys.exit(main())
