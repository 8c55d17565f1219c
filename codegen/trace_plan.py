"""The trace's decoders as data: what a call passes and what it stored, by
the spec's names and in the version's own types (nothing is translated: the
trace shows what the guest sees). Each value names the template macro that
prints it; the decoders read copies of guest memory and never trap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from . import abi
from . import model as m
from . import naming, translate
from .codecs import STRUCT_CODES, int_of, is_scalar
from .layout import UnionLayout, layout
from .naming import py_param


@dataclass(frozen=True, slots=True, kw_only=True)
class TraceValue:
    """How a scalar reads: its struct code, and the class naming its values."""

    kind: str  # int, enum, flags, handle
    code: str
    cls: str  # enums and flags: the version's class
    signed_bits: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TraceField:
    name: str
    offset: int
    value: TraceValue | None  # a scalar
    codec: str | None  # a nested record or union: its decoder


@dataclass(frozen=True, slots=True, kw_only=True)
class TraceRecord:
    macro: ClassVar[str] = "trace_record"
    name: str  # the decoder's function name
    cls: str
    fields: tuple[TraceField, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class TraceUnion:
    macro: ClassVar[str] = "trace_union"
    name: str
    cls: str
    tag: TraceValue
    payload_offset: int
    cases: tuple[str, ...]  # the case decoders, by tag value


# What a call passes, by parameter -------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ScalarArg:
    macro: ClassVar[str] = "trace_scalar_arg"
    name: str
    core: str
    value: TraceValue


@dataclass(frozen=True, slots=True, kw_only=True)
class StringArg:
    macro: ClassVar[str] = "trace_string_arg"
    name: str
    ptr: str
    len: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BytesArg:
    """A buffer the call reads or fills: its length."""

    macro: ClassVar[str] = "trace_bytes_arg"
    name: str
    len: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BuffersArg:
    """An iovec list: the bytes it spans."""

    macro: ClassVar[str] = "trace_buffers_arg"
    name: str
    ptr: str
    len: str
    struct: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ArrayArg:
    macro: ClassVar[str] = "trace_array_arg"
    name: str
    ptr: str
    count: str
    size: int
    codec: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PointerArg:
    """An address the call writes through, not decoded."""

    macro: ClassVar[str] = "trace_pointer_arg"
    name: str
    core: str


TraceArg = ScalarArg | StringArg | BytesArg | BuffersArg | ArrayArg | PointerArg


# What a successful call stored -----------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredScalar:
    macro: ClassVar[str] = "trace_stored_scalar"
    name: str
    core: str
    value: TraceValue


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredRecord:
    macro: ClassVar[str] = "trace_stored_record"
    name: str
    core: str
    size: int
    codec: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredArray:
    macro: ClassVar[str] = "trace_stored_array"
    name: str
    ptr: str
    count: str  # the out-pointer of the count stored
    count_code: str
    size: int
    codec: str


TraceResult = StoredScalar | StoredRecord | StoredArray


class TracePlan:
    """The decoders of one version module: per function its args and results,
    and the record and union decoders they use, in the order first used."""

    def __init__(self) -> None:
        self.codecs: dict[str, TraceRecord | TraceUnion] = {}

    def value(self, t: m.Type) -> TraceValue:
        i = int_of(t)
        inner = m.unwrap(t)
        kind = {m.Enum: "enum", m.Flags: "flags", m.Handle: "handle"}.get(type(inner), "int")
        return TraceValue(
            kind=kind,
            code=STRUCT_CODES[i.name],
            cls=naming.class_name(t.name) if kind in ("enum", "flags") else "",
            signed_bits=i.bits if i.signed else None,
        )

    def codec(self, named: m.Named) -> str:
        """The decoder of a record or union, registered if new: its name."""
        name = naming.trace_decoder(named.name)
        if name in self.codecs:
            return name
        self.codecs[name] = None  # reserve the place: registration order is emission order
        t = m.unwrap(named)
        lay = layout(t)
        cls = naming.class_name(named.name)
        if isinstance(t, m.Record):
            fields = tuple(self._field(f.name, f.type, offset) for f, offset in zip(t.fields, lay.offsets))
            self.codecs[name] = TraceRecord(name=name, cls=cls, fields=fields)
        else:
            assert isinstance(lay, UnionLayout)
            self.codecs[name] = TraceUnion(
                name=name, cls=cls, tag=self.value(t.tag), payload_offset=lay.payload_offset,
                cases=tuple(self.codec(case) for case in t.cases),
            )
        return name

    def _field(self, name: str, t: m.Type, offset: int) -> TraceField:
        field_name = naming.py_name(name)
        if is_scalar(t):
            return TraceField(name=field_name, offset=offset, value=self.value(t), codec=None)
        if not isinstance(m.unwrap(t), (m.Record, m.Union)):
            raise translate.TranslationError(f"${t.name}: no trace decoder for a {type(m.unwrap(t)).__name__}")
        return TraceField(name=field_name, offset=offset, value=None, codec=self.codec(t))

    def args(self, low: abi.Lowering) -> tuple[TraceArg, ...]:
        """What the guest passes, in the spec's parameter order."""
        names = {py_param(p.name): p.name for p in low.function.params}
        wasm = {c.name for c in low.core_params}
        by_param, lowered = {}, set()
        for s in low.steps:
            key = getattr(s, "arg", None) or getattr(s, "ptr", None) or getattr(s, "vector", None)
            by_param[key] = s
            lowered.update(getattr(s, attr) for attr in ("core", "ptr", "len", "vector", "buf") if hasattr(s, attr))
        counts = wasm - lowered - {o.core for o in low.outs}  # arrays' counts
        out: list[TraceArg] = []
        for p in low.function.params:
            key = py_param(p.name)
            s = by_param.get(key)
            match s:
                case abi.LiftInt() | abi.LiftEnum() | abi.LiftFlags() | abi.LiftHandle():
                    out.append(ScalarArg(name=p.name, core=s.core, value=self.value(p.type)))
                case abi.LiftString():
                    out.append(StringArg(name=p.name, ptr=s.ptr, len=s.len))
                case abi.LiftBuffer() | abi.OutDirents():
                    out.append(BytesArg(name=p.name, len=s.len))
                case abi.LiftBufferList():
                    out.append(BuffersArg(name=p.name, ptr=s.ptr, len=s.len, struct=s.struct))
                case abi.LiftArray():
                    out.append(
                        ArrayArg(name=p.name, ptr=s.ptr, count=s.count, size=s.size, codec=self.codec(s.element))
                    )
                case abi.OutStrings():
                    out.append(PointerArg(name=p.name, core=s.vector))
                    out.append(PointerArg(name=names[s.buf], core=s.buf))
                case None if key in counts:
                    out.append(ScalarArg(name=p.name, core=key, value=self.value(p.type)))
                case _:
                    continue  # an out array (what it points at is a result), or lowered with the param before
        return tuple(out)

    def results(self, low: abi.Lowering) -> tuple[TraceResult, ...]:
        """What a successful call stored, by the names the stub gives it."""
        out: list[TraceResult] = []
        for o in low.outs:
            if o.scalar is not None:
                out.append(StoredScalar(name=o.name, core=o.core, value=self.value(o.type)))
            else:
                out.append(
                    StoredRecord(name=o.name, core=o.core, size=layout(o.type).size, codec=self.codec(o.type))
                )
        for s in low.steps:
            if isinstance(s, abi.OutArray):
                count = low.outs[0]
                out.append(
                    StoredArray(
                        name=next(p.name for p in low.function.params if py_param(p.name) == s.ptr),
                        ptr=s.ptr,
                        count=count.core,
                        count_code=self.value(count.type).code,
                        size=s.size,
                        codec=self.codec(s.element),
                    )
                )
        return tuple(out)
