"""Every name the generated code uses, in one place: the spelling of witx
names in Python, and the names the generator gives its own tables, codecs
and locals. Templates print these names; none makes one up."""

from __future__ import annotations

import builtins
import keyword


def py_name(witx: str) -> str:
    """A field or function name: snake_case, keywords escaped (in -> in_)."""
    name = witx.replace("-", "_")
    return name + "_" if keyword.iskeyword(name) or keyword.issoftkeyword(name) else name


def py_param(witx: str) -> str:
    """A parameter or local: like py_name, and builtins escaped too (len -> len_),
    so that neither stubs nor handlers shadow them."""
    name = py_name(witx)
    return name + "_" if hasattr(builtins, name) else name


def class_name(witx: str) -> str:
    """A type name: CamelCase (event_fd_readwrite -> EventFdReadwrite)."""
    return "".join(part[:1].upper() + part[1:] for part in witx.replace("-", "_").split("_"))


def const_name(witx: str) -> str:
    """An enum case or flag: UPPER_CASE; a leading digit is spelled out (2big -> TOOBIG)."""
    name = witx.replace("-", "_").upper()
    if name[:1].isdigit():
        name = _DIGITS[name[0]] + name[1:]
    return name


def layout_name(witx: str) -> str:
    """The precompiled struct.Struct of a record or union: FILESTAT."""
    return witx.replace("-", "_").upper()


# The generator's own names -------------------------------------------------------


def flags_mask(witx: str) -> str:
    """Every bit a flags type defines: FDFLAGS_MASK."""
    return f"{layout_name(witx)}_MASK"


def enum_in(witx: str) -> str:
    """The table from a version's enum value to the canonical member: _IN_WHENCE."""
    return f"_IN_{const_name(witx)}"


def enum_out(witx: str) -> str:
    """The table from a canonical enum value to the version's: _OUT_WHENCE."""
    return f"_OUT_{const_name(witx)}"


def flags_in(witx: str) -> str:
    """The function moving a version's flag bits to the canonical ones: _in_rights."""
    return f"_in_{py_name(witx)}"


def flags_out(witx: str) -> str:
    return f"_out_{py_name(witx)}"


def getter(witx: str) -> str:
    """The stub's reader of a record or union in guest memory: _get_subscription."""
    return f"_get_{py_name(witx)}"


def putter(witx: str) -> str:
    """The stub's writer of a record or union into guest memory: _put_event."""
    return f"_put_{py_name(witx)}"


def trace_decoder(witx: str) -> str:
    """The trace's reader of a record or union (never traps): _t_subscription."""
    return f"_t_{py_name(witx)}"


def c_const(type_witx: str, case_witx: str) -> str:
    """A canonical enum case or flag in C: WASI_WHENCE_SET, WASI_RIGHTS_FD_READ."""
    return f"WASI_{const_name(type_witx)}_{const_name(case_witx)}"


def c_struct(witx: str) -> str:
    """A canonical record as a C struct: native_fdstat_t."""
    return f"native_{py_name(witx)}_t"


def c_table(version: str, direction: str, witx: str) -> str:
    """A C table between a version's enum values and the canonical ones:
    preview0_in_whence, preview0_out_filetype."""
    return f"{version}_{direction}_{py_name(witx)}"


def handler_local(function: str) -> str:
    """The bound handler method a stub calls: h_fd_write."""
    return f"h_{function}"


def field_local(attr: str, offset: int) -> str:
    """A codec's local for one field ("fd_readwrite.nbytes" -> f_fd_readwrite_nbytes);
    a field the canonical type lacks is named by its offset."""
    return f"f_{attr.replace('.', '_')}" if attr else f"f_unused_{offset}"


_DIGITS = {
    "0": "ZERO",
    "1": "ONE",
    "2": "TOO",  # errno $2big is E2BIG: "too big"
    "3": "THREE",
    "4": "FOUR",
    "5": "FIVE",
    "6": "SIX",
    "7": "SEVEN",
    "8": "EIGHT",
    "9": "NINE",
}
