"""The errors the facade raises, with Node's `code` attribute.

Node's node:wasi throws TypeError/RangeError/Error with a `code`; here they
are the Python exception of the same meaning, with the same `code`.
"""

from __future__ import annotations

from pywasi.runtime.errors import ProcExit, WasiError

__all__ = [
    "InvalidArgType",
    "InvalidArgValue",
    "OutOfRange",
    "AlreadyStarted",
    "NotStarted",
    "ProcExit",
    "WasiError",
]


class InvalidArgType(TypeError):
    code = "ERR_INVALID_ARG_TYPE"


class InvalidArgValue(ValueError):
    code = "ERR_INVALID_ARG_VALUE"


class OutOfRange(ValueError):
    code = "ERR_OUT_OF_RANGE"


class AlreadyStarted(RuntimeError):
    code = "ERR_WASI_ALREADY_STARTED"

    def __init__(self) -> None:
        super().__init__("WASI instance has already started")


class NotStarted(RuntimeError):
    """A host function called before the instance is bound: by the guest,
    when the host calls a reactor's export before initialize(). `function`
    names it; `message`, when given, says what happened instead of the
    default line."""

    code = "ERR_WASI_NOT_STARTED"

    def __init__(self, function: str | None = None, message: str | None = None):
        called = f"{function} was called" if function else "a host function was called"
        super().__init__(
            message
            or f"{called} before the WASI instance was set up: call wasi.initialize(instance, store) "
            "before calling a reactor's exports (wasi.start(instance, store) runs a command)"
        )


def describe(value: object) -> str:
    """How Node shows a received value: its type, and a short repr."""
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"type {type(value).__name__} ({text})"


class ModuleError(Exception):
    """A module pywasi cannot run: not wasm, not valid, not linkable."""
