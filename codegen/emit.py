"""Rendering: the model, layouts and lowerings become Python through jinja2
templates, then black. Everything a template prints is computed here first
(offsets, struct formats, masks, translation tables); templates only lay it
out. Same input, same bytes: no timestamps, no absolute paths.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from . import abi
from . import model as m
from . import translate
from .layout import RecordLayout, UnionLayout, layout
from .naming import class_name, const_name, layout_name, py_name, py_param

REGENERATE = "pywasi gen"
_STRUCT_CODES = {"u8": "B", "u16": "H", "u32": "I", "u64": "Q", "s8": "b", "s16": "h", "s32": "i", "s64": "q"}


@cache
def _environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["hexmask"] = lambda n: f"0x{n:X}"
    return env


def render(template: str, **context) -> str:
    """The template's output, not yet formatted (see format_sources)."""
    source = _environment().get_template(template).render(**context)
    return _drop_inner_blank_lines(source)


def _black(source: str) -> str:
    import black

    return black.format_str(source, mode=black.Mode(line_length=100, magic_trailing_comma=False))


def format_sources(sources: list[str]) -> list[str]:
    """black, on both cores when there are several files: it is most of the
    generator's time."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    if len(sources) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return [_black(s) for s in sources]
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(_black, sources))


def _drop_inner_blank_lines(source: str) -> str:
    """Templates leave blank lines where a conditional printed nothing. Drop those
    inside indented blocks; black puts back the ones around definitions."""
    lines = source.splitlines()
    out = []
    in_string = False
    for i, line in enumerate(lines):
        if line.count('"""') % 2:
            in_string = not in_string
        if not line.strip() and not in_string:
            following = next((n for n in lines[i + 1 :] if n.strip()), "")
            if following[:1] in (" ", ")", "]", "}"):
                continue
            line = ""
        out.append(line)
    return "\n".join(out) + "\n"


# Scalars ---------------------------------------------------------------------


def int_of(t: m.Type) -> m.Int:
    """The integer a scalar is stored as."""
    t = m.unwrap(t)
    match t:
        case m.Int():
            return t
        case m.Enum(tag=tag):
            return tag
        case m.Flags(repr=repr_):
            return repr_
        case m.Handle() | m.Pointer() | m.Usize():
            return m.Int(name="u32")
        case m.Char8():
            return m.Int(name="u8")
    raise TypeError(f"{type(t).__name__} is not a scalar")


def is_scalar(t: m.Type) -> bool:
    return isinstance(m.unwrap(t), (m.Int, m.Enum, m.Flags, m.Handle, m.Pointer, m.Usize, m.Char8))


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


# Render data -----------------------------------------------------------------


@dataclass
class ScalarCodec:
    """How one scalar field or value moves between memory and Python."""

    attr: str  # canonical attribute path ("fd_readwrite.nbytes"); "" for version-only
    offset: int
    code: str  # struct code
    kind: str  # int, enum, flags, handle
    type_name: str = ""  # the witx typename, for enums and flags
    count: int = 0  # enum: number of cases
    invalid: int = 0  # flags: bits the version does not define
    signed: bool = False
    narrow: int | None = None  # out: largest value the version's field holds


@dataclass
class NestedCodec:
    attr: str
    offset: int
    codec: str  # name of the _get_/_put_ function suffix
    cls: str  # canonical class name


@dataclass
class Codec:
    name: str  # witx name
    cls: str  # canonical class
    kind: str  # record, union
    flat: bool = False
    struct: str = ""
    fields: list = field(default_factory=list)
    # unions
    tag: ScalarCodec | None = None
    payload_offset: int = 0
    cases: list = field(default_factory=list)  # [(tag value, codec name or None)]


class Renderer:
    """Builds the context of one version module against the canonical spec."""

    def __init__(self, spec: m.Spec, canonical: m.Spec | None, canonical_module: str):
        self.spec = spec
        self.canonical = canonical or spec
        self.is_canonical = canonical is None
        self.prefix = "" if self.is_canonical else "canonical."
        self.canonical_module = canonical_module
        self.lowerings = abi.lower_spec(spec)
        self.gets: dict[str, Codec] = {}
        self.puts: dict[str, Codec] = {}
        self.traces: dict[str, dict] = {}  # the trace's record decoders, in the version's own types

    # Types -----------------------------------------------------------

    def canonical_type(self, named: m.Named) -> m.Named:
        try:
            return self.canonical.type(named.name)
        except KeyError:
            raise translate.TranslationError(f"${named.name} has no canonical type") from None

    def enums(self) -> list[dict]:
        out = []
        for named in self.spec.types:
            t = named.type
            if isinstance(t, m.Enum):
                mapping = translate.enum_map(named, self.canonical_type(named))
                cls = class_name(named.name)
                c_cls = self.prefix + cls
                c_cases = [const_name(c.name) for c in m.unwrap(self.canonical_type(named)).cases]
                into = (
                    [f"{c_cls}.{const_name(c.name)}" for c in t.cases]
                    if mapping.into is None
                    else [f"{c_cls}.{c_cases[i]}" for i in mapping.into]
                )
                out.append(
                    dict(
                        name=named.name,
                        cls=cls,
                        doc=named.doc,
                        tag=t.tag.name,
                        cases=[(const_name(c.name), i, c.doc) for i, c in enumerate(t.cases)],
                        into=into,
                        out=mapping.out,
                    )
                )
        return out

    def flags(self) -> list[dict]:
        out = []
        for named in self.spec.types:
            t = named.type
            if isinstance(t, m.Flags):
                mapping = translate.flags_map(named, self.canonical_type(named))
                out.append(
                    dict(
                        name=named.name,
                        cls=class_name(named.name),
                        doc=named.doc,
                        repr=t.repr.name,
                        flags=[(const_name(f.name), i, f.doc) for i, f in enumerate(t.flags)],
                        mask=(1 << len(t.flags)) - 1,
                        into=mapping.into,
                        out=mapping.out,
                        out_mask=mapping.out_mask,
                    )
                )
        return out

    def ints(self) -> list[dict]:
        return [
            dict(cls=class_name(n.name), int=n.type.name, doc=n.doc)
            for n in self.spec.types
            if isinstance(n.type, m.Int)
        ]

    def annotation(self, t: m.Type | None, canonical: bool = False) -> str:
        prefix = self.prefix if canonical else ""
        if t is None:
            return "None"
        inner = m.unwrap(t)
        match inner:
            case m.Enum() | m.Record() | m.Union():
                return prefix + class_name(t.name)
            case m.Flags() | m.Int() | m.Handle() | m.Usize() | m.Char8() | m.Pointer():
                return "int"
            case m.String():
                return "str"
            case m.List():
                return "list[memoryview]"
            case m.Tuple(items=items):
                return f"tuple[{', '.join(self.annotation(i, canonical) for i in items)}]"
        return "object"

    def records(self) -> list[dict]:
        out = []
        for named in self.spec.types:
            t = named.type
            if isinstance(t, m.Record):
                lay = layout(t)
                assert isinstance(lay, RecordLayout)
                flat = self._flat_scalars(t, 0, "")
                out.append(
                    dict(
                        name=named.name,
                        cls=class_name(named.name),
                        layout=layout_name(named.name),
                        doc=named.doc,
                        union=False,
                        fields=[
                            (py_name(f.name), self.annotation(f.type), f.doc, witx_text(f.type))
                            for f in t.fields
                        ],
                        offsets=[(py_name(f.name), o) for f, o in zip(t.fields, lay.offsets)],
                        size=lay.size,
                        align=lay.align,
                        format=_struct_format(flat, lay.size) if flat is not None else None,
                    )
                )
            elif isinstance(t, m.Union):
                lay = layout(t)
                assert isinstance(lay, UnionLayout)
                out.append(
                    dict(
                        name=named.name,
                        cls=class_name(named.name),
                        layout=layout_name(named.name),
                        doc=named.doc,
                        union=True,
                        tag_cls=class_name(t.tag.name),
                        value=" | ".join(dict.fromkeys(class_name(c.name) for c in t.cases)),
                        size=lay.size,
                        align=lay.align,
                        payload_offset=lay.payload_offset,
                    )
                )
        return out

    def _flat_scalars(self, record: m.Record, base: int, prefix: str):
        """The record's scalars in memory order, nested records inlined; None if
        it holds a union, a list or a string."""
        lay = layout(record)
        out = []
        for f, offset in zip(record.fields, lay.offsets):
            inner = m.unwrap(f.type)
            if is_scalar(f.type):
                out.append((prefix + py_name(f.name), base + offset, f.type))
            elif isinstance(inner, m.Record):
                nested = self._flat_scalars(inner, base + offset, prefix + py_name(f.name) + ".")
                if nested is None:
                    return None
                out.extend(nested)
            else:
                return None
        return out

    # Codecs ----------------------------------------------------------

    def scalar(self, attr: str, offset: int, t: m.Type, canonical_t: m.Type | None) -> ScalarCodec:
        i = int_of(t)
        inner = m.unwrap(t)
        codec = ScalarCodec(attr, offset, _STRUCT_CODES[i.name], "int", signed=i.signed)
        if isinstance(inner, m.Enum):
            codec.kind, codec.type_name, codec.count = "enum", t.name, len(inner.cases)
        elif isinstance(inner, m.Flags):
            codec.kind, codec.type_name = "flags", t.name
            codec.invalid = ((1 << i.bits) - 1) & ~((1 << len(inner.flags)) - 1)
        elif isinstance(inner, m.Handle):
            codec.kind = "handle"
        if canonical_t is not None and codec.kind == "int":
            c_bits = int_of(canonical_t).bits
            if c_bits > i.bits:
                codec.narrow = (1 << i.bits) - 1
        return codec

    def _canonical_field(self, named: m.Named, name: str) -> m.Type | None:
        c = m.unwrap(self.canonical_type(named))
        return next((f.type for f in c.fields if f.name == name), None)

    def codec(self, named: m.Named, direction: str) -> str:
        """Register the _get_/_put_ function of a record or union; its suffix."""
        table = self.gets if direction == "get" else self.puts
        suffix = py_name(named.name)
        if suffix in table:
            return suffix
        t = m.unwrap(named)
        cls = self.prefix + class_name(named.name)
        c = Codec(named.name, cls, "record" if isinstance(t, m.Record) else "union")
        table[suffix] = c  # before recursing: registration order is emission order
        if isinstance(t, m.Record):
            translate.record_fields(named, self.canonical_type(named))
            lay = layout(t)
            flat = self._flat_scalars(t, 0, "")
            c.flat = flat is not None and (direction == "put" or all(is_scalar(f.type) for f in t.fields))
            if c.flat:
                c.struct = layout_name(named.name)
                for attr, offset, ft in flat:
                    ct = self._canonical_path(named, attr)
                    c.fields.append(self.scalar(attr if ct is not None else "", offset, ft, ct))
            else:
                for f, offset in zip(t.fields, lay.offsets):
                    ct = self._canonical_field(named, f.name)
                    attr = py_name(f.name) if ct is not None else ""
                    if is_scalar(f.type):
                        c.fields.append(self.scalar(attr, offset, f.type, ct))
                    else:
                        nested = m.unwrap(f.type)
                        if not isinstance(nested, (m.Record, m.Union)):
                            raise translate.TranslationError(f"${named.name}.{f.name}: not storable")
                        c.fields.append(
                            NestedCodec(attr, offset, self.codec(f.type, direction), class_name(f.type.name))
                        )
        else:
            lay = layout(t)
            c.tag = self.scalar("tag", 0, t.tag, None)
            c.payload_offset = lay.payload_offset
            for i, case in enumerate(t.cases):
                c.cases.append((i, self.codec(case, direction)))
        return suffix

    def _canonical_path(self, named: m.Named, attr: str) -> m.Type | None:
        t: m.Type = self.canonical_type(named)
        for part in attr.split("."):
            inner = m.unwrap(t)
            found = next((f.type for f in inner.fields if py_name(f.name) == part), None)
            if found is None:
                return None
            t = found
        return t

    # Functions -------------------------------------------------------

    def functions(self) -> list[dict]:
        out = []
        for low in self.lowerings:
            f = low.function
            steps = []
            for s in low.steps:
                d = dict(kind=type(s).__name__, step=s)
                if isinstance(s, abi.LiftInt):
                    d["mask"] = _mask(s.wasm)
                    d["max"] = (1 << s.int.bits) - 1 if s.int.bits < 32 else None
                    d["signed"] = s.int.signed
                    d["signed_max"] = (1 << (s.int.bits - 1)) - 1
                    d["modulus"] = 1 << s.int.bits
                elif isinstance(s, abi.LiftEnum):
                    d["count"] = len(m.unwrap(s.named).cases)
                    d["table"] = f"_IN_{const_name(s.named.name)}"
                elif isinstance(s, abi.LiftFlags):
                    i = int_of(s.named)
                    d["invalid"] = ((1 << i.bits) - 1) & ~((1 << len(m.unwrap(s.named).flags)) - 1)
                    d["wide_invalid"] = (abi.MASK64 if i.bits == 64 else abi.MASK32) & ~(
                        (1 << len(m.unwrap(s.named).flags)) - 1
                    )
                    d["translate"] = self._flags_into(s.named)
                elif isinstance(s, abi.LiftBufferList):
                    d["layout"] = layout_name(s.element.name)
                elif isinstance(s, abi.LiftArray):
                    lay = layout(s.element)
                    d["size"], d["align"] = lay.size, lay.align
                    d["decoder"] = self.codec(s.element, "get")
                elif isinstance(s, abi.OutArray):
                    lay = layout(s.element)
                    d["size"], d["align"] = lay.size, lay.align
                    d["encoder"] = self.codec(s.element, "put")
                elif isinstance(s, abi.OutDirents):
                    d["encoder"] = self.codec(s.dirent, "put")
                    d["header"] = layout(s.dirent).size
                steps.append(d)
            outs = []
            for o in low.outs:
                lay = layout(o.type)
                d = dict(name=o.name, core=o.core, size=lay.size, align=lay.align)
                if is_scalar(o.type):
                    d["scalar"] = self.scalar("", 0, o.type, None)
                    d["view"] = f"u{int_of(o.type).bits}"
                    d["shift"] = {8: 0, 16: 1, 32: 2, 64: 3}[int_of(o.type).bits]
                else:
                    d["encoder"] = self.codec(o.type, "put")
                outs.append(d)
            returns_ann = self._returns_annotation(low)
            out.append(
                dict(
                    name=f.name,
                    doc=f.doc,
                    low=low,
                    core=[(c.name, c.wasm) for c in low.core_params],
                    masks={c.name: _mask(c.wasm) for c in low.core_params},
                    steps=steps,
                    outs=outs,
                    args=low.args,
                    returns=low.returns,
                    returns_ann=returns_ann,
                    returns_doc=self._returns_doc(low),
                    params=[(py_name(p.name), witx_text(p.type)) for p in f.params],
                    results=[(py_name(r.name), witx_text(r.type)) for r in f.results],
                    arg_annotations=self._arg_annotations(low),
                    out_names=[o.name for o in low.outs],
                    out_views=sorted({o.get("view", "u8") for o in outs}),
                    trace_args=self.trace_args(low),
                    trace_results=self.trace_results(low),
                    checks=bool(low.outs) or any(
                        isinstance(s, (abi.LiftString, abi.LiftBuffer, abi.LiftBufferList, abi.LiftArray, abi.OutArray, abi.OutDirents))
                        for s in low.steps
                    ),
                )
            )
        return out

    # Trace decoders ----------------------------------------------------
    # What a call passes and what it stored, by the spec's names and in the
    # version's own types (nothing translated: the trace shows what the guest
    # sees). Templates render each entry by its kind.

    def trace_value(self, t: m.Type) -> dict:
        """How a scalar reads: its struct code, and the class naming it."""
        c = self.scalar("", 0, t, None)
        i = int_of(t)
        return dict(
            kind=c.kind,
            code=c.code,
            cls=class_name(c.type_name) if c.type_name else "",
            signed_bits=i.bits if i.signed else None,
        )

    def trace_codec(self, named: m.Named) -> str:
        """Register the _t_ decoder of a record or union; its suffix."""
        suffix = py_name(named.name)
        if suffix in self.traces:
            return suffix
        t = m.unwrap(named)
        lay = layout(t)
        d = self.traces[suffix] = dict(cls=class_name(named.name), kind="record")
        if isinstance(t, m.Record):
            d["fields"] = [
                (py_name(f.name), self._trace_field(f.type, offset)) for f, offset in zip(t.fields, lay.offsets)
            ]
        else:
            d.update(kind="union", tag=self.trace_value(t.tag), payload_offset=lay.payload_offset)
            d["cases"] = [self.trace_codec(case) for case in t.cases]
        return suffix

    def _trace_field(self, t: m.Type, offset: int) -> dict:
        if is_scalar(t):
            return dict(self.trace_value(t), offset=offset)
        if not isinstance(m.unwrap(t), (m.Record, m.Union)):
            raise translate.TranslationError(f"${t.name}: no trace decoder for a {type(m.unwrap(t)).__name__}")
        return dict(kind="nested", codec=self.trace_codec(t), offset=offset)

    def trace_args(self, low: abi.Lowering) -> list[dict]:
        """What the guest passes, in the spec's parameter order."""
        names = {py_param(p.name): p.name for p in low.function.params}
        wasm = {c.name: c.wasm for c in low.core_params}
        by_param, lowered = {}, set()
        for s in low.steps:
            key = getattr(s, "arg", None) or getattr(s, "ptr", None) or getattr(s, "vector", None)
            by_param[key] = s
            lowered.update(getattr(s, attr) for attr in ("core", "ptr", "len", "vector", "buf") if hasattr(s, attr))
        counts = set(wasm) - lowered - {o.core for o in low.outs}  # arrays' counts
        out = []
        for p in low.function.params:
            key = py_param(p.name)
            s = by_param.get(key)
            d = dict(name=p.name)
            match s:
                case abi.LiftInt() | abi.LiftEnum() | abi.LiftFlags() | abi.LiftHandle():
                    d.update(kind="scalar", core=s.core, value=self.trace_value(p.type))
                case abi.LiftString():
                    d.update(kind="string", ptr=s.ptr, len=s.len)
                case abi.LiftBuffer() | abi.OutDirents():
                    d.update(kind="bytes", len=s.len)
                case abi.LiftBufferList():
                    d.update(kind="buffers", ptr=s.ptr, len=s.len, layout=layout_name(s.element.name))
                case abi.LiftArray():
                    codec = self.trace_codec(s.element)
                    d.update(kind="array", ptr=s.ptr, count=s.count, size=layout(s.element).size, codec=codec)
                case abi.OutStrings():
                    out.append(dict(name=p.name, kind="pointer", core=s.vector))
                    d.update(name=names[s.buf], kind="pointer", core=s.buf)
                case abi.OutArray():
                    continue  # what it points at is a result
                case None if key in counts:
                    d.update(kind="scalar", core=key, value=self.trace_value(p.type))
                case _:
                    continue  # lowered with the parameter before it
            out.append(d)
        return out

    def trace_results(self, low: abi.Lowering) -> list[dict]:
        """What a successful call stored, by the names the stub gives it."""
        out = []
        for o in low.outs:
            if is_scalar(o.type):
                out.append(dict(name=o.name, kind="scalar", core=o.core, value=self.trace_value(o.type)))
            else:
                size = layout(o.type).size
                out.append(dict(name=o.name, kind="record", core=o.core, size=size, codec=self.trace_codec(o.type)))
        for s in low.steps:
            if isinstance(s, abi.OutArray):
                count = low.outs[0]
                out.append(
                    dict(
                        name=next(p.name for p in low.function.params if py_param(p.name) == s.ptr),
                        kind="stored_array",
                        ptr=s.ptr,
                        count=count.core,
                        count_code=self.trace_value(count.type)["code"],
                        size=layout(s.element).size,
                        codec=self.trace_codec(s.element),
                    )
                )
        return out

    def _flags_into(self, named: m.Named):
        mapping = translate.flags_map(named, self.canonical_type(named))
        return f"_in_{py_name(named.name)}" if mapping.into else None

    def _arg_annotations(self, low: abi.Lowering) -> list[tuple[str, str]]:
        out = []
        for s in low.steps:
            match s:
                case abi.LiftInt() | abi.LiftHandle() | abi.LiftFlags():
                    ann = "int"
                case abi.LiftEnum(named=named):
                    ann = class_name(named.name)
                case abi.LiftString():
                    ann = "str"
                case abi.LiftBuffer():
                    ann = "memoryview"
                case abi.LiftBufferList():
                    ann = "list[memoryview]"
                case abi.LiftArray(element=element):
                    ann = f"list[{class_name(element.name)}]"
                case _:
                    continue
            out.append((s.arg, ann))
        return out

    def _returns_doc(self, low: abi.Lowering) -> str:
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

    def _returns_annotation(self, low: abi.Lowering) -> str:
        match low.returns:
            case "none":
                return "None"
            case "noreturn":
                return "NoReturn"
            case "value":
                return self.annotation(low.outs[0].type)
            case "tuple":
                return f"tuple[{', '.join(self.annotation(o.type) for o in low.outs)}]"
            case "strings":
                return "list[bytes]"
            case "array":
                element = next(s for s in low.steps if isinstance(s, abi.OutArray)).element
                return f"list[{class_name(element.name)}]"
            case "dirents":
                return "Iterable[tuple[Dirent, bytes]]"
        raise ValueError(low.returns)

    def interface_context(self, sources: list[str]) -> dict:
        functions = self.functions()
        names = set()
        for f in functions:
            for _, ann in f["arg_annotations"]:
                names.update(_class_names(ann))
            names.update(_class_names(f["returns_ann"]))
        names.add("Errno")
        return dict(
            sources=sources,
            regenerate=REGENERATE,
            canonical_module=self.canonical_module,
            functions=functions,
            imports=sorted(names - {"NoReturn", "Iterable", "None", "list", "tuple", "int", "str", "bytes", "memoryview"}),
        )

    def context(self, sources: list[str]) -> dict:
        functions = self.functions()  # registers the codecs
        errno = self.spec.type("errno")
        enums, flags = self.enums(), self.flags()
        return dict(
            enums_by_name={e["name"]: e for e in enums},
            flags_by_name={f["name"]: f for f in flags},
            sources=sources,
            regenerate=REGENERATE,
            module=self.spec.module,
            is_canonical=self.is_canonical,
            canonical_module=self.canonical_module,
            prefix=self.prefix,
            ints=self.ints(),
            enums=enums,
            flags=flags,
            records=self.records(),
            functions=functions,
            gets=list(self.gets.items()),
            puts=list(self.puts.items()),
            trace_codecs=list(self.traces.items()),
            errno_out=translate.enum_map(errno, self.canonical_type(errno)).out,
        )


def _mask(wasm: str) -> int:
    return abi.MASK64 if wasm == "i64" else abi.MASK32


def _class_names(annotation: str) -> set[str]:
    import re

    return set(re.findall(r"[A-Z][A-Za-z0-9]*", annotation))


def _struct_format(flat: list, size: int) -> str:
    fmt, pos = "<", 0
    for _, offset, t in flat:
        if offset > pos:
            fmt += f"{offset - pos}x"
        i = int_of(t)
        fmt += _STRUCT_CODES[i.name]
        pos = offset + i.bits // 8
    if size > pos:
        fmt += f"{size - pos}x"
    return fmt
