"""Layouts, checked two ways: the numbers the ABI is known by, and an oracle
built another way (ctypes laying out the same fields with C's rules)."""

from __future__ import annotations

import ctypes

import pytest

from pywasi.codegen import model as m
from pywasi.codegen.layout import RecordLayout, UnionLayout, layout
from pywasi.codegen.resolve import load_dir
from pywasi.generated import preview0, preview1

from tests.support import WITX

P1 = load_dir(WITX / "preview1")
P0 = load_dir(WITX / "preview0")

KNOWN_P1 = {
    # name: (size, align, offsets or payload offset)
    "iovec": (8, 4, (0, 4)),
    "ciovec": (8, 4, (0, 4)),
    "dirent": (24, 8, (0, 8, 16, 20)),
    "fdstat": (24, 8, (0, 2, 8, 16)),
    "filestat": (64, 8, (0, 8, 16, 24, 32, 40, 48, 56)),
    "event": (32, 8, (0, 8, 10, 16)),
    "event_fd_readwrite": (16, 8, (0, 8)),
    "subscription_clock": (32, 8, (0, 8, 16, 24)),
    "subscription": (48, 8, (0, 8)),
    "subscription_u": (40, 8, 8),
    "prestat": (8, 4, 4),
}
KNOWN_P0 = dict(
    KNOWN_P1,
    filestat=(56, 8, (0, 8, 16, 20, 24, 32, 40, 48)),
    subscription_clock=(40, 8, (0, 8, 16, 24, 32)),
    subscription=(56, 8, (0, 8)),
    subscription_u=(48, 8, 8),
)


@pytest.mark.parametrize("spec, known", [(P1, KNOWN_P1), (P0, KNOWN_P0)], ids=["preview1", "preview0"])
def test_known_layouts(spec, known):
    for name, (size, align, where) in known.items():
        lay = layout(spec.type(name))
        got = lay.offsets if isinstance(lay, RecordLayout) else lay.payload_offset
        assert (lay.size, lay.align, got) == (size, align, where), name


_CTYPES = {"u8": ctypes.c_uint8, "u16": ctypes.c_uint16, "u32": ctypes.c_uint32, "u64": ctypes.c_uint64,
           "s8": ctypes.c_int8, "s16": ctypes.c_int16, "s32": ctypes.c_int32, "s64": ctypes.c_int64}


def ctype(t: m.Type):
    """The same type as a ctypes type, with wasm32's 4-byte pointers."""
    t = m.unwrap(t)
    match t:
        case m.Int(name=name):
            return _CTYPES[name]
        case m.Enum(tag=tag):
            return ctype(tag)
        case m.Flags(repr=r):
            return ctype(r)
        case m.Handle() | m.Pointer() | m.Usize():
            return ctypes.c_uint32
        case m.Record(fields=fields):
            return type("R", (ctypes.Structure,), {"_fields_": [(f.name, ctype(f.type)) for f in fields]})
        case m.Union(tag=tag, cases=cases):
            payload = type("P", (ctypes.Union,), {"_fields_": [(f"c{i}", ctype(c)) for i, c in enumerate(cases)]})
            return type("U", (ctypes.Structure,), {"_fields_": [("tag", ctype(tag)), ("payload", payload)]})
    raise TypeError(t)


@pytest.mark.parametrize("spec", [P1, P0], ids=["preview1", "preview0"])
def test_every_record_and_union_matches_ctypes(spec):
    checked = 0
    for named in spec.types:
        t = named.type
        if not isinstance(t, (m.Record, m.Union)):
            continue
        c = ctype(named)
        lay = layout(named)
        assert (lay.size, lay.align) == (ctypes.sizeof(c), ctypes.alignment(c)), named.name
        if isinstance(lay, RecordLayout):
            assert lay.offsets == tuple(getattr(c, f.name).offset for f in t.fields), named.name
        else:
            assert isinstance(lay, UnionLayout)
            assert lay.payload_offset == c.payload.offset, named.name
        checked += 1
    assert checked == 13


@pytest.mark.parametrize("module, spec", [(preview1, P1), (preview0, P0)], ids=["preview1", "preview0"])
def test_generated_structs_match_the_layouts(module, spec):
    for named in spec.types:
        if isinstance(named.type, m.Record):
            prefix = named.name.upper()
            lay = layout(named)
            assert getattr(module, prefix + "_SIZE") == lay.size
            assert getattr(module, prefix + "_ALIGN") == lay.align
            assert tuple(getattr(module, prefix + "_OFFSETS").values()) == lay.offsets
            struct_ = getattr(module, prefix, None)
            if struct_ is not None:
                assert struct_.size == lay.size, named.name
