"""Tracing and counting host calls, with stubs installed instead of the plain
ones only when asked for: the plain stubs carry no `if`, so both cost
nothing when off.

A trace stub decodes the call with the spec's names (the decoders are
generated: each version module's `decoders(memory)`), calls the plain stub,
decodes what it stored, and hands a HostCall to a sink. `str(call)` is the
trace line:

    path_open(fd=3, dirflags=SYMLINK_FOLLOW, path="data/in.txt", oflags=CREAT|TRUNC, ...) -> success, fd=5

A counting stub (Stats) only counts calls, outcomes and time in the host.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field as dataclass_field
from enum import Enum, Flag, IntEnum
from time import perf_counter_ns
from types import ModuleType

# The values the generated decoders produce, which a HostCall holds.
from pywasi.runtime.decoders import OUT_OF_BOUNDS, Bytes, Elided, ElidedList, OutOfBounds, Pointer, enum
from pywasi.runtime.errors import ProcExit

# The record of one call, and its line ---------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class HostCall:
    """One host call, decoded: `function` is its name, `args` its arguments
    by the spec's names. `errno` is the version's Errno member, None when
    the call did not return (proc_exit, a trap); `exception` then says why.
    `results` holds what the call stored, when it succeeded; `ns` is the time
    spent in the host."""

    function: str
    args: dict[str, object]
    errno: IntEnum | None
    results: dict[str, object]
    ns: int
    exception: BaseException | None = None

    def __str__(self) -> str:
        args = ", ".join(f"{k}={format_value(v)}" for k, v in self.args.items())
        return f"{self.function}({args}) -> {self.outcome}"

    @property
    def outcome(self) -> str:
        if self.errno is None:
            return ending(self.exception)
        if self.errno != 0:
            return self.errno.name
        return ", ".join(["success", *(f"{k}={format_value(v)}" for k, v in self.results.items())])


def ending(error: BaseException | None) -> str:
    """How a call that did not return ended."""
    if isinstance(error, SystemExit) and isinstance(error.__cause__, ProcExit):
        error = error.__cause__  # return_on_exit=False: the ProcExit says why
    match error:
        case ProcExit(signal=str(name)):
            return f"killed by SIG{name}, exit {error.code}"
        case ProcExit() | SystemExit():
            return f"exit {error.code}"
        case KeyboardInterrupt():
            return "interrupted"
        case None:
            return "returned nothing"
    return f"trap: {error}" if str(error) else f"trap: {type(error).__name__}"


def format_value(v) -> str:
    match v:
        case Flag():
            return _flags_text(v)
        case Enum():
            return v.name
        case Bytes() | Pointer() | OutOfBounds():
            return str(v)
        case Elided():
            return f"{_quoted(v)}... ({v.size} bytes)"
        case ElidedList():
            return "[" + ", ".join(format_value(x) for x in v) + f", ... ({v.count} in all)]"
        case str() | bytes():
            return _quoted(v)
        case tuple() if hasattr(v, "_fields"):
            return "{" + ", ".join(f"{k}={format_value(x)}" for k, x in zip(v._fields, v)) + "}"
        case list():
            return "[" + ", ".join(format_value(x) for x in v) + "]"
        case None:
            return "?"
    return str(v)


def _flags_text(v: Flag) -> str:
    value = v.value
    names: list[str] = []
    known = 0
    for member in type(v):
        if value & member.value:
            names.append(str(member.name))
            known |= member.value
    if value & ~known:
        names.append(f"{value & ~known:#x}")  # bits the version does not define
    return "|".join(names) or "0"


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _quoted(s: str | bytes) -> str:
    """A string as the trace shows it: in double quotes, with control
    characters and bytes that are not UTF-8 escaped."""
    if isinstance(s, bytes):
        s = s.decode("utf-8", "surrogateescape")
    out = []
    for c in s:
        if c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif "\udc80" <= c <= "\udcff":
            out.append(f"\\x{ord(c) - 0xDC00:02x}")
        elif c < " " or c == "\x7f":
            out.append(f"\\x{ord(c):02x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


# Sinks and stubs ------------------------------------------------------------------


def sink_of(target) -> Callable[[HostCall], None] | None:
    """What WASI(trace=...) accepts, as a function of a HostCall: a text file
    object gets lines, a binary one UTF-8 lines, a callable the record.
    None for anything else."""
    write = getattr(target, "write", None)
    if callable(write):
        if isinstance(target, io.TextIOBase):
            return lambda call: write(f"{call}\n")
        return lambda call: write(f"{call}\n".encode("utf-8", "backslashreplace"))
    if callable(target):
        return target
    return None


def trace_stubs(abi, stubs: dict[str, Callable], memory, sink: Callable[[HostCall], None]) -> dict[str, Callable]:
    """Stubs that trace `stubs` (a version module's `bind` result) into `sink`."""
    decoders = abi.decoders(memory)
    return {
        name: _traced(name, stub, decoders[name], abi.FUNCTIONS[name].core_params, abi.Errno, sink)
        for name, stub in stubs.items()
    }


_MASKS = {"i32": 0xFFFFFFFF, "i64": 0xFFFFFFFFFFFFFFFF}


def _traced(name: str, stub: Callable, decode: Callable, core: tuple[str, ...], errno_type: type[IntEnum], sink: Callable):
    masks = tuple(_MASKS[w] for w in core)

    def traced(*raw):
        # wasm passes i32 and i64 as signed or unsigned ints: the decoders take them unsigned.
        args, results = decode(*[v & m for v, m in zip(raw, masks)])
        start = perf_counter_ns()
        try:
            errno = stub(*raw)
        except BaseException as error:  # noqa: B036 - recorded, then re-raised as it was
            sink(HostCall(function=name, args=args, errno=None, results={}, ns=perf_counter_ns() - start, exception=error))
            raise
        ns = perf_counter_ns() - start
        if errno is None:  # a noreturn function's handler returned
            sink(HostCall(function=name, args=args, errno=None, results={}, ns=ns))
        else:
            sink(HostCall(function=name, args=args, errno=enum(errno_type, errno), results=results() if errno == 0 else {}, ns=ns))
        return errno

    return traced


# Counting ------------------------------------------------------------------------


@dataclass(slots=True)
class FunctionStats:
    calls: int = 0
    ns: int = 0  # in the host, in total
    outcomes: Counter[str] = dataclass_field(default_factory=Counter)  # "success", "NOENT", "exit 0", "trap" ...


class Stats:
    """Per function: calls, outcomes and time in the host, over every WASI
    instance given this object (`WASI(stats=...)`)."""

    def __init__(self) -> None:
        self.functions: dict[str, FunctionStats] = {}

    def stubs(self, abi: ModuleType, stubs: dict[str, Callable]) -> dict[str, Callable]:
        """Stubs that count `stubs` (a version module's `bind` result)."""
        names = {int(e): "success" if e == 0 else e.name for e in abi.Errno}
        return {
            name: _counted(stub, self.functions.setdefault(name, FunctionStats()), names)
            for name, stub in stubs.items()
        }

    def called(self) -> dict[str, FunctionStats]:
        return {name: s for name, s in self.functions.items() if s.calls}

    def report(self) -> str:
        """A table of the called functions, most time in the host first."""
        rows = sorted(self.called().items(), key=lambda item: (-item[1].ns, item[0]))
        width = max([len("function"), len("total"), *(len(name) for name, _ in rows)])
        lines = [f"{'function':<{width}}  {'calls':>7}  {'ms in host':>10}  outcomes"]
        for name, s in rows:
            outcomes = ", ".join(f"{n} {o}" for o, n in sorted(s.outcomes.items(), key=lambda i: (-i[1], i[0])))
            lines.append(f"{name:<{width}}  {s.calls:>7}  {s.ns / 1e6:>10.3f}  {outcomes}")
        calls = sum(s.calls for _, s in rows)
        ns = sum(s.ns for _, s in rows)
        lines.append(f"{'total':<{width}}  {calls:>7}  {ns / 1e6:>10.3f}")
        return "\n".join(lines) + "\n"


def _counted(stub: Callable, entry: FunctionStats, names: dict[int, str]) -> Callable:
    outcomes = entry.outcomes

    def counted(*raw):
        start = perf_counter_ns()
        try:
            errno = stub(*raw)
        except BaseException as error:  # noqa: B036 - counted, then re-raised as it was
            entry.ns += perf_counter_ns() - start
            entry.calls += 1
            outcome = ending(error)
            outcomes["trap" if outcome.startswith("trap:") else outcome] += 1  # traps differ in their message
            raise
        entry.ns += perf_counter_ns() - start
        entry.calls += 1
        outcomes[names.get(errno, str(errno))] += 1
        return errno

    return counted
