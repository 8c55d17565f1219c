"""The fuzz guest, and what the spec says each of its arguments is.

The guest is a module of trampolines: for every function of an ABI version,
an export of the same core signature that calls the import with the
arguments it is given. A test calling an export through wasmtime reaches the
host function through the real bridge, with lowered arguments of its choice.

What an argument means (a descriptor, a flags word, a pointer to a string, to
an iovec array or to an out value) comes from the code generator's lowering
(`pywasi.codegen.abi`), so every function of both versions is described the
way its stub was generated, and a new function is fuzzed without a word here.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass

import wasmtime

from pywasi.codegen import abi as lowering, model as m
from pywasi.codegen.generate import default_paths
from pywasi.codegen.layout import layout
from pywasi.codegen.resolve import load_dir
from pywasi.generated import preview0, preview1

VERSIONS = {"preview1": (preview1, "preview1"), "unstable": (preview0, "preview0")}
MASK32 = 0xFFFFFFFF
MAX_PAGES = 4


@functools.cache
def spec(version: str) -> m.Spec:
    witx, _ = default_paths()
    return load_dir(witx / VERSIONS[version][1])


@functools.cache
def lowerings(version: str) -> dict[str, lowering.Lowering]:
    """Each function's lowering, checked against the generated metadata the
    bridge registers (the two must agree, or the fuzzer would lie)."""
    generated = VERSIONS[version][0].FUNCTIONS
    out = {}
    for low in lowering.lower_spec(spec(version)):
        info = generated[low.name]
        assert tuple(c.name for c in low.core_params) == info.core_param_names, low.name
        assert tuple(c.wasm for c in low.core_params) == info.core_params, low.name
        out[low.name] = low
    assert set(out) == set(generated)
    return out


def trampolines_wat(version: str) -> str:
    """One export per import, same name and signature; `memory` (one page,
    growable to MAX_PAGES) and `grow`. No _start: the test binds it with
    finalize_bindings and calls the exports itself."""
    module = VERSIONS[version][0].MODULE
    imports, exports = [], []
    for name, info in VERSIONS[version][0].FUNCTIONS.items():
        params = " ".join(info.core_params)
        results = " ".join(info.core_results)
        signature = f"(param {params}) (result {results})"
        imports.append(f'  (import "{module}" "{name}" (func ${name} {signature}))')
        gets = " ".join(f"(local.get {i})" for i in range(len(info.core_params)))
        exports.append(f'  (func (export "{name}") {signature} (call ${name} {gets}))')
    return "\n".join(
        ["(module", *imports, f'  (memory (export "memory") 1 {MAX_PAGES})', *exports,
         '  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))', ")"]
    )


@functools.cache
def compiled(engine: wasmtime.Engine, version: str) -> wasmtime.Module:
    return wasmtime.Module(engine, wasmtime.wat2wasm(trampolines_wat(version)))


# Layouts and encoding --------------------------------------------------------------


_PACK = {1: "<B", 2: "<H", 4: "<I", 8: "<Q"}


def encode(t: m.Type, value, buf: bytearray, offset: int) -> None:
    """Write `value` as the spec lays `t` out: a record is a dict by field
    name, a union a (tag, payload) pair, scalars ints (masked to their width)."""
    u = m.unwrap(t)
    lay = layout(t)
    match u:
        case m.Record(fields=fields):
            for f, off in zip(fields, lay.offsets):
                encode(f.type, value[f.name], buf, offset + off)
        case m.Union(tag=tag, cases=cases):
            index, payload = value
            encode(tag, index, buf, offset)
            if index < len(cases) and payload is not None:
                encode(cases[index], payload, buf, offset + lay.payload_offset)
        case _:
            struct.pack_into(_PACK[lay.size], buf, offset, value & ((1 << (8 * lay.size)) - 1))


def clock_type(subscription: m.Named) -> m.Named:
    """The clock payload of a subscription (its union's first case)."""
    union = m.unwrap(subscription).fields[1].type
    return m.unwrap(union).cases[0]


def decode(t: m.Type, buf: bytes, offset: int):
    """The inverse of `encode`: a union's payload is None for a tag out of range."""
    u = m.unwrap(t)
    lay = layout(t)
    match u:
        case m.Record(fields=fields):
            return {f.name: decode(f.type, buf, offset + off) for f, off in zip(fields, lay.offsets)}
        case m.Union(tag=tag, cases=cases):
            index = decode(tag, buf, offset)
            payload = decode(cases[index], buf, offset + lay.payload_offset) if index < len(cases) else None
            return index, payload
    return struct.unpack_from(_PACK[lay.size], buf, offset)[0]


# Regions a call hands the host -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Region:
    """`size` bytes at `ptr` (both masked to u32), aligned to `align`; `write`:
    the host may store into it."""

    ptr: int
    size: int
    align: int
    write: bool
    what: str

    def good(self, memory_size: int) -> bool:
        return self.ptr % self.align == 0 and self.ptr + self.size <= memory_size


def regions(version: str, name: str, args: dict[str, int], memory: bytes, argv: list[bytes],
            environ: list[bytes]) -> tuple[list[Region], list[Region]]:
    """What a call with these (core) arguments points at, given the memory it
    runs on: the regions its stub checks before anything else, and the ones
    reached through them (an iovec's buffer), which are known only when the
    array holding them is itself in memory."""
    low = lowerings(version)[name]
    size = len(memory)
    top: list[Region] = []
    nested: list[Region] = []
    a = {k: v & MASK32 for k, v in args.items()}
    for step in low.steps:
        match step:
            case lowering.LiftString(arg=arg, ptr=ptr, len=length):
                top.append(Region(a[ptr], a[length], 1, False, arg))
            case lowering.LiftBuffer(arg=arg, ptr=ptr, len=length):
                top.append(Region(a[ptr], a[length], 1, True, arg))
            case lowering.LiftBufferList(arg=arg, ptr=ptr, len=count, layout=lay, buf_offset=bo, len_offset=lo):
                array = Region(a[ptr], a[count] * lay.size, lay.align, False, arg)
                top.append(array)
                writable = step.element.name == "iovec"  # a ciovec is only read
                if array.good(size):
                    for i in range(a[count]):
                        at = array.ptr + i * lay.size
                        buf = struct.unpack_from("<I", memory, at + bo)[0]
                        n = struct.unpack_from("<I", memory, at + lo)[0]
                        nested.append(Region(buf, n, 1, writable, f"{arg}[{i}]"))
            case lowering.LiftArray(arg=arg, ptr=ptr, count=count, element=element):
                lay = layout(element)
                top.append(Region(a[ptr], a[count] * lay.size, lay.align, False, arg))
            case lowering.OutArray(ptr=ptr, count=count, element=element):
                lay = layout(element)
                top.append(Region(a[ptr], a[count] * lay.size, lay.align, True, ptr))
            case lowering.OutDirents(ptr=ptr, len=length):
                top.append(Region(a[ptr], a[length], 1, True, ptr))
            case lowering.OutStrings(vector=vector, buf=buf):
                strings = argv if name == "args_get" else environ
                top.append(Region(a[vector], 4 * len(strings), 4, True, vector))
                top.append(Region(a[buf], sum(len(s) + 1 for s in strings), 1, True, buf))
    for out in low.outs:
        lay = layout(out.type)
        top.append(Region(a[out.core], lay.size, lay.align, True, out.core))
    return top, nested
