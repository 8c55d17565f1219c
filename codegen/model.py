"""The resolved model of a witx spec: types and functions, names looked up.

Every reference to a typename is the `Named` object itself, so the model is a
tree of frozen, hashable values. Doc comments ride along but take no part in
equality: two specs that differ only in comments are equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class Int:
    name: str  # u8, u16, u32, u64, s8, s16, s32, s64

    @property
    def bits(self) -> int:
        return int(self.name[1:])

    @property
    def signed(self) -> bool:
        return self.name[0] == "s"


@dataclass(frozen=True, slots=True, kw_only=True)
class String:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Char8:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Usize:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Handle:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    """An enum case or a flag; its value is its position (flags: 1 << position)."""

    name: str
    doc: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Enum:
    tag: Int
    cases: tuple[Case, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Flags:
    repr: Int
    flags: tuple[Case, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Field:
    name: str
    type: Type
    doc: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    fields: tuple[Field, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Union:
    """A tagged union: case i of the tag enum carries `cases[i]`."""

    tag: Named  # a Named enum
    cases: tuple[Named, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class VariantCase:
    name: str
    type: Type | None
    doc: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Variant:
    tag: Int
    cases: tuple[VariantCase, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class List:
    element: Type


@dataclass(frozen=True, slots=True, kw_only=True)
class Pointer:
    target: Type
    const: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Expected:
    ok: Type | None
    error: Type


@dataclass(frozen=True, slots=True, kw_only=True)
class Tuple:
    items: tuple[Type, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Named:
    """A typename: what every reference to `$name` resolves to."""

    name: str
    type: Type
    doc: str = field(default="", compare=False)


Type = (
    Int | String | Char8 | Usize | Handle | Enum | Flags | Record | Union | Variant
    | List | Pointer | Expected | Tuple | Named
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Param:
    name: str
    type: Type
    doc: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Result:
    name: str
    type: Type
    doc: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Function:
    name: str
    params: tuple[Param, ...]
    results: tuple[Result, ...]
    noreturn: bool
    doc: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Spec:
    """One module (wasi_snapshot_preview1, wasi_unstable) and every type it can see."""

    module: str
    memory: bool  # the module imports "memory"
    types: tuple[Named, ...]  # in declaration order, `use`d files first
    functions: tuple[Function, ...]
    sources: tuple[str, ...] = field(default=(), compare=False)  # files read, in order

    def type(self, name: str) -> Named:
        for named in self.types:
            if named.name == name:
                return named
        raise KeyError(name)

    def function(self, name: str) -> Function:
        for function in self.functions:
            if function.name == name:
                return function
        raise KeyError(name)


def unwrap(t: Type) -> Type:
    """The structural type behind any number of typenames."""
    while isinstance(t, Named):
        t = t.type
    return t
