"""Sizes, alignments and offsets of witx types in guest memory (wasm32).

Records align each field and round their size up to their alignment. Unions
put the tag first and the payload at the largest payload alignment. Computed
once here; templates only print the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from . import model as m


@dataclass(frozen=True, slots=True)
class Layout:
    size: int
    align: int


@dataclass(frozen=True, slots=True)
class RecordLayout(Layout):
    offsets: tuple[int, ...]  # one per field


@dataclass(frozen=True, slots=True)
class UnionLayout(Layout):
    tag: Layout
    payload_offset: int


def align_up(n: int, align: int) -> int:
    return (n + align - 1) // align * align


@cache
def layout(t: m.Type) -> Layout:
    t = m.unwrap(t)
    match t:
        case m.Int(bits=bits):
            return Layout(bits // 8, bits // 8)
        case m.Char8():
            return Layout(1, 1)
        case m.Usize() | m.Handle() | m.Pointer():
            return Layout(4, 4)
        case m.String() | m.List():
            return Layout(8, 4)  # pointer, length
        case m.Enum(tag=tag):
            return layout(tag)
        case m.Flags(repr=repr_):
            return layout(repr_)
        case m.Record():
            return record_layout(t)
        case m.Union():
            return union_layout(t)
        case m.Variant():
            return variant_layout(t)
    raise TypeError(f"{type(t).__name__} has no layout in memory")


@cache
def record_layout(record: m.Record) -> RecordLayout:
    offset, align, offsets = 0, 1, []
    for f in record.fields:
        field = layout(f.type)
        offset = align_up(offset, field.align)
        offsets.append(offset)
        offset += field.size
        align = max(align, field.align)
    return RecordLayout(align_up(offset, align), align, tuple(offsets))


@cache
def union_layout(union: m.Union) -> UnionLayout:
    return _tagged(layout(union.tag), [layout(c) for c in union.cases])


@cache
def variant_layout(variant: m.Variant) -> UnionLayout:
    return _tagged(layout(variant.tag), [layout(c.type) for c in variant.cases if c.type])


def _tagged(tag: Layout, payloads: list[Layout]) -> UnionLayout:
    payload_align = max((p.align for p in payloads), default=1)
    payload_size = max((p.size for p in payloads), default=0)
    offset = align_up(tag.size, payload_align)
    align = max(tag.align, payload_align)
    return UnionLayout(align_up(offset + payload_size, align), align, tag, offset)
