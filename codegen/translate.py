"""How a version's types map onto the canonical ones the handlers use.

One set of handlers serves every ABI version. They speak the canonical types
(preview1's); another version's stubs translate, by name: enum cases and
flags by their names, record fields by theirs. wasi_unstable orders `whence`
differently, has no `sock_accept` right, a 32-bit `nlink` and an extra
`identifier` in clock subscriptions; all of that is found here, not written
down anywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import model as m


class TranslationError(Exception):
    """A version type that cannot be mapped onto the canonical one."""


@dataclass(frozen=True, slots=True)
class EnumMap:
    into: tuple[int, ...] | None  # version value -> canonical value; None: identical
    out: dict[int, int] | None  # canonical value -> version value; None: identical


@dataclass(frozen=True, slots=True)
class FlagsMap:
    # version bit -> canonical bit, None when every shared flag keeps its bit
    into: tuple[tuple[int, int], ...] | None
    out: tuple[tuple[int, int], ...] | None
    out_mask: int | None  # drop canonical bits the version does not have


def enum_map(version: m.Named, canonical: m.Named) -> EnumMap:
    v_cases = [c.name for c in _enum(version).cases]
    c_cases = [c.name for c in _enum(canonical).cases]
    missing = [n for n in v_cases if n not in c_cases]
    if missing:
        raise TranslationError(f"${version.name}: cases {missing} have no canonical counterpart")
    if v_cases == c_cases[: len(v_cases)]:
        return EnumMap(None, None)
    into = tuple(c_cases.index(n) for n in v_cases)
    return EnumMap(into, {c: v for v, c in enumerate(into)})


def flags_map(version: m.Named, canonical: m.Named) -> FlagsMap:
    v_flags = [f.name for f in _flags(version).flags]
    c_flags = [f.name for f in _flags(canonical).flags]
    missing = [n for n in v_flags if n not in c_flags]
    if missing:
        raise TranslationError(f"${version.name}: flags {missing} have no canonical counterpart")
    pairs = tuple((i, c_flags.index(n)) for i, n in enumerate(v_flags))
    same = all(v == c for v, c in pairs)
    extra = len(c_flags) > len(v_flags)
    version_mask = (1 << len(v_flags)) - 1
    if same:
        return FlagsMap(None, None, version_mask if extra else None)
    return FlagsMap(pairs, tuple((c, v) for v, c in pairs), None)


def record_fields(version: m.Named, canonical: m.Named) -> tuple[str, ...]:
    """The version's field names, checked to cover every canonical field."""
    v_fields = [f.name for f in m.unwrap(version).fields]
    c_fields = [f.name for f in m.unwrap(canonical).fields]
    missing = [n for n in c_fields if n not in v_fields]
    if missing:
        raise TranslationError(f"${version.name}: no field for canonical {missing}")
    return tuple(v_fields)


def _enum(t: m.Named) -> m.Enum:
    e = m.unwrap(t)
    if not isinstance(e, m.Enum):
        raise TranslationError(f"${t.name} is an enum in one version and not in the other")
    return e


def _flags(t: m.Named) -> m.Flags:
    f = m.unwrap(t)
    if not isinstance(f, m.Flags):
        raise TranslationError(f"${t.name} is flags in one version and not in the other")
    return f
