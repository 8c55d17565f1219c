"""Every naming rule of the generated code, in one place."""

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
