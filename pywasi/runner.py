"""pywasi.run: a whole program in one call, on an engine pywasi sets up.

The engine has epoch interruption on, so that Ctrl-C stops even a guest that
loops without calling the host. Compiled code is cached on disk (cache.py).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import wasmtime

from pywasi.generated.versions import BY_NAME, BY_NAMESPACE, DEFAULT

from . import cache as module_cache
from .audit import UNKNOWN, audit_module
from .errors import ModuleError
from .wasi import WASI


# What new_engine sets: part of the compiled-code cache's key.
ENGINE_SETTINGS = "epoch_interruption"


def new_engine() -> wasmtime.Engine:
    config = wasmtime.Config()
    config.epoch_interruption = True
    return wasmtime.Engine(config)


def read_module(source) -> tuple[bytes, str]:
    """The bytes of a module given as a path, wasm bytes or WAT text, and a
    name for messages."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), "<bytes>"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            return path.read_bytes(), str(path)
        except FileNotFoundError:
            raise ModuleError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise ModuleError(f"{path}: is a directory") from None
        except OSError as e:
            raise ModuleError(f"{path}: {e.strerror}") from None
    raise ModuleError(f"a module is a path or bytes, not {type(source).__name__}")


def compile_module(engine: wasmtime.Engine, data: bytes, name: str, cache_dir: Path | None = None) -> wasmtime.Module:
    if not data:
        raise ModuleError(f"{name}: is empty, not a WebAssembly module")
    if data[:4] == b"\0asm":
        if len(data) >= 8 and data[6:8] != b"\0\0":
            raise ModuleError(
                f"{name}: is a WebAssembly component (a WASI preview2 binary); pywasi runs core modules"
            )
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ModuleError(f"{name}: neither a wasm binary nor WAT text (not UTF-8 text)") from None
        try:
            data = bytes(wasmtime.wat2wasm(text))
        except wasmtime.WasmtimeError as e:
            if not _LOOKS_LIKE_WAT.match(text):
                raise ModuleError(f"{name}: neither a wasm binary nor WAT text ({_first_line(e)})") from None
            raise ModuleError(_wat_error(name, e)) from None
    try:
        return module_cache.compile_cached(engine, data, ENGINE_SETTINGS, cache_dir, name)
    except wasmtime.WasmtimeError as e:
        raise ModuleError(f"{name}: not a valid WebAssembly module: {_cause(e)}") from None


def detect_version(module: wasmtime.Module) -> str:
    """The version (Node's name) whose namespace a module imports."""
    used = sorted({i.module for i in module.imports if i.module in BY_NAMESPACE})
    if len(used) > 1:
        raise ModuleError(f"the module imports both {' and '.join(used)}")
    return BY_NAMESPACE[used[0]].name if used else DEFAULT


def check_command(module: wasmtime.Module, name: str, version: str) -> None:
    """What makes a module fail to run as a WASI command, as one ModuleError
    naming it, before anything is instantiated: a WASI import the spec does
    not have or with another signature, no exported memory, no _start."""
    namespace = BY_NAME[version].namespace
    for imported in audit_module(module, name).wasi:
        if imported.module != namespace:
            continue  # not linked here: instantiation names it
        if imported.status == UNKNOWN:
            raise ModuleError(f"{name}: imports {namespace}::{imported.name}, which {namespace} does not have")
        if not imported.signature_ok:
            raise ModuleError(
                f"{name}: imports {namespace}::{imported.name} as {imported.signature}, "
                f"but {namespace} declares it {imported.expected}"
            )
    exports = {e.name: e.type for e in module.exports}
    if not isinstance(exports.get("memory"), wasmtime.MemoryType):
        raise ModuleError(f'{name}: exports no memory: a WASI program exports its linear memory as "memory"')
    if not isinstance(exports.get("_start"), wasmtime.FuncType):
        kind = " (it is a reactor: it exports _initialize)" if "_initialize" in exports else ""
        raise ModuleError(f"{name}: exports no _start function: not a WASI command{kind}")


def run(
    module: str | os.PathLike[str] | bytes | bytearray | memoryview,
    *,
    version: str = "auto",
    cache: bool | str | os.PathLike[str] = True,
    **options: Any,
) -> int:
    """Run a WASI command (a path, wasm bytes or WAT text) and return its exit
    code. `cache`: keep compiled code on disk (True: in $PYWASI_CACHE or the
    user's cache folder; a path: there; False: never). `options` are WASI's."""
    engine = new_engine()
    data, name = read_module(module)
    cache_dir = None if cache is False else module_cache.default_dir() if cache is True else Path(cache)
    compiled = compile_module(engine, data, name, cache_dir)
    if version == "auto":
        version = detect_version(compiled)
    if isinstance(version, str) and version in BY_NAME:  # anything else is WASI's to refuse
        check_command(compiled, name, version)
    with WASI(version=version, **options) as wasi:
        store = wasmtime.Store(engine)
        store.set_epoch_deadline(1)
        linker = wasmtime.Linker(engine)
        wasi.define(linker)
        try:
            instance = linker.instantiate(store, compiled)
        except wasmtime.Trap:
            raise
        except wasmtime.WasmtimeError as e:
            raise ModuleError(f"{name}: cannot be instantiated: {_first_line(e)}") from None
        return wasi.start(instance, store)


# WAT text opens with a paren or a comment; wat2wasm's error for anything
# else is only that it expected a paren.
_LOOKS_LIKE_WAT = re.compile(r"\s*(\(|;;)")
# wat2wasm's messages point at the error as rustc's do: "  --> <anon>:3:11".
_WAT_LOCATION = re.compile(r"^\s*--> .*:(\d+):(\d+)\s*$", re.MULTILINE)


def _wat_error(name: str, error: Exception) -> str:
    """A WAT error as compilers print them: NAME:LINE:COLUMN: what is wrong."""
    where = _WAT_LOCATION.search(str(error))
    at = f"{name}:{where[1]}:{where[2]}" if where else name
    return f"{at}: error in WAT text: {_first_line(error)}"


def _reasons(error: Exception) -> tuple[str, list[str]]:
    """A wasmtime error's text split in two: what comes before "Caused by:",
    and the causes after it, outermost first, without the numbers anyhow
    prints before each ("0: ...", "1: ...") when there are several."""
    text = str(error).split("Stack backtrace:")[0]  # older wasmtime appends its own
    head, _, cause = text.partition("Caused by:")
    lines = [" ".join(line.split()) for line in cause.splitlines() if line.strip()]
    return head, [re.sub(r"^\d+: ", "", line) for line in lines]


def _cause(error: Exception) -> str:
    """The innermost reason a wasmtime error gives (its last "Caused by:" line)."""
    causes = _reasons(error)[1]
    return causes[-1] if causes else _first_line(error)


def _first_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def describe_trap(error: Exception) -> str:
    """One line from a wasmtime Trap or WasmtimeError: what trapped, and in
    which guest function (the innermost frame of the backtrace)."""
    head, causes = _reasons(error)
    reasons = causes or [line.strip() for line in head.splitlines() if line.strip()]
    reason = reasons[-1] if reasons else type(error).__name__
    if reason.startswith("wasm trap:"):
        reason = reason[len("wasm trap:") :].strip()
    frame = re.search(r"^\s*0:\s+\S+\s+-\s+(.*)$", head, re.MULTILINE)
    where = ""
    if frame:
        function = frame.group(1).rsplit("!", 1)[-1].strip()
        where = f" (in {function})"
    return f"trap: {reason}{where}"
