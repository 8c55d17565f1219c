"""Contestants taking turns: the rounds a benchmark times its cases in, and
pywasi on its pure-Python path (PYWASI_NATIVE=0) as a contestant beside the
one in force in this process. The path is chosen at import, so that one runs
in a child process, which serves the benchmark's cases one at a time.

The benchmark script starts the child with `Child(script, args)`; run with
`--serve` and `args`, the script calls `serve(run)`, where `run(case)` times
one case and returns its seconds. A case is a line of text.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterable

from pywasi import native

SERVE = "--serve"


def measure(contestants: dict[str, Callable[[str], float]], cases: Iterable[str],
            repeat: int) -> dict[str, dict[str, float]]:
    """The median seconds of every case for every contestant (a function of
    the case, returning its seconds). Contestants take turns within each
    round, so a change in the machine's load (it may be shared) falls on all
    of them alike; round 0 is a warm-up."""
    cases = list(cases)
    samples: dict[str, dict[str, list[float]]] = {name: {case: [] for case in cases} for name in contestants}
    for round_ in range(repeat + 1):
        for case in cases:
            for name, run in contestants.items():
                seconds = run(case)
                if round_:
                    samples[name][case].append(seconds)
    return {name: {case: statistics.median(s) for case, s in by_case.items()} for name, by_case in samples.items()}


class Child:
    """`child(case)`: the seconds the child took for `case`."""

    def __init__(self, script: str, args: list[str]):
        self.process = subprocess.Popen(
            [sys.executable, script, SERVE, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "PYWASI_NATIVE": "0"},
        )

    def __call__(self, case: str) -> float:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(case + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the PYWASI_NATIVE=0 child ended (status {self.process.wait()}) on {case!r}")
        return float(line)

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait()


def serve(run: Callable[[str], float]) -> int:
    """The child's loop: a case a line in, its seconds a line out."""
    assert not native.ENABLED, native.STATUS
    for line in sys.stdin:
        print(run(line.rstrip("\n")), flush=True)
    return 0


def status() -> str:
    """Which path pywasi takes in this process."""
    return f"C hot path {native.STATUS}"
