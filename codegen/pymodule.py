"""The Python backend's plans: everything module.py.j2 (one ABI version's
types, layouts, stubs, metadata and trace decoders), interface.py.j2 (the
handler interface) and errno.py.j2 print, as typed values. Built from the
model, the layouts and the lowering; templates only lay these out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from . import abi
from . import model as m
from . import naming, translate
from .codecs import Codec, Codecs, flat_scalars, struct_format
from .layout import RecordLayout, UnionLayout, layout
from .trace_plan import TracePlan, TraceArg, TraceRecord, TraceResult, TraceUnion

ERRNO = "errno"  # the enum every function's error is, and the runtime's errno table


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    name: str  # the Python constant
    value: int  # enum: its value; flags: its bit
    doc: str


@dataclass(frozen=True, slots=True, kw_only=True)
class IntType:
    cls: str
    int: str
    doc: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EnumType:
    name: str
    cls: str
    doc: str
    cases: tuple[Case, ...]
    into_table: str  # version value -> canonical member
    into: tuple[str, ...]
    out_table: str | None  # canonical value -> version value, when they differ
    out: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class FlagsType:
    name: str
    cls: str
    doc: str
    flags: tuple[Case, ...]
    mask_name: str
    mask: int
    into_function: str | None  # version bits -> canonical bits, when they differ
    into: tuple[tuple[int, int], ...]
    out_function: str | None
    out: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Field:
    name: str
    annotation: str
    doc: str
    witx: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordType:
    macro: ClassVar[str] = "record_type"
    name: str
    cls: str
    layout: str  # the prefix of its layout constants
    doc: str
    fields: tuple[Field, ...]
    offsets: tuple[tuple[str, int], ...]
    size: int
    align: int
    format: str | None  # its struct.Struct, when it holds only scalars


@dataclass(frozen=True, slots=True, kw_only=True)
class UnionType:
    macro: ClassVar[str] = "union_type"
    name: str
    cls: str
    layout: str
    doc: str
    tag_cls: str
    value: str  # the annotation of its payload
    size: int
    align: int
    payload_offset: int


@dataclass(frozen=True, slots=True, kw_only=True)
class HandlerArg:
    name: str
    annotation: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Function:
    """One function: its lowering (the stub), what the spec says of it (the
    metadata), how the handler method reads (the interface), and its trace."""

    low: abi.Lowering
    name: str
    doc: str
    params: tuple[tuple[str, str], ...]  # (name, witx type)
    results: tuple[tuple[str, str], ...]
    handler_args: tuple[HandlerArg, ...]
    returns_annotation: str
    returns_doc: str
    classes: frozenset[str]  # the classes its handler method's annotations name
    trace_args: tuple[TraceArg, ...]
    trace_results: tuple[TraceResult, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Module:
    """One ABI version's module."""

    sources: tuple[str, ...]
    module: str  # the wasm import module
    is_canonical: bool
    canonical_module: str
    errno_module: str  # the generated module holding the canonical Errno
    prefix: str  # how this module names the canonical types ("" or "canonical.")
    ints: tuple[IntType, ...]
    enums: tuple[EnumType, ...]  # every enum, for the translation tables
    enum_classes: tuple[EnumType, ...]  # the enums this module defines
    flags: tuple[FlagsType, ...]
    types: tuple[RecordType | UnionType, ...]
    functions: tuple[Function, ...]
    gets: tuple[Codec, ...]
    puts: tuple[Codec, ...]
    trace_codecs: tuple[TraceRecord | TraceUnion, ...]
    errno_out: str | None  # the table from canonical errnos to the version's


@dataclass(frozen=True, slots=True, kw_only=True)
class Interface:
    sources: tuple[str, ...]
    canonical_module: str
    functions: tuple[Function, ...]
    imports: tuple[str, ...]  # the canonical classes the annotations name


def witx_text(t: m.Type | None) -> str:
    """A type as witx spells it, for metadata and docs."""
    match t:
        case None:
            return ""
        case m.Named(name=name):
            return f"${name}"
        case m.Int(name=name):
            return name
        case m.String():
            return "string"
        case m.Char8():
            return "(@witx char8)"
        case m.Usize():
            return "(@witx usize)"
        case m.Handle():
            return "(handle)"
        case m.Pointer(target=target, const=const):
            return f"(@witx {'const_pointer' if const else 'pointer'} {witx_text(target)})"
        case m.List(element=element):
            return f"(list {witx_text(element)})"
        case m.Tuple(items=items):
            return f"(tuple {' '.join(witx_text(i) for i in items)})"
        case m.Expected(ok=ok, error=error):
            inner = f"{witx_text(ok)} " if ok is not None else ""
            return f"(expected {inner}(error {witx_text(error)}))"
    return type(t).__name__.lower()


def annotation(t: m.Type | None) -> tuple[str, frozenset[str]]:
    """How a handler sees a value of type `t`, and the classes that names."""
    if t is None:
        return "None", frozenset()
    inner = m.unwrap(t)
    match inner:
        case m.Enum() | m.Record() | m.Union():
            cls = naming.class_name(t.name)
            return cls, frozenset({cls})
        case m.Flags() | m.Int() | m.Handle() | m.Usize() | m.Char8() | m.Pointer():
            return "int", frozenset()
        case m.String():
            return "str", frozenset()
        case m.List():
            return "list[memoryview]", frozenset()
        case m.Tuple(items=items):
            parts = [annotation(i) for i in items]
            return f"tuple[{', '.join(p[0] for p in parts)}]", frozenset().union(*(p[1] for p in parts))
    return "object", frozenset()


class Planner:
    """Builds the plan of one version module against the canonical spec."""

    def __init__(self, spec: m.Spec, canonical: m.Spec | None, canonical_module: str, errno_module: str):
        self.spec = spec
        self.canonical = canonical or spec
        self.is_canonical = canonical is None
        self.canonical_module = canonical_module
        self.errno_module = errno_module
        self.codecs = Codecs(spec, self.canonical)
        self.trace = TracePlan()
        self.lowerings = abi.lower_spec(spec, self.codecs)  # registers the stubs' codecs

    # Types -----------------------------------------------------------

    def ints(self) -> tuple[IntType, ...]:
        return tuple(
            IntType(cls=naming.class_name(n.name), int=n.type.name, doc=n.doc)
            for n in self.spec.types
            if isinstance(n.type, m.Int)
        )

    def enums(self) -> tuple[EnumType, ...]:
        out = []
        for named in self.spec.types:
            t = named.type
            if not isinstance(t, m.Enum):
                continue
            canonical = self.codecs.canonical_type(named)
            mapping = translate.enum_map(named, canonical)
            c_cls = self.codecs.prefix + naming.class_name(named.name)
            c_cases = [naming.const_name(c.name) for c in m.unwrap(canonical).cases]
            into = (
                [f"{c_cls}.{naming.const_name(c.name)}" for c in t.cases]
                if mapping.into is None
                else [f"{c_cls}.{c_cases[i]}" for i in mapping.into]
            )
            out.append(
                EnumType(
                    name=named.name,
                    cls=naming.class_name(named.name),
                    doc=named.doc,
                    cases=tuple(Case(name=naming.const_name(c.name), value=i, doc=c.doc) for i, c in enumerate(t.cases)),
                    into_table=naming.enum_in(named.name),
                    into=tuple(into),
                    out_table=naming.enum_out(named.name) if mapping.out else None,
                    out=tuple((mapping.out or {}).items()),
                )
            )
        return tuple(out)

    def flags(self) -> tuple[FlagsType, ...]:
        out = []
        for named in self.spec.types:
            t = named.type
            if not isinstance(t, m.Flags):
                continue
            mapping = translate.flags_map(named, self.codecs.canonical_type(named))
            out.append(
                FlagsType(
                    name=named.name,
                    cls=naming.class_name(named.name),
                    doc=named.doc,
                    flags=tuple(Case(name=naming.const_name(f.name), value=i, doc=f.doc) for i, f in enumerate(t.flags)),
                    mask_name=naming.flags_mask(named.name),
                    mask=(1 << len(t.flags)) - 1,
                    into_function=naming.flags_in(named.name) if mapping.into else None,
                    into=mapping.into or (),
                    out_function=naming.flags_out(named.name) if mapping.into else None,
                    out=mapping.out or (),
                )
            )
        return tuple(out)

    def types(self) -> tuple[RecordType | UnionType, ...]:
        out: list[RecordType | UnionType] = []
        for named in self.spec.types:
            t = named.type
            if isinstance(t, m.Record):
                lay = layout(t)
                assert isinstance(lay, RecordLayout)
                flat = flat_scalars(t)
                out.append(
                    RecordType(
                        name=named.name,
                        cls=naming.class_name(named.name),
                        layout=naming.layout_name(named.name),
                        doc=named.doc,
                        fields=tuple(
                            Field(name=naming.py_name(f.name), annotation=annotation(f.type)[0], doc=f.doc,
                                  witx=witx_text(f.type))
                            for f in t.fields
                        ),
                        offsets=tuple((naming.py_name(f.name), o) for f, o in zip(t.fields, lay.offsets)),
                        size=lay.size,
                        align=lay.align,
                        format=struct_format(flat, lay.size) if flat is not None else None,
                    )
                )
            elif isinstance(t, m.Union):
                lay = layout(t)
                assert isinstance(lay, UnionLayout)
                out.append(
                    UnionType(
                        name=named.name,
                        cls=naming.class_name(named.name),
                        layout=naming.layout_name(named.name),
                        doc=named.doc,
                        tag_cls=naming.class_name(t.tag.name),
                        value=" | ".join(dict.fromkeys(naming.class_name(c.name) for c in t.cases)),
                        size=lay.size,
                        align=lay.align,
                        payload_offset=lay.payload_offset,
                    )
                )
        return tuple(out)

    # Functions -------------------------------------------------------

    def functions(self) -> tuple[Function, ...]:
        out = []
        for low in self.lowerings:
            f = low.function
            args, classes = self._handler_args(low)
            returns, returned = self._returns_annotation(low)
            out.append(
                Function(
                    low=low,
                    name=f.name,
                    doc=f.doc,
                    params=tuple((naming.py_name(p.name), witx_text(p.type)) for p in f.params),
                    results=tuple((naming.py_name(r.name), witx_text(r.type)) for r in f.results),
                    handler_args=args,
                    returns_annotation=returns,
                    returns_doc=_returns_doc(low),
                    classes=classes | returned,
                    trace_args=self.trace.args(low),
                    trace_results=self.trace.results(low),
                )
            )
        return tuple(out)

    def _handler_args(self, low: abi.Lowering) -> tuple[tuple[HandlerArg, ...], frozenset[str]]:
        out, classes = [], set()
        for s in low.steps:
            match s:
                case abi.LiftInt() | abi.LiftHandle() | abi.LiftFlags():
                    ann = "int"
                case abi.LiftEnum(named=named) | abi.LiftArray(element=named):
                    cls = naming.class_name(named.name)
                    classes.add(cls)
                    ann = cls if isinstance(s, abi.LiftEnum) else f"list[{cls}]"
                case abi.LiftString():
                    ann = "str"
                case abi.LiftBuffer():
                    ann = "memoryview"
                case abi.LiftBufferList():
                    ann = "list[memoryview]"
                case _:
                    continue
            out.append(HandlerArg(name=s.arg, annotation=ann))
        return tuple(out), frozenset(classes)

    def _returns_annotation(self, low: abi.Lowering) -> tuple[str, frozenset[str]]:
        match low.returns:
            case "none":
                return "None", frozenset()
            case "noreturn":
                return "NoReturn", frozenset()
            case "value":
                return annotation(low.outs[0].type)
            case "tuple":
                parts = [annotation(o.type) for o in low.outs]
                return f"tuple[{', '.join(p[0] for p in parts)}]", frozenset().union(*(p[1] for p in parts))
            case "strings":
                return "list[bytes]", frozenset()
            case "array":
                cls = naming.class_name(low.filled.element.name)
                return f"list[{cls}]", frozenset({cls})
            case "dirents":
                cls = naming.class_name(low.filled.dirent.name)
                return f"Iterable[tuple[{cls}, bytes]]", frozenset({cls})
        raise ValueError(low.returns)

    # Plans -----------------------------------------------------------

    def module(self, sources: list[str]) -> Module:
        functions = self.functions()  # registers the trace's codecs
        enums = self.enums()
        errno = self.spec.type(ERRNO)
        errno_map = translate.enum_map(errno, self.codecs.canonical_type(errno))
        return Module(
            sources=tuple(sources),
            module=self.spec.module,
            is_canonical=self.is_canonical,
            canonical_module=self.canonical_module,
            errno_module=self.errno_module,
            prefix=self.codecs.prefix,
            ints=self.ints(),
            enums=enums,
            enum_classes=tuple(e for e in enums if not (self.is_canonical and e.name == ERRNO)),
            flags=self.flags(),
            types=self.types(),
            functions=functions,
            gets=tuple(self.codecs.gets.values()),
            puts=tuple(self.codecs.puts.values()),
            trace_codecs=tuple(self.trace.codecs.values()),
            errno_out=naming.enum_out(ERRNO) if errno_map.out else None,
        )

    def interface(self, sources: list[str]) -> Interface:
        functions = self.functions()
        classes = set().union(*(f.classes for f in functions)) | {naming.class_name(ERRNO)}
        return Interface(
            sources=tuple(sources),
            canonical_module=self.canonical_module,
            functions=functions,
            imports=tuple(sorted(classes)),
        )

    def errno(self) -> EnumType:
        """The canonical errno enum, which the runtime's errno table reads."""
        return next(e for e in self.enums() if e.name == ERRNO)


def _returns_doc(low: abi.Lowering) -> str:
    names = ", ".join(o.name for o in low.outs)
    return {
        "none": "Returns nothing.",
        "noreturn": "Never returns: ends the program.",
        "value": f"Returns {names}.",
        "tuple": f"Returns ({names}).",
        "strings": "Returns the strings, without their NULs; the stub lays them out.",
        "array": "Returns the events, at most one per subscription; the stub stores them.",
        "dirents": "Yields (dirent, name) from the cookie on; the stub fills the buffer.",
    }[low.returns]
