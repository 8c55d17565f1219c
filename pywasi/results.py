"""What a run gives back, in subprocess's shape: CompletedRun and Usage, and
the two exceptions, TimeoutExpired and RunError, which subclass subprocess's
own so that code written for subprocess.run catches them.

All of them pickle (a run's results travel back from a process pool or a
cluster's workers unchanged).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Usage:
    """What a run used. `dataclasses.asdict(usage)` is JSON.

    wall_s: seconds from start to end; cpu_s: CPU seconds of the thread that
    ran the guest; fuel: fuel consumed (None unless metered with max_fuel);
    peak_memory: bytes of linear memory at the end (it only grows);
    host_calls: calls into the host; bytes_read, bytes_written: through
    fd_read, fd_pread, sock_recv and fd_write, fd_pwrite, sock_send;
    ended_by: "exit", "trap", "timeout", "fuel" or "interrupt"."""

    wall_s: float
    cpu_s: float
    fuel: int | None
    peak_memory: int
    host_calls: int
    bytes_read: int
    bytes_written: int
    ended_by: str


@dataclass(frozen=True, kw_only=True)
class CompletedRun:
    """A finished run, as subprocess.CompletedProcess: `returncode` is the
    exit code (134 after a trap, as wasmtime's CLI reports); `stdout` and
    `stderr` are bytes when captured, else None; `trap` is one line such as
    "unreachable executed (in main)", or None. `args` is the guest's argv;
    `usage` what the run used (a pywasi.Usage)."""

    args: list[str]
    returncode: int
    stdout: bytes | None = None
    stderr: bytes | None = None
    trap: str | None = None
    usage: Usage | None = None

    def check_returncode(self) -> None:
        """Raise RunError if the returncode is nonzero."""
        if self.returncode:
            raise RunError(self)


class TimeoutExpired(subprocess.TimeoutExpired):
    """The run was stopped at its timeout. `output`/`stdout` and `stderr`
    hold what was captured until then; `usage` what it used; `cmd` the
    guest's argv and `timeout` the seconds it was given."""

    def __init__(self, cmd, timeout: float, output: bytes | None = None, stderr: bytes | None = None,
                 usage: Usage | None = None):
        super().__init__(cmd, timeout, output, stderr)
        self.usage = usage

    def __str__(self) -> str:
        return f"{_program(self.cmd)} timed out after {self.timeout:g} seconds"

    def __reduce__(self):
        return type(self), (self.cmd, self.timeout, self.output, self.stderr, self.usage)


class RunError(subprocess.CalledProcessError):
    """check=True and the run ended with a nonzero returncode; `result` is
    the CompletedRun (its fields are also here, as CalledProcessError's)."""

    def __init__(self, result: CompletedRun):
        super().__init__(result.returncode, result.args, result.stdout, result.stderr)
        self.result = result
        self.trap = result.trap
        self.usage = result.usage

    def __str__(self) -> str:
        if self.trap:
            return f"{_program(self.cmd)} trapped: {self.trap}"
        return f"{_program(self.cmd)} exited with {self.returncode}"

    def __reduce__(self):
        return type(self), (self.result,)


def _program(args) -> str:
    if isinstance(args, (list, tuple)) and args:
        return repr(str(args[0]))
    return "the program"
