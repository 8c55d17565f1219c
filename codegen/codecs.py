"""How values move between guest memory and the handlers' types: one typed
value per scalar, record and union a stub reads or writes, with every name
and number a template prints (struct codes, offsets, bounds, translation
tables). Built once per version module, against the canonical spec.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import model as m
from . import naming, translate
from .layout import RecordLayout, UnionLayout, layout

STRUCT_CODES = {"u8": "B", "u16": "H", "u32": "I", "u64": "Q", "s8": "b", "s16": "h", "s32": "i", "s64": "q"}


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


def invalid_bits(named: m.Named, width: int) -> int:
    """The bits of a `width`-bit value that name no flag of `named`."""
    return ((1 << width) - 1) & ~((1 << len(m.unwrap(named).flags)) - 1)


@dataclass(frozen=True, slots=True, kw_only=True)
class Scalar:
    """One scalar field or value: where it sits, how it reads, and how it
    translates between the version's values and the canonical ones."""

    attr: str  # canonical attribute path ("fd_readwrite.nbytes"); "" for version-only
    offset: int
    code: str  # struct code
    kind: str  # int, enum, flags, handle
    local: str  # the codec's local for it
    count: int = 0  # enum: number of cases
    invalid: int = 0  # flags: bits the version does not define
    signed: bool = False
    narrow: int | None = None  # out: largest value the version's field holds
    into: str | None = None  # enum: its in-table; flags: its in-function, if it needs one
    out_table: str | None = None  # enum: canonical -> version, if they differ
    out_function: str | None = None  # flags: canonical bits -> version bits, if they differ
    out_mask: int | None = None  # flags: the version's bits, if it has fewer


@dataclass(frozen=True, slots=True, kw_only=True)
class Nested:
    """A record or union field, read or written by its own codec."""

    attr: str
    offset: int
    codec: str  # the nested codec's function name
    cls: str  # canonical class name
    local: str  # the codec's local for it


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordCodec:
    name: str  # the function's name: _get_filestat
    cls: str  # canonical class
    flat: bool  # one struct.Struct call for the whole record
    struct: str  # its struct.Struct, when flat
    fields: tuple[Scalar | Nested, ...]
    kind: str = "record"


@dataclass(frozen=True, slots=True, kw_only=True)
class UnionCodec:
    name: str
    cls: str
    tag: Scalar
    payload_offset: int
    cases: tuple[tuple[int, str], ...]  # (tag value, case codec's function name)
    kind: str = "union"


Codec = RecordCodec | UnionCodec


class Codecs:
    """The record and union codecs one version module needs, in the order
    they are first asked for (which is the order they are emitted in)."""

    def __init__(self, spec: m.Spec, canonical: m.Spec):
        self.spec = spec
        self.canonical = canonical
        self.prefix = "" if canonical is spec else "canonical."
        self.gets: dict[str, Codec] = {}
        self.puts: dict[str, Codec] = {}

    def canonical_type(self, named: m.Named) -> m.Named:
        try:
            return self.canonical.type(named.name)
        except KeyError:
            raise translate.TranslationError(f"${named.name} has no canonical type") from None

    # Scalars ---------------------------------------------------------

    def scalar(self, attr: str, offset: int, t: m.Type, canonical_t: m.Type | None = None) -> Scalar:
        i = int_of(t)
        inner = m.unwrap(t)
        fields = dict(attr=attr, offset=offset, code=STRUCT_CODES[i.name], signed=i.signed,
                      local=naming.field_local(attr, offset))
        if isinstance(inner, m.Enum):
            mapping = translate.enum_map(t, self.canonical_type(t))
            return Scalar(kind="enum", count=len(inner.cases), into=naming.enum_in(t.name),
                          out_table=naming.enum_out(t.name) if mapping.out else None, **fields)
        if isinstance(inner, m.Flags):
            mapping = translate.flags_map(t, self.canonical_type(t))
            return Scalar(kind="flags", invalid=invalid_bits(t, i.bits),
                          into=naming.flags_in(t.name) if mapping.into else None,
                          out_function=naming.flags_out(t.name) if mapping.out else None,
                          out_mask=mapping.out_mask, **fields)
        if isinstance(inner, m.Handle):
            return Scalar(kind="handle", **fields)
        narrow = None
        if canonical_t is not None and int_of(canonical_t).bits > i.bits:
            narrow = (1 << i.bits) - 1
        return Scalar(kind="int", narrow=narrow, **fields)

    # Records and unions ----------------------------------------------

    def get(self, named: m.Named) -> str:
        """The reader of a record or union, registered if new: its name."""
        return self._codec(named, "get")

    def put(self, named: m.Named) -> str:
        """The writer of a record or union, registered if new: its name."""
        return self._codec(named, "put")

    def _codec(self, named: m.Named, direction: str) -> str:
        table = self.gets if direction == "get" else self.puts
        name = naming.getter(named.name) if direction == "get" else naming.putter(named.name)
        if name in table:
            return name
        table[name] = None  # registration order is emission order: reserve the place
        t = m.unwrap(named)
        cls = self.prefix + naming.class_name(named.name)
        if isinstance(t, m.Record):
            table[name] = self._record(named, t, name, cls, direction)
        else:
            lay = layout(t)
            assert isinstance(lay, UnionLayout)
            cases = tuple((i, self._codec(case, direction)) for i, case in enumerate(t.cases))
            table[name] = UnionCodec(
                name=name, cls=cls, tag=self.scalar("tag", 0, t.tag), payload_offset=lay.payload_offset, cases=cases
            )
        return name

    def _record(self, named: m.Named, t: m.Record, name: str, cls: str, direction: str) -> RecordCodec:
        translate.record_fields(named, self.canonical_type(named))
        lay = layout(t)
        flat = flat_scalars(t)
        fields: list[Scalar | Nested] = []
        is_flat = flat is not None and (direction == "put" or all(is_scalar(f.type) for f in t.fields))
        if is_flat:
            for attr, offset, ft in flat:
                ct = self._canonical_path(named, attr)
                fields.append(self.scalar(attr if ct is not None else "", offset, ft, ct))
        else:
            for f, offset in zip(t.fields, lay.offsets):
                ct = self._canonical_field(named, f.name)
                attr = naming.py_name(f.name) if ct is not None else ""
                if is_scalar(f.type):
                    fields.append(self.scalar(attr, offset, f.type, ct))
                    continue
                if not isinstance(m.unwrap(f.type), (m.Record, m.Union)):
                    raise translate.TranslationError(f"${named.name}.{f.name}: not storable")
                fields.append(
                    Nested(attr=attr, offset=offset, codec=self._codec(f.type, direction),
                           cls=naming.class_name(f.type.name), local=naming.field_local(attr, offset))
                )
        return RecordCodec(
            name=name, cls=cls, flat=is_flat, struct=naming.layout_name(named.name) if is_flat else "",
            fields=tuple(fields),
        )

    def _canonical_field(self, named: m.Named, name: str) -> m.Type | None:
        c = m.unwrap(self.canonical_type(named))
        return next((f.type for f in c.fields if f.name == name), None)

    def _canonical_path(self, named: m.Named, attr: str) -> m.Type | None:
        t: m.Type = self.canonical_type(named)
        for part in attr.split("."):
            inner = m.unwrap(t)
            found = next((f.type for f in inner.fields if naming.py_name(f.name) == part), None)
            if found is None:
                return None
            t = found
        return t


def flat_scalars(record: m.Record, base: int = 0, prefix: str = "") -> list[tuple[str, int, m.Type]] | None:
    """The record's scalars in memory order, nested records inlined, as
    (attribute path, offset, type); None if it holds a union, a list or a string."""
    lay = layout(record)
    assert isinstance(lay, RecordLayout)
    out = []
    for f, offset in zip(record.fields, lay.offsets):
        inner = m.unwrap(f.type)
        if is_scalar(f.type):
            out.append((prefix + naming.py_name(f.name), base + offset, f.type))
        elif isinstance(inner, m.Record):
            nested = flat_scalars(inner, base + offset, prefix + naming.py_name(f.name) + ".")
            if nested is None:
                return None
            out.extend(nested)
        else:
            return None
    return out


def struct_format(flat: list[tuple[str, int, m.Type]], size: int) -> str:
    """A struct.Struct format reading the scalars at their offsets, padding between."""
    fmt, pos = "<", 0
    for _, offset, t in flat:
        if offset > pos:
            fmt += f"{offset - pos}x"
        i = int_of(t)
        fmt += STRUCT_CODES[i.name]
        pos = offset + i.bits // 8
    if size > pos:
        fmt += f"{size - pos}x"
    return fmt
