"""The witx syntax tree: the grammar's parse turned into frozen dataclasses.

This module owns parsing one file. It keeps what the source says (doc
comments, line and column of every item) and checks nothing about names:
resolve.py follows `use`, looks names up and builds the model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from .errors import Loc, WitxError


@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    loc: Loc = field(compare=False, repr=False)


# Types -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class IntType(Node):
    name: str  # u8 .. s64


@dataclass(frozen=True, slots=True, kw_only=True)
class StringType(Node):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Ref(Node):
    name: str  # without the "$"


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseName(Node):
    name: str
    doc: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Enum(Node):
    tag: str
    cases: tuple[CaseName, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Flags(Node):
    repr: str
    flags: tuple[CaseName, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Field(Node):
    name: str
    type: TypeExpr
    doc: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Record(Node):
    fields: tuple[Field, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Union(Node):
    tag: Ref | None
    cases: tuple[Ref, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Case(Node):
    name: str
    type: TypeExpr | None
    doc: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Variant(Node):
    tag: str | None
    cases: tuple[Case, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Handle(Node):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class List(Node):
    element: TypeExpr


@dataclass(frozen=True, slots=True, kw_only=True)
class Pointer(Node):
    target: TypeExpr
    const: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Usize(Node):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Char8(Node):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Expected(Node):
    ok: TypeExpr | None
    error: TypeExpr


@dataclass(frozen=True, slots=True, kw_only=True)
class Tuple(Node):
    items: tuple[TypeExpr, ...]


TypeExpr = (
    IntType | StringType | Ref | Enum | Flags | Record | Union | Variant | Handle
    | List | Pointer | Usize | Char8 | Expected | Tuple
)

# Declarations ----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Use(Node):
    path: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TypeName(Node):
    name: str
    type: TypeExpr
    doc: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Param(Node):
    name: str
    type: TypeExpr
    doc: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Result(Node):
    name: str
    type: TypeExpr
    doc: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class NoReturn(Node):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Func(Node):
    name: str
    params: tuple[Param, ...]
    results: tuple[Result, ...]
    noreturn: bool
    doc: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportMemory(Node):
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Module(Node):
    name: str
    imports: tuple[ImportMemory, ...]
    funcs: tuple[Func, ...]
    doc: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Document(Node):
    uses: tuple[Use, ...]
    typenames: tuple[TypeName, ...]
    modules: tuple[Module, ...]


# Parsing ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _UnionTag:
    ref: Ref


@cache
def _parser() -> Lark:
    grammar = (Path(__file__).parent / "grammar.lark").read_text()
    return Lark(grammar, parser="lalr", propagate_positions=True)


def _docs_attached(items: list) -> list:
    """Attach each run of ";;;" tokens to the item after it; drop dangling ones."""
    out, pending = [], []
    for item in items:
        if isinstance(item, Token) and item.type == "DOC":
            pending.append(item[3:].strip() if item[3:4] == " " else item[3:].rstrip())
            continue
        if pending and hasattr(item, "doc"):
            item = _with_doc(item, "\n".join(pending))
        pending = []
        out.append(item)
    return out


def _with_doc(item, doc: str):
    cls = type(item)
    values = {f: getattr(item, f) for f in cls.__dataclass_fields__}
    values["doc"] = doc
    return cls(**values)


def _name(token: Token) -> str:
    return str(token)[1:]


@v_args(meta=True)
class _ToSyntax(Transformer):
    def __init__(self, file: str):
        super().__init__()
        self.file = file

    def _loc(self, meta) -> Loc:
        return Loc(self.file, getattr(meta, "line", 0), getattr(meta, "column", 0))

    def start(self, meta, items):
        items = _docs_attached(items)
        return Document(
            loc=Loc(self.file, 1, 1),
            uses=tuple(i for i in items if isinstance(i, Use)),
            typenames=tuple(i for i in items if isinstance(i, TypeName)),
            modules=tuple(i for i in items if isinstance(i, Module)),
        )

    def use(self, meta, items):
        return Use(loc=self._loc(meta), path=str(items[0])[1:-1])

    def typename(self, meta, items):
        return TypeName(loc=self._loc(meta), name=_name(items[0]), type=items[1])

    def module(self, meta, items):
        name, *rest = items
        rest = _docs_attached(rest)
        return Module(
            loc=self._loc(meta),
            name=_name(name),
            imports=tuple(i for i in rest if isinstance(i, ImportMemory)),
            funcs=tuple(i for i in rest if isinstance(i, Func)),
        )

    def import_memory(self, meta, items):
        return ImportMemory(loc=self._loc(meta), name=str(items[0])[1:-1])

    def func(self, meta, items):
        name, *rest = items
        rest = _docs_attached(rest)
        loc = self._loc(meta)
        seen_result = False
        for item in rest:
            if isinstance(item, Result):
                seen_result = True
            elif isinstance(item, Param) and seen_result:
                raise WitxError(item.loc, "a param after the results")
        return Func(
            loc=loc,
            name=str(name)[1:-1],
            params=tuple(i for i in rest if isinstance(i, Param)),
            results=tuple(i for i in rest if isinstance(i, Result)),
            noreturn=any(isinstance(i, NoReturn) for i in rest),
        )

    def param(self, meta, items):
        return Param(loc=self._loc(meta), name=_name(items[0]), type=items[1])

    def result(self, meta, items):
        return Result(loc=self._loc(meta), name=_name(items[0]), type=items[1])

    def noreturn(self, meta, items):
        return NoReturn(loc=self._loc(meta))

    def ref(self, meta, items):
        return Ref(loc=self._loc(meta), name=_name(items[0]))

    def int_type(self, meta, items):
        return IntType(loc=self._loc(meta), name=str(items[0]))

    def string(self, meta, items):
        return StringType(loc=self._loc(meta))

    def tag_int(self, meta, items):
        return str(items[0])

    repr_int = tag_int

    def case_name(self, meta, items):
        return CaseName(loc=self._loc(meta), name=_name(items[0]))

    def enum(self, meta, items):
        tag, *cases = items
        return Enum(loc=self._loc(meta), tag=tag, cases=tuple(_docs_attached(cases)))

    def flags(self, meta, items):
        repr_, *flags = items
        return Flags(loc=self._loc(meta), repr=repr_, flags=tuple(_docs_attached(flags)))

    def record(self, meta, items):
        return Record(loc=self._loc(meta), fields=tuple(_docs_attached(items)))

    def field(self, meta, items):
        return Field(loc=self._loc(meta), name=_name(items[0]), type=items[1])

    def union_tag(self, meta, items):
        # Wrapped so that union() can tell the tag from a case (both are refs).
        return _UnionTag(Ref(loc=self._loc(meta), name=_name(items[0])))

    def union(self, meta, items):
        items = _docs_attached(items)
        tag = None
        if items and isinstance(items[0], _UnionTag):
            tag = items.pop(0).ref
        return Union(loc=self._loc(meta), tag=tag, cases=tuple(items))

    def variant(self, meta, items):
        tag = items.pop(0) if items and isinstance(items[0], str) else None
        return Variant(loc=self._loc(meta), tag=tag, cases=tuple(_docs_attached(items)))

    def case(self, meta, items):
        return Case(
            loc=self._loc(meta), name=_name(items[0]), type=items[1] if len(items) > 1 else None
        )

    def handle(self, meta, items):
        return Handle(loc=self._loc(meta))

    def list(self, meta, items):
        return List(loc=self._loc(meta), element=items[0])

    def pointer(self, meta, items):
        return Pointer(loc=self._loc(meta), target=items[0], const=False)

    def const_pointer(self, meta, items):
        return Pointer(loc=self._loc(meta), target=items[0], const=True)

    def usize(self, meta, items):
        return Usize(loc=self._loc(meta))

    def char8(self, meta, items):
        return Char8(loc=self._loc(meta))

    def expected(self, meta, items):
        ok = items[0] if len(items) == 2 else None
        return Expected(loc=self._loc(meta), ok=ok, error=items[-1])

    def error(self, meta, items):
        return items[0]

    def tuple(self, meta, items):
        return Tuple(loc=self._loc(meta), items=tuple(items))


def parse(text: str, file: str) -> Document:
    """Parse one witx file. Raises WitxError with the file, line and column."""
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as e:
        loc = Loc(file, e.line, e.column)
        if _at_end(e):  # point past the last character, not at the last token
            loc = Loc(file, text.count("\n") + 1, len(text) - text.rfind("\n"))
        raise WitxError(loc, _describe(e, text)) from None
    try:
        return _ToSyntax(file).transform(tree)
    except Exception as e:  # lark wraps errors raised inside the transformer
        inner = getattr(e, "orig_exc", e)
        if isinstance(inner, WitxError):
            raise inner from None
        raise


def _at_end(e: UnexpectedInput) -> bool:
    return isinstance(e, UnexpectedEOF) or (isinstance(e, UnexpectedToken) and e.token.type == "$END")


_TERMINALS = {"RPAR": "')'", "LPAR": "'('", "ID": "a $name", "STRING": "a string", "INT_TYPE": "an integer type"}


def _describe(e: UnexpectedInput, text: str) -> str:
    if isinstance(e, UnexpectedCharacters):
        word = re.match(r"[^\s()]+", text[e.pos_in_stream :]).group(0)
        return f"unexpected {word!r}" if len(word) > 1 else f"unexpected character {word!r}"
    if _at_end(e):
        return "unexpected end of file (unbalanced parentheses?)"
    if isinstance(e, UnexpectedToken):
        expected = sorted(_TERMINALS[x] for x in e.expected if x in _TERMINALS)
        hint = f", expected {' or '.join(expected)}" if expected and len(expected) <= 2 else ""
        return f"unexpected {str(e.token)!r}{hint}"
    return "syntax error"
