"""ABI lowering as data: for each function, its core wasm signature and the
steps a stub takes to turn lowered integers into handler arguments and the
handler's answer back into guest memory.

Each step has one fixed meaning; templates only turn steps into code.

Core types: ints of 32 bits or less, enums, flags, handles and pointers are
i32; 64-bit ints and flags are i64; strings and lists are two i32 (pointer,
length). An `expected` result is an i32 errno plus one i32 out-pointer per ok
value; a `noreturn` function returns nothing.

witx does not say what a raw pointer parameter points at, or how long the
region is. The rules below say it, and they are the only place that does:

- A `(@witx pointer u8)` followed by a `$size` parameter named `<name>_len` is
  a buffer: the handler gets a writable memoryview of it.
- A `(@witx pointer (@witx pointer u8))` followed by a `(@witx pointer u8)` is
  a string table the handler returns as a list of bytes (args_get,
  environ_get): the stub writes the pointers and the NUL-terminated strings.
- A pointer to a record is an array whose length is the next `$size`
  parameter; const pointers are read into a list of records, others are
  filled from the list the handler returns, and the count becomes the ok
  value (poll_oneoff).
- A list the stub builds from a guest's count is bounded (GuestMemory's
  `buffers` and `records`: IOV_MAX iovecs, MAX_RECORDS records); past it the
  call is EINVAL before anything is built.
- fd_readdir's buffer is filled from the (dirent, name) pairs the handler
  yields, truncating the last one when the buffer is full, as the spec says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from . import model as m
from . import naming
from .codecs import Codecs, Scalar, int_of, invalid_bits, is_scalar
from .layout import Layout, layout
from .naming import py_param

MASK32 = 0xFFFFFFFF
MASK64 = 0xFFFFFFFFFFFFFFFF

# fd_readdir's buffer: filled by the stub from what the handler yields.
DIRENT_STREAMS = {("fd_readdir", "buf")}


class LoweringError(Exception):
    """A function the rules above cannot lower; names the function and param."""


@dataclass(frozen=True, slots=True)
class CoreParam:
    name: str
    wasm: str  # "i32" or "i64"

    @property
    def mask(self) -> int:
        """What a stub masks the value wasm passes with (it may come signed)."""
        return MASK64 if self.wasm == "i64" else MASK32


@dataclass(frozen=True, slots=True, kw_only=True)
class Region:
    """A guest region a stub checks (bounds, then alignment) before anything
    else: `count` core parameter times `unit` bytes, or `unit` bytes."""

    ptr: str
    count: str | None
    unit: int
    align: int


# Steps -----------------------------------------------------------------------
# `arg` is the handler argument a lift step produces; `core` names the core
# parameters it reads. `macro` names the template macro that prints the step;
# `region`, the guest memory it needs in bounds before the handler runs.


@dataclass(frozen=True, slots=True, kw_only=True)
class LiftInt:
    macro: ClassVar[str] = "lift_int"
    arg: str
    core: str
    int: m.Int
    wasm: str
    max: int | None  # narrower than the core type: larger is EINVAL
    signed_max: int | None  # signed: larger values wrap to negative
    modulus: int
    region: None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LiftEnum:
    macro: ClassVar[str] = "lift_enum"
    arg: str
    core: str
    named: m.Named
    count: int  # cases: at or past it is EINVAL
    table: str  # version value -> canonical member
    region: None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LiftFlags:
    macro: ClassVar[str] = "lift_flags"
    arg: str
    core: str
    named: m.Named
    invalid: int  # bits of the core value that name no flag: EINVAL
    translate: str | None  # the function moving bits to the canonical ones
    region: None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LiftHandle:
    macro: ClassVar[str] = "lift_handle"
    arg: str
    core: str
    region: None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LiftString:
    macro: ClassVar[str] = "lift_string"
    arg: str
    ptr: str
    len: str
    region: Region


@dataclass(frozen=True, slots=True, kw_only=True)
class LiftBuffer:
    """pointer u8 + <name>_len: a writable view of guest memory."""

    macro: ClassVar[str] = "lift_buffer"
    arg: str
    ptr: str
    len: str
    region: Region


@dataclass(frozen=True, slots=True, kw_only=True)
class LiftBufferList:
    """A list of iovec/ciovec records: a list of views of guest memory."""

    macro: ClassVar[str] = "lift_buffer_list"
    arg: str
    ptr: str
    len: str
    element: m.Named  # a record of (pointer u8, size)
    layout: Layout
    struct: str  # the record's struct.Struct
    buf_offset: int
    len_offset: int
    region: Region


@dataclass(frozen=True, slots=True, kw_only=True)
class LiftArray:
    """A const pointer to `count` records, read into a list."""

    macro: ClassVar[str] = "lift_array"
    arg: str
    ptr: str
    count: str
    element: m.Named
    size: int
    decoder: str  # the element's reader
    region: Region


@dataclass(frozen=True, slots=True, kw_only=True)
class OutArray:
    """A pointer to room for `count` records, filled from the handler's list."""

    macro: ClassVar[str] = "out_array"
    ptr: str
    count: str
    element: m.Named
    size: int
    encoder: str  # the element's writer
    region: Region


@dataclass(frozen=True, slots=True, kw_only=True)
class OutStrings:
    """args_get/environ_get: pointers into `buf`, then NUL-terminated strings."""

    macro: ClassVar[str] = "out_strings"
    vector: str
    buf: str
    region: None = None  # sized by what the handler returns: checked then


@dataclass(frozen=True, slots=True, kw_only=True)
class OutDirents:
    macro: ClassVar[str] = "out_dirents"
    ptr: str
    len: str
    dirent: m.Named
    encoder: str  # the dirent's writer
    header: int  # the dirent's size, before its name
    region: Region


@dataclass(frozen=True, slots=True, kw_only=True)
class OutValue:
    """An out-pointer the stub stores one ok value through: a scalar (through
    the typed view `view`, at index `core >> shift`) or a record (`encoder`)."""

    name: str  # the value's name (trace, docs)
    core: str
    type: m.Type
    region: Region
    scalar: Scalar | None
    view: str  # "u8", "u16", "u32", "u64"
    shift: int
    encoder: str | None


Step = (
    LiftInt | LiftEnum | LiftFlags | LiftHandle | LiftString | LiftBuffer | LiftBufferList
    | LiftArray | OutArray | OutStrings | OutDirents
)


@dataclass(frozen=True, slots=True)
class Lowering:
    function: m.Function
    core_params: tuple[CoreParam, ...]
    core_results: tuple[str, ...]
    steps: tuple[Step, ...]
    outs: tuple[OutValue, ...]
    # What the handler returns: "none", "value" (one ok value), "tuple",
    # "array" (OutArray's list; its length is the ok value), "dirents"
    # (OutDirents' iterable; the bytes written are the ok value), "strings"
    # (OutStrings' list), "noreturn".
    returns: str

    @property
    def name(self) -> str:
        return self.function.name

    @property
    def handler(self) -> str:
        """The local a stub holds the bound handler method in."""
        return naming.handler_local(self.function.name)

    @property
    def args(self) -> tuple[str, ...]:
        return tuple(s.arg for s in self.steps if hasattr(s, "arg"))

    @property
    def regions(self) -> tuple[Region, ...]:
        """Every region checked before the handler runs, in order."""
        return tuple(s.region for s in self.steps if s.region is not None) + tuple(o.region for o in self.outs)

    @property
    def out_views(self) -> tuple[str, ...]:
        """The typed views the stores of a tuple result use."""
        return tuple(sorted({o.view for o in self.outs}))

    @property
    def filled(self) -> OutStrings | OutArray | OutDirents | None:
        """The step the handler's answer fills, when it returns strings, an
        array or dirents."""
        return next((s for s in self.steps if isinstance(s, (OutStrings, OutArray, OutDirents))), None)


def wasm_type(t: m.Type) -> str:
    """The core wasm type of a scalar."""
    t = m.unwrap(t)
    match t:
        case m.Int(bits=bits):
            return "i64" if bits == 64 else "i32"
        case m.Enum(tag=tag):
            return wasm_type(tag)
        case m.Flags(repr=repr_):
            return wasm_type(repr_)
        case m.Handle() | m.Pointer() | m.Usize() | m.Char8():
            return "i32"
    raise TypeError(f"{type(t).__name__} is not a scalar")


def lower_spec(spec: m.Spec, codecs: Codecs | None = None) -> tuple[Lowering, ...]:
    """Every function of `spec`, lowered. The records and unions the stubs
    read and write are registered in `codecs` (by default against `spec`
    itself as the canonical spec)."""
    codecs = codecs or Codecs(spec, spec)
    return tuple(_Lowerer(spec, f, codecs).lowering() for f in spec.functions)


class _Lowerer:
    def __init__(self, spec: m.Spec, function: m.Function, codecs: Codecs):
        self.spec = spec
        self.f = function
        self.codecs = codecs
        self.core: list[CoreParam] = []
        self.steps: list[Step] = []
        self.consumed: set[str] = set()  # lowered together with the param before
        self.counts: set[str] = set()  # array counts: core params, not handler args

    def fail(self, param: str, why: str) -> LoweringError:
        return LoweringError(f"{self.f.name}: ${param}: {why}")

    def lowering(self) -> Lowering:
        params = self.f.params
        for i, p in enumerate(params):
            if p.name in self.consumed:
                continue
            if p.name in self.counts:
                self._add_core(py_param(p.name), "i32")
                continue
            self._param(p, params[i + 1 :])
        outs, returns = self._results()
        core_results = () if self.f.noreturn else ("i32",)
        names = [c.name for c in self.core]
        if len(set(names)) != len(names):
            raise self.fail(self.f.name, f"core parameter names collide: {names}")
        return Lowering(self.f, tuple(self.core), core_results, tuple(self.steps), outs, returns)

    def _add_core(self, name: str, wasm: str) -> str:
        self.core.append(CoreParam(name, wasm))
        return name

    def _param(self, p: m.Param, rest: tuple[m.Param, ...]) -> None:
        name = py_param(p.name)
        t = m.unwrap(p.type)
        match t:
            case m.Int() | m.Usize() | m.Char8():
                i = t if isinstance(t, m.Int) else m.Int(name="u8" if isinstance(t, m.Char8) else "u32")
                wasm = wasm_type(i)
                core = self._add_core(name, wasm)
                self.steps.append(
                    LiftInt(
                        arg=name, core=core, int=i, wasm=wasm,
                        max=(1 << i.bits) - 1 if i.bits < 32 else None,
                        signed_max=(1 << (i.bits - 1)) - 1 if i.signed else None,
                        modulus=1 << i.bits,
                    )
                )
            case m.Enum():
                core = self._add_core(name, wasm_type(t))
                self.steps.append(
                    LiftEnum(arg=name, core=core, named=p.type, count=len(t.cases), table=naming.enum_in(p.type.name))
                )
            case m.Flags():
                wasm = wasm_type(t)
                core = self._add_core(name, wasm)
                into = self.codecs.scalar("", 0, p.type).into
                self.steps.append(
                    LiftFlags(
                        arg=name, core=core, named=p.type,
                        invalid=invalid_bits(p.type, 64 if wasm == "i64" else 32), translate=into,
                    )
                )
            case m.Handle():
                self.steps.append(LiftHandle(arg=name, core=self._add_core(name, "i32")))
            case m.String():
                ptr = self._add_core(f"{name}_ptr", "i32")
                length = self._add_core(f"{name}_len", "i32")
                self.steps.append(LiftString(arg=name, ptr=ptr, len=length, region=_bytes(ptr, length)))
            case m.List(element=element):
                self._list(p, element)
            case m.Pointer():
                self._pointer(p, t, rest)
            case _:
                raise self.fail(p.name, f"cannot pass a {type(t).__name__} by value")

    def _list(self, p: m.Param, element: m.Type) -> None:
        name = py_param(p.name)
        record = m.unwrap(element)
        if not (isinstance(record, m.Record) and _is_buffer_record(record)):
            raise self.fail(p.name, "only lists of (pointer u8, size) records are supported")
        ptr = self._add_core(f"{name}_ptr", "i32")
        count = self._add_core(f"{name}_len", "i32")
        lay = layout(record)
        self.steps.append(
            LiftBufferList(
                arg=name, ptr=ptr, len=count, element=element, layout=lay,
                struct=naming.layout_name(element.name), buf_offset=lay.offsets[0], len_offset=lay.offsets[1],
                region=Region(ptr=ptr, count=count, unit=lay.size, align=lay.align),
            )
        )

    def _pointer(self, p: m.Param, t: m.Pointer, rest: tuple[m.Param, ...]) -> None:
        name = py_param(p.name)
        target = m.unwrap(t.target)
        nxt = rest[0] if rest else None
        if _is_u8(target) and nxt is not None and nxt.name == f"{p.name}_len" and _is_size(nxt.type):
            self.consumed.add(nxt.name)
            ptr = self._add_core(name, "i32")
            length = self._add_core(py_param(nxt.name), "i32")
            if (self.f.name, p.name) in DIRENT_STREAMS:
                dirent = self.spec.type("dirent")
                self.steps.append(
                    OutDirents(
                        ptr=ptr, len=length, dirent=dirent, encoder=self.codecs.put(dirent),
                        header=layout(dirent).size, region=_bytes(ptr, length),
                    )
                )
            else:
                self.steps.append(LiftBuffer(arg=name, ptr=ptr, len=length, region=_bytes(ptr, length)))
            return
        if isinstance(target, m.Pointer) and _is_u8(m.unwrap(target.target)):
            if nxt is None or not isinstance(m.unwrap(nxt.type), m.Pointer):
                raise self.fail(p.name, "a pointer to pointers must be followed by its buffer")
            self.consumed.add(nxt.name)
            vector = self._add_core(name, "i32")
            self.steps.append(OutStrings(vector=vector, buf=self._add_core(py_param(nxt.name), "i32")))
            return
        if isinstance(target, (m.Record, m.Union)):
            count = next((q for q in rest if _is_size(q.type)), None)
            if count is None:
                raise self.fail(p.name, "a pointer to records needs a $size count after it")
            self.counts.add(count.name)
            ptr = self._add_core(name, "i32")
            lay = layout(t.target)
            region = Region(ptr=ptr, count=py_param(count.name), unit=lay.size, align=lay.align)
            if t.const:
                step = LiftArray(
                    arg=name, ptr=ptr, count=py_param(count.name), element=t.target, size=lay.size,
                    decoder=self.codecs.get(t.target), region=region,
                )
            else:
                step = OutArray(
                    ptr=ptr, count=py_param(count.name), element=t.target, size=lay.size,
                    encoder=self.codecs.put(t.target), region=region,
                )
            self.steps.append(step)
            return
        raise self.fail(p.name, "no rule says what this pointer points at")

    def _results(self) -> tuple[tuple[OutValue, ...], str]:
        if self.f.noreturn:
            return (), "noreturn"
        if not self.f.results:
            return (), "none"
        expected = self.f.results[0].type
        assert isinstance(expected, m.Expected)
        ok = expected.ok
        items: tuple[m.Type, ...] = ()
        if ok is not None:
            items = ok.items if isinstance(ok, m.Tuple) else (ok,)
        names = [_value_name(t) for t in items]
        dupes = {n for n in names if names.count(n) > 1}
        counters: dict[str, int] = {}
        outs = []
        for t, n in zip(items, names):
            if n in dupes:
                counters[n] = counters.get(n, -1) + 1
                n = f"{n}{counters[n]}"
            outs.append(self._out(n, self._add_core(f"{n}_out", "i32"), t))
        kinds = {type(s) for s in self.steps}
        if OutArray in kinds or OutDirents in kinds:
            if len(outs) != 1 or not _is_size(outs[0].type):
                raise self.fail(self.f.name, "an out array needs a single $size result")
            returns = "array" if OutArray in kinds else "dirents"
        elif OutStrings in kinds:
            if outs:
                raise self.fail(self.f.name, "a string table function returns nothing else")
            returns = "strings"
        else:
            returns = {0: "none", 1: "value"}.get(len(outs), "tuple")
        return tuple(outs), returns

    def _out(self, name: str, core: str, t: m.Type) -> OutValue:
        lay = layout(t)
        region = Region(ptr=core, count=None, unit=lay.size, align=lay.align)
        if is_scalar(t):
            bits = int_of(t).bits
            return OutValue(
                name=name, core=core, type=t, region=region, scalar=self.codecs.scalar("", 0, t),
                view=f"u{bits}", shift={8: 0, 16: 1, 32: 2, 64: 3}[bits], encoder=None,
            )
        return OutValue(
            name=name, core=core, type=t, region=region, scalar=None, view="u8", shift=0,
            encoder=self.codecs.put(t),
        )


def _bytes(ptr: str, length: str) -> Region:
    return Region(ptr=ptr, count=length, unit=1, align=1)


def _value_name(t: m.Type) -> str:
    return py_param(t.name) if isinstance(t, m.Named) else "value"


def _is_u8(t: m.Type) -> bool:
    return isinstance(t, m.Int) and t.name == "u8" or isinstance(t, m.Char8)


def _is_size(t: m.Type) -> bool:
    return isinstance(t, m.Named) and t.name == "size" or isinstance(m.unwrap(t), m.Usize)


def _is_buffer_record(record: m.Record) -> bool:
    if len(record.fields) != 2:
        return False
    ptr, size = (m.unwrap(f.type) for f in record.fields)
    return isinstance(ptr, m.Pointer) and _is_u8(m.unwrap(ptr.target)) and _is_size(record.fields[1].type)
