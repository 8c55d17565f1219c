"""A user's script over pywasi's whole public API, as a type checker sees
it: test_typing.py checks it with `mypy --strict` against pywasi as
installed, and runs it."""

from __future__ import annotations

import io
import os
import sys
import tempfile

import wasmtime

import pywasi
from pywasi import (
    WASI,
    AlreadyStarted,
    HostCall,
    InvalidArgType,
    InvalidArgValue,
    MemoryDir,
    ModuleError,
    NotStarted,
    OutOfRange,
    ProcExit,
    ReadOnly,
    Stats,
    Symlink,
    WasiError,
)
from pywasi.options import Output, Preopens, Stdin

COMMAND = """
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "typed\\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 6))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $exit (i32.const 3))))
"""

REACTOR = """
(module
  (import "wasi_snapshot_preview1" "sched_yield" (func $yield (result i32)))
  (memory (export "memory") 1)
  (func (export "_initialize"))
  (func (export "twice") (param i32) (result i32)
    (drop (call $yield))
    (i32.mul (local.get 0) (i32.const 2))))
"""


def instantiate(wasi: WASI, text: str) -> tuple[wasmtime.Instance, wasmtime.Store]:
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    wasi.define(linker)
    module = wasmtime.Module(engine, text)
    return linker.instantiate(store, module), store


def command(directory: str) -> None:
    lines: list[HostCall] = []
    stats = Stats()
    memory = MemoryDir({"in.txt": b"data", "conf": {"a.ini": "x=1"}, "latest": Symlink("in.txt")}, max_bytes=1 << 20)
    preopens: Preopens = {
        "/data": ReadOnly(directory),
        "/out": directory,
        "/mem": memory,
        "/mem-ro": ReadOnly(MemoryDir.from_path(directory)),
    }
    stdin: Stdin = b""
    stdout: Output = io.BytesIO()
    with WASI(
        version="preview1",
        args=["demo", b"bytes", os.path.join(directory, "x")],
        env={"LANG": "C", "UNSET": None},
        preopens=preopens,
        return_on_exit=True,
        stdin=stdin,
        stdout=stdout,
        stderr=2,
        sockets=(),
        max_fds=64,
        max_output=1 << 20,
        trace=lines.append,
        stats=stats,
    ) as wasi:
        instance, store = instantiate(wasi, COMMAND)
        code: int = wasi.start(instance, store)
        assert code == 3
        try:
            wasi.start(instance, store)
        except AlreadyStarted as error:
            assert error.code == "ERR_WASI_ALREADY_STARTED"
    assert isinstance(stdout, io.BytesIO) and stdout.getvalue() == b"typed\n"
    assert memory.tree()["in.txt"] == b"data"
    call = lines[0]
    assert (call.function, call.results, call.exception) == ("fd_write", {"size": 6}, None)
    assert call.errno is not None and call.errno.name == "SUCCESS" and call.ns >= 0
    assert str(call).startswith("fd_write(") and call.outcome == "success, size=6"
    assert lines[1].exception is not None and stats.called()["fd_write"].calls == 1
    assert stats.report().startswith("function")
    with WASI(trace=sys.stderr) as traced:
        assert traced.get_import_object() == {"wasi_snapshot_preview1": traced.wasi_import}
    events = io.StringIO()
    with WASI(trace=events, trace_format="chrome"):
        pass
    assert events.getvalue() == "[]\n"


def reactor() -> None:
    wasi = WASI()
    instance, store = instantiate(wasi, REACTOR)
    twice = instance.exports(store)["twice"]
    assert isinstance(twice, wasmtime.Func)
    try:
        twice(store, 1)
    except NotStarted as error:
        assert error.code == "ERR_WASI_NOT_STARTED"
    wasi.initialize(instance, store)
    assert twice(store, 21) == 42
    errno: int | None = wasi.wasi_import["sched_yield"]()
    assert errno == 0
    wasi.close()

    library = WASI()
    instance, store = instantiate(library, REACTOR)
    memory = instance.exports(store)["memory"]
    assert isinstance(memory, wasmtime.Memory)
    library.finalize_bindings(instance, store, memory=memory)
    library.close()


def errors() -> None:
    try:
        WASI(stdout=-1)
    except OutOfRange as error:
        assert error.code == "ERR_OUT_OF_RANGE"
    try:
        WASI(version="preview9")
    except InvalidArgValue as error:
        assert error.code == "ERR_INVALID_ARG_VALUE"
    try:
        WASI(args="not a list")
    except InvalidArgType as error:
        assert error.code == "ERR_INVALID_ARG_TYPE"
    try:
        pywasi.run(b"not wasm")
    except ModuleError as error:
        assert "neither a wasm binary nor WAT text" in str(error)
    exit_error = ProcExit(4)
    assert exit_error.code == 4
    assert WasiError(44).errno == 44


def whole_program(directory: str) -> None:
    out = io.BytesIO()
    result: pywasi.CompletedRun = pywasi.run(COMMAND.encode(), args=["demo"], stdout=out, cache=False)
    assert (result.returncode, out.getvalue()) == (3, b"typed\n")
    usage: pywasi.Usage | None = result.usage
    assert usage is not None and usage.ended_by == "exit"
    path = os.path.join(directory, "demo.wat")
    with open(path, "w") as f:
        f.write(COMMAND)
    captured = pywasi.run(path, capture_output=True, cache=directory, timeout=30.0, max_memory=1 << 20)
    assert (captured.returncode, captured.stdout) == (3, b"typed\n")
    try:
        pywasi.run(path, check=True, cache=directory)
    except pywasi.RunError as error:
        assert error.returncode == 3
    try:
        pywasi.run(b'(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))',
                   timeout=0.1)
    except pywasi.TimeoutExpired as expired:
        assert expired.timeout == 0.1


def main() -> None:
    version: str = pywasi.__version__
    assert version
    with tempfile.TemporaryDirectory() as directory:
        command(directory)
        reactor()
        errors()
        whole_program(directory)


if __name__ == "__main__":
    main()
