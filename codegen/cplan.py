"""The C backend's plan: what native.c.j2 prints for the host calls whose
whole semantics live outside Python. Built from the same lowering as the
Python stubs (abi.py): the same masks, region checks and their order, the
same enum bounds and translations, the same record layouts and errno
tables; only the handler differs (a C function in native/calls.c or
native/fds.c named after the witx function). A handler may decline a call
(NATIVE_FALLBACK): the callback then hands it, unchanged, to Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from . import abi
from . import model as m
from . import naming, translate
from .codecs import Codecs, RecordCodec, Scalar, int_of
from .layout import layout

# The calls served in C, without the GIL. Each has a handler `native_<name>`
# in native/calls.c or native/fds.c; every other call goes to the Python stub.
NATIVE = (
    "args_get",
    "args_sizes_get",
    "environ_get",
    "environ_sizes_get",
    "clock_res_get",
    "clock_time_get",
    "random_get",
    "sched_yield",
    "fd_fdstat_get",
    "fd_pread",
    "fd_pwrite",
    "fd_read",
    "fd_seek",
    "fd_tell",
    "fd_write",
)

# Canonical types whose cases or flags the C handlers name (native/fds.c):
# printed in native.h as WASI_<TYPE>_<CASE>.
CONSTANTS = ("filetype", "whence", "fdflags", "rights")

# Host errno macros that are other names of a WASI errno's own (E<NAME>):
# the one table runtime/errors.py and native/calls.c both map host errors with.
HOST_ALIASES = (("wouldblock", "again"), ("opnotsupp", "notsup"))

MAX_PARAMS = 16  # native/runtime.h's NATIVE_MAX_PARAMS: the trampoline's argument array

_CTYPES = {8: "uint8_t", 16: "uint16_t", 32: "uint32_t", 64: "uint64_t"}
_SIGNED = {32: "int32_t", 64: "int64_t"}


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
class LiftHandle:
    macro: ClassVar[str] = "c_lift_handle"
    core: str


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
class LiftIovecs:
    """An iovec or ciovec list: read into `local` (a native_iovecs_t) by
    native_iovecs, which checks each buffer as GuestMemory.buffers does."""

    macro: ClassVar[str] = "c_lift_iovecs"
    local: str
    ptr: str
    len: str
    unit: int  # the record's size
    buf_offset: int
    len_offset: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OutStrings:
    macro: ClassVar[str] = "c_out_strings"
    vector: str
    buf: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CField:
    """One scalar of a record stored to guest memory, as the version lays it
    out, from the canonical struct's member."""

    member: str
    offset: int
    ctype: str  # the version's width
    narrow: int | None  # the version's field is narrower: larger is EOVERFLOW
    mask: int | None  # flags: the canonical bits the version has
    table: str | None  # enum: canonical -> version value


@dataclass(frozen=True, slots=True, kw_only=True)
class CRecord:
    size: int
    fields: tuple[CField, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class COut:
    core: str
    ctype: str  # a scalar's C type, or the canonical record's struct
    local: str  # the handler's result
    narrow: int | None
    record: CRecord | None  # stored field by field; None: a scalar


@dataclass(frozen=True, slots=True, kw_only=True)
class CFunction:
    name: str  # the witx name
    symbol: str  # the callback: preview1_clock_time_get
    id: str  # its bit in a state's enabled mask: NATIVE_CLOCK_TIME_GET
    handler: str  # native_clock_time_get
    params: tuple[CParam, ...]
    regions: tuple[abi.Region, ...]
    steps: tuple[LiftInt | LiftHandle | LiftEnum | LiftBuffer | LiftIovecs | OutStrings, ...]
    args: tuple[str, ...]  # what the handler is passed after the state
    prototype: tuple[str, ...]  # its parameters after the state, declared
    outs: tuple[COut, ...]
    strings: OutStrings | None
    iovecs: tuple[str, ...]  # native_iovecs_t locals, released after the handler


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
class CConstant:
    name: str  # WASI_WHENCE_SET
    value: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CConstants:
    """A canonical enum's cases or flags' bits."""

    type: str  # the witx name
    flags: bool
    ctype: str
    values: tuple[CConstant, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CMember:
    name: str
    ctype: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CStruct:
    """A canonical record a C handler fills (its result)."""

    name: str  # native_fdstat_t
    witx: str
    members: tuple[CMember, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CNative:
    sources: tuple[str, ...]
    ids: tuple[tuple[str, int], ...]  # (NATIVE_X, bit)
    errnos: tuple[CErrno, ...]
    constants: tuple[CConstants, ...]
    structs: tuple[CStruct, ...]
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


def constants(canonical: m.Spec) -> tuple[CConstants, ...]:
    out = []
    for name in CONSTANTS:
        t = m.unwrap(canonical.type(name))
        if isinstance(t, m.Enum):
            values = tuple(CConstant(name=naming.c_const(name, c.name), value=i) for i, c in enumerate(t.cases))
            out.append(CConstants(type=name, flags=False, ctype=_CTYPES[t.tag.bits], values=values))
        elif isinstance(t, m.Flags):
            values = tuple(CConstant(name=naming.c_const(name, f.name), value=1 << i) for i, f in enumerate(t.flags))
            out.append(CConstants(type=name, flags=True, ctype=_CTYPES[t.repr.bits], values=values))
        else:
            raise NativeError(f"${name}: only enums and flags are printed as constants")
    return tuple(out)


def struct(canonical: m.Spec, name: str) -> CStruct:
    """The C struct of a canonical record of scalars."""
    t = m.unwrap(canonical.type(name))
    if not isinstance(t, m.Record):
        raise NativeError(f"${name} is not a record")
    members = []
    for f in t.fields:
        try:
            bits = int_of(f.type).bits
        except TypeError:
            raise NativeError(f"${name}.{f.name}: only scalar fields are stored from C") from None
        members.append(CMember(name=naming.py_name(f.name), ctype=_CTYPES[bits]))
    return CStruct(name=naming.c_struct(name), witx=name, members=tuple(members))


def plan(versions: list[tuple[str, m.Spec]], canonical: m.Spec, sources: list[str]) -> CNative:
    records: dict[str, None] = {}  # the canonical records C handlers fill, in order
    planned = tuple(_version(name, spec, canonical, records) for name, spec in versions)
    return CNative(
        sources=tuple(sources),
        ids=tuple((_id(name), bit) for bit, name in enumerate(NATIVE)),
        errnos=host_errnos(canonical),
        constants=constants(canonical),
        structs=tuple(struct(canonical, r) for r in records),
        versions=planned,
    )


def _id(name: str) -> str:
    return f"NATIVE_{name.upper()}"


def _version(name: str, spec: m.Spec, canonical: m.Spec, records: dict[str, None]) -> CVersion:
    codecs = Codecs(spec, canonical)
    lowered = abi.lower_spec(spec, codecs)
    lowerings = {low.name: low for low in lowered}
    tables: dict[str, CTable] = {}
    functions = tuple(
        _Function(name, lowerings[f], canonical, codecs, tables, records).plan() for f in NATIVE if f in lowerings
    )
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


class _Function:
    """One function's plan, from its lowering: the steps, the handler's
    arguments and prototype, and the results it stores."""

    def __init__(self, version: str, low: abi.Lowering, canonical: m.Spec, codecs: Codecs,
                 tables: dict[str, CTable], records: dict[str, None]):
        self.version = version
        self.low = low
        self.canonical = canonical
        self.codecs = codecs
        self.tables = tables
        self.records = records

    def fail(self, why: str) -> NativeError:
        return NativeError(f"{self.low.name}: {why}")

    def plan(self) -> CFunction:
        low = self.low
        params = tuple(
            CParam(name=c.name, ctype="uint64_t" if c.wasm == "i64" else "uint32_t", index=i, field=c.wasm)
            for i, c in enumerate(low.core_params)
        )
        ctypes = {p.name: p.ctype for p in params}
        steps: list = []
        args: list[str] = []
        proto: list[str] = []
        strings = None
        iovecs = []
        for s in low.steps:
            match s:
                case abi.LiftInt():
                    steps.append(LiftInt(core=s.core, max=s.max))
                    if s.signed_max is None:
                        args.append(s.core)
                        proto.append(f"{ctypes[s.core]} {s.core}")
                    elif s.int.bits == (64 if s.wasm == "i64" else 32):
                        # as the stub's wrap to negative: two's complement
                        ctype = _SIGNED[s.int.bits]
                        args.append(f"({ctype}){s.core}")
                        proto.append(f"{ctype} {s.core}")
                    else:
                        raise self.fail("signed ints narrower than their core type are not printed in C")
                case abi.LiftHandle():
                    steps.append(LiftHandle(core=s.core))
                    args.append(s.core)
                    proto.append(f"uint32_t {s.core}")
                case abi.LiftEnum():
                    mapping = translate.enum_map(s.named, self.canonical.type(s.named.name))
                    table = None
                    if mapping.into is not None:
                        table = naming.c_table(self.version, "in", s.named.name)
                        self.tables[table] = CTable(name=table, values=mapping.into)
                    steps.append(LiftEnum(core=s.core, count=s.count, table=table))
                    args.append(s.core)
                    proto.append(f"uint32_t {s.core}")
                case abi.LiftBuffer():
                    steps.append(LiftBuffer(ptr=s.ptr, len=s.len))
                    args.extend((f"call.base + {s.ptr}", s.len))
                    proto.extend((f"uint8_t *{s.arg}", f"uint32_t {s.len}"))
                case abi.LiftBufferList():
                    steps.append(
                        LiftIovecs(local=s.arg, ptr=s.ptr, len=s.len, unit=s.layout.size, buf_offset=s.buf_offset,
                                   len_offset=s.len_offset)
                    )
                    iovecs.append(s.arg)
                    args.append(f"&{s.arg}")
                    proto.append(f"const native_iovecs_t *{s.arg}")
                case abi.OutStrings():
                    strings = OutStrings(vector=s.vector, buf=s.buf)
                    steps.append(strings)
                    args.append("&strings")
                    proto.append("const native_strings_t **strings")
                case _:
                    raise self.fail(f"a {type(s).__name__} step is not printed in C")
        outs = tuple(self._out(i, o) for i, o in enumerate(low.outs))
        args.extend(f"&{o.local}" for o in outs)
        proto.extend(f"{o.ctype} *{o.local}" for o in outs)
        return CFunction(
            name=low.name,
            symbol=f"{self.version}_{low.name}",
            id=_id(low.name),
            handler=f"native_{low.name}",
            params=params,
            regions=low.regions,
            steps=tuple(steps),
            args=tuple(args),
            prototype=tuple(proto),
            outs=outs,
            strings=strings,
            iovecs=tuple(iovecs),
        )

    def _out(self, i: int, o: abi.OutValue) -> COut:
        local = f"r{i}"
        if o.scalar is not None:
            if o.scalar.kind != "int":
                raise self.fail("only int scalars are stored from C")
            return COut(core=o.core, ctype=_CTYPES[int_of(o.type).bits], local=local, narrow=o.scalar.narrow,
                        record=None)
        codec = self.codecs.puts.get(o.encoder or "")
        if not isinstance(codec, RecordCodec) or not codec.flat:
            raise self.fail("only records of scalars are stored from C")
        assert isinstance(o.type, m.Named)
        self.records[o.type.name] = None
        fields = tuple(self._field(o.type, f) for f in codec.fields if isinstance(f, Scalar))
        if len(fields) != len(codec.fields) or any("." in f.attr or not f.attr for f in codec.fields):
            raise self.fail("only flat records the canonical one covers are stored from C")
        return COut(core=o.core, ctype=naming.c_struct(o.type.name), local=local, narrow=None,
                    record=CRecord(size=layout(o.type).size, fields=fields))

    def _field(self, record: m.Named, f: Scalar) -> CField:
        if f.out_function is not None:
            raise self.fail(f"${record.name}.{f.attr}: flags that move bits are not stored from C")
        field_type = next(x.type for x in m.unwrap(record).fields if naming.py_name(x.name) == f.attr)
        stored = int_of(field_type)
        if stored.signed:
            raise self.fail(f"${record.name}.{f.attr}: signed fields are not stored from C")
        table = None
        if f.out_table is not None:
            assert isinstance(field_type, m.Named)
            canonical = self.canonical.type(field_type.name)
            mapping = translate.enum_map(field_type, canonical)
            assert mapping.out is not None
            count = len(m.unwrap(canonical).cases)
            if set(mapping.out) != set(range(count)):
                raise self.fail(f"${field_type.name}: a canonical case the version lacks is not stored from C")
            table = naming.c_table(self.version, "out", field_type.name)
            self.tables[table] = CTable(name=table, values=tuple(mapping.out[c] for c in range(count)))
        return CField(member=f.attr, offset=f.offset, ctype=_CTYPES[stored.bits], narrow=f.narrow,
                      mask=f.out_mask, table=table)
