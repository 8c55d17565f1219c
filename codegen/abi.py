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

from . import model as m
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


# Steps -----------------------------------------------------------------------
# `arg` is the handler argument a lift step produces; `core` names the core
# parameters it reads.


@dataclass(frozen=True, slots=True)
class LiftInt:
    arg: str
    core: str
    int: m.Int
    wasm: str


@dataclass(frozen=True, slots=True)
class LiftEnum:
    arg: str
    core: str
    named: m.Named


@dataclass(frozen=True, slots=True)
class LiftFlags:
    arg: str
    core: str
    named: m.Named


@dataclass(frozen=True, slots=True)
class LiftHandle:
    arg: str
    core: str


@dataclass(frozen=True, slots=True)
class LiftString:
    arg: str
    ptr: str
    len: str


@dataclass(frozen=True, slots=True)
class LiftBuffer:
    """pointer u8 + <name>_len: a writable view of guest memory."""

    arg: str
    ptr: str
    len: str


@dataclass(frozen=True, slots=True)
class LiftBufferList:
    """A list of iovec/ciovec records: a list of views of guest memory."""

    arg: str
    ptr: str
    len: str
    element: m.Named  # a record of (pointer u8, size)
    layout: Layout
    buf_offset: int
    len_offset: int


@dataclass(frozen=True, slots=True)
class LiftArray:
    """A const pointer to `count` records, read into a list."""

    arg: str
    ptr: str
    count: str
    element: m.Named


@dataclass(frozen=True, slots=True)
class OutArray:
    """A pointer to room for `count` records, filled from the handler's list."""

    ptr: str
    count: str
    element: m.Named


@dataclass(frozen=True, slots=True)
class OutStrings:
    """args_get/environ_get: pointers into `buf`, then NUL-terminated strings."""

    vector: str
    buf: str


@dataclass(frozen=True, slots=True)
class OutDirents:
    ptr: str
    len: str
    dirent: m.Named


@dataclass(frozen=True, slots=True)
class OutValue:
    """An out-pointer the stub stores one ok value through."""

    name: str  # the value's name (trace, docs)
    core: str
    type: m.Type


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
    def args(self) -> tuple[str, ...]:
        return tuple(s.arg for s in self.steps if hasattr(s, "arg"))

    @property
    def pointer_steps(self) -> tuple:
        return tuple(s for s in self.steps if not isinstance(s, (LiftInt, LiftEnum, LiftFlags, LiftHandle)))


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


def lower_spec(spec: m.Spec) -> tuple[Lowering, ...]:
    return tuple(_Lowerer(spec, f).lowering() for f in spec.functions)


class _Lowerer:
    def __init__(self, spec: m.Spec, function: m.Function):
        self.spec = spec
        self.f = function
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
                core = self._add_core(name, wasm_type(i))
                self.steps.append(LiftInt(name, core, i, wasm_type(i)))
            case m.Enum():
                self.steps.append(LiftEnum(name, self._add_core(name, wasm_type(t)), p.type))
            case m.Flags():
                self.steps.append(LiftFlags(name, self._add_core(name, wasm_type(t)), p.type))
            case m.Handle():
                self.steps.append(LiftHandle(name, self._add_core(name, "i32")))
            case m.String():
                ptr = self._add_core(f"{name}_ptr", "i32")
                self.steps.append(LiftString(name, ptr, self._add_core(f"{name}_len", "i32")))
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
            LiftBufferList(name, ptr, count, element, lay, lay.offsets[0], lay.offsets[1])
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
                self.steps.append(OutDirents(ptr, length, self.spec.type("dirent")))
            else:
                self.steps.append(LiftBuffer(name, ptr, length))
            return
        if isinstance(target, m.Pointer) and _is_u8(m.unwrap(target.target)):
            if nxt is None or not isinstance(m.unwrap(nxt.type), m.Pointer):
                raise self.fail(p.name, "a pointer to pointers must be followed by its buffer")
            self.consumed.add(nxt.name)
            vector = self._add_core(name, "i32")
            self.steps.append(OutStrings(vector, self._add_core(py_param(nxt.name), "i32")))
            return
        if isinstance(target, (m.Record, m.Union)):
            count = next((q for q in rest if _is_size(q.type)), None)
            if count is None:
                raise self.fail(p.name, "a pointer to records needs a $size count after it")
            self.counts.add(count.name)
            ptr = self._add_core(name, "i32")
            step = LiftArray(name, ptr, py_param(count.name), t.target) if t.const else OutArray(
                ptr, py_param(count.name), t.target
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
            outs.append(OutValue(n, self._add_core(f"{n}_out", "i32"), t))
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
