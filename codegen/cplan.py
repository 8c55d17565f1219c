"""The C backend's plan: what native.c.j2 prints for the host calls whose
whole semantics live outside Python. Built from the same lowering as the
Python stubs (abi.py): the same masks, region checks and their order, the
same enum bounds and translations, the same errno tables; only the handler
differs (a C function in native/calls.c named after the witx function).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from . import abi
from . import model as m
from . import naming, translate
from .codecs import int_of

# The calls served in C, without the GIL. Each has a handler `native_<name>`
# in native/calls.c; every other call goes to the Python stub.
NATIVE = (
    "args_get",
    "args_sizes_get",
    "environ_get",
    "environ_sizes_get",
    "clock_res_get",
    "clock_time_get",
    "random_get",
    "sched_yield",
)

# Host errno macros that are other names of a WASI errno's own (E<NAME>):
# the one table runtime/errors.py and native/calls.c both map host errors with.
HOST_ALIASES = (("wouldblock", "again"), ("opnotsupp", "notsup"))

MAX_PARAMS = 16  # native/runtime.h's NATIVE_MAX_PARAMS: the trampoline's argument array

_CTYPES = {8: "uint8_t", 16: "uint16_t", 32: "uint32_t", 64: "uint64_t"}


class NativeError(Exception):
    """A function listed as native whose lowering the C backend cannot print."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CParam:
    name: str
    ctype: str
    index: int  # its slot in wasmtime's args_and_results
    field: str  # the slot's member: i32 or i64


@dataclass(frozen=True, slots=True, kw_only=True)
class LiftInt:
    macro: ClassVar[str] = "c_lift_int"
    core: str
    max: int | None  # narrower than the core type: larger is EINVAL


@dataclass(frozen=True, slots=True, kw_only=True)
class LiftEnum:
    macro: ClassVar[str] = "c_lift_enum"
    core: str
    count: int
    table: str | None  # version value -> canonical value, when they differ


@dataclass(frozen=True, slots=True, kw_only=True)
class LiftBuffer:
    macro: ClassVar[str] = "c_lift_buffer"
    ptr: str
    len: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OutStrings:
    macro: ClassVar[str] = "c_out_strings"
    vector: str
    buf: str


@dataclass(frozen=True, slots=True, kw_only=True)
class COut:
    core: str
    ctype: str
    local: str  # the handler's result
    narrow: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CFunction:
    name: str  # the witx name
    symbol: str  # the callback: preview1_clock_time_get
    id: str  # its bit in a state's enabled mask: NATIVE_CLOCK_TIME_GET
    handler: str  # native_clock_time_get
    params: tuple[CParam, ...]
    regions: tuple[abi.Region, ...]
    steps: tuple[LiftInt | LiftEnum | LiftBuffer | OutStrings, ...]
    args: tuple[str, ...]  # what the handler is passed after the state
    prototype: tuple[str, ...]  # its parameters after the state, declared
    outs: tuple[COut, ...]
    strings: OutStrings | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CTable:
    name: str
    values: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CEntry:
    """One function of a version as wasmtime calls it: its C callback (the
    native one, or the trampoline into its Python stub) and what the
    trampoline needs to pass the stub its core arguments."""

    name: str
    index: int  # its slot in the bridge's list: the generated module's FUNCTIONS order
    id: str  # its NATIVE_* bit, or NATIVE_PYTHON_ONLY
    callback: str
    params: int
    wide: int  # bit i set: core parameter i is an i64
    results: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CVersion:
    name: str  # the generated module's name: preview1
    namespace: str
    functions: tuple[CFunction, ...]
    entries: tuple[CEntry, ...]  # every function, in FUNCTIONS order
    tables: tuple[CTable, ...]
    errno_out: CTable | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CErrno:
    name: str  # the constant: WASI_EINVAL
    value: int
    host: tuple[str, ...]  # host macros meaning it


@dataclass(frozen=True, slots=True, kw_only=True)
class CNative:
    sources: tuple[str, ...]
    ids: tuple[tuple[str, int], ...]  # (NATIVE_X, bit)
    errnos: tuple[CErrno, ...]
    versions: tuple[CVersion, ...]


def errno_const(witx: str) -> str:
    return f"WASI_E{naming.const_name(witx)}"


def host_errnos(canonical: m.Spec) -> tuple[CErrno, ...]:
    """The canonical errnos, each with the host macros that mean it."""
    aliases: dict[str, list[str]] = {}
    for host, wasi in HOST_ALIASES:
        aliases.setdefault(wasi, []).append(f"E{host.upper()}")
    out = []
    for value, case in enumerate(m.unwrap(canonical.type("errno")).cases):
        host = () if case.name == "success" else (f"E{case.name.upper()}", *aliases.get(case.name, ()))
        out.append(CErrno(name=errno_const(case.name), value=value, host=host))
    return tuple(out)


def plan(versions: list[tuple[str, m.Spec]], canonical: m.Spec, sources: list[str]) -> CNative:
    return CNative(
        sources=tuple(sources),
        ids=tuple((_id(name), bit) for bit, name in enumerate(NATIVE)),
        errnos=host_errnos(canonical),
        versions=tuple(_version(name, spec, canonical) for name, spec in versions),
    )


def _id(name: str) -> str:
    return f"NATIVE_{name.upper()}"


def _version(name: str, spec: m.Spec, canonical: m.Spec) -> CVersion:
    lowered = abi.lower_spec(spec)
    lowerings = {low.name: low for low in lowered}
    tables: dict[str, CTable] = {}
    functions = tuple(_function(name, lowerings[f], spec, canonical, tables) for f in NATIVE if f in lowerings)
    symbols = {f.name: f.symbol for f in functions}
    for low in lowered:
        if len(low.core_params) > MAX_PARAMS:
            raise NativeError(f"{low.name}: {len(low.core_params)} core parameters, the trampoline passes {MAX_PARAMS}")
    entries = tuple(
        CEntry(
            name=low.name,
            index=index,
            id=_id(low.name) if low.name in symbols else "NATIVE_PYTHON_ONLY",
            callback=symbols.get(low.name, "native_trampoline"),
            params=len(low.core_params),
            wide=sum(1 << i for i, c in enumerate(low.core_params) if c.wasm == "i64"),
            results=len(low.core_results),
        )
        for index, low in enumerate(lowered)
    )
    errno = spec.type("errno")
    out = translate.enum_map(errno, canonical.type("errno")).out
    errno_out = None
    if out:
        errno_out = CTable(name=f"{name}_errno_out", values=tuple(out[c] for c in range(len(out))))
    return CVersion(
        name=name,
        namespace=spec.module,
        functions=functions,
        entries=entries,
        tables=tuple(tables.values()),
        errno_out=errno_out,
    )


def _function(version: str, low: abi.Lowering, spec: m.Spec, canonical: m.Spec, tables: dict) -> CFunction:
    params = tuple(
        CParam(name=c.name, ctype="uint64_t" if c.wasm == "i64" else "uint32_t", index=i, field=c.wasm)
        for i, c in enumerate(low.core_params)
    )
    steps, args, proto, strings = [], [], [], None
    ctypes = {p.name: p.ctype for p in params}
    for s in low.steps:
        match s:
            case abi.LiftInt():
                steps.append(LiftInt(core=s.core, max=s.max))
                if s.signed_max is not None:
                    raise NativeError(f"{low.name}: signed ints are not printed in C yet")
                args.append(s.core)
                proto.append(f"{ctypes[s.core]} {s.core}")
            case abi.LiftEnum():
                mapping = translate.enum_map(s.named, canonical.type(s.named.name))
                table = None
                if mapping.into is not None:
                    table = f"{version}_in_{naming.py_name(s.named.name)}"
                    tables[table] = CTable(name=table, values=mapping.into)
                steps.append(LiftEnum(core=s.core, count=s.count, table=table))
                args.append(s.core)
                proto.append(f"uint32_t {s.core}")
            case abi.LiftBuffer():
                steps.append(LiftBuffer(ptr=s.ptr, len=s.len))
                args.extend((f"call.base + {s.ptr}", s.len))
                proto.extend((f"uint8_t *{s.arg}", f"uint32_t {s.len}"))
            case abi.OutStrings():
                strings = OutStrings(vector=s.vector, buf=s.buf)
                steps.append(strings)
                args.append("&strings")
                proto.append("const native_strings_t **strings")
            case _:
                raise NativeError(f"{low.name}: a {type(s).__name__} step is not printed in C")
    outs = []
    for i, o in enumerate(low.outs):
        if o.scalar is None or o.scalar.kind != "int":
            raise NativeError(f"{low.name}: only int results are stored from C")
        outs.append(COut(core=o.core, ctype=_CTYPES[int_of(o.type).bits], local=f"r{i}", narrow=o.scalar.narrow))
    args.extend(f"&{o.local}" for o in outs)
    proto.extend(f"{o.ctype} *{o.local}" for o in outs)
    return CFunction(
        name=low.name,
        symbol=f"{version}_{low.name}",
        id=_id(low.name),
        handler=f"native_{low.name}",
        params=params,
        regions=low.regions,
        steps=tuple(steps),
        args=tuple(args),
        prototype=tuple(proto),
        outs=tuple(outs),
        strings=strings,
    )
