"""start, initialize and finalize_bindings: Node's semantics, check by check."""

from __future__ import annotations

import io

import pytest
import wasmtime

from pywasi import WASI, AlreadyStarted, InvalidArgType, NotStarted, ProcExit, bridge
from tests.support import wat

EXIT = """
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (call $exit (i32.const {code}))))
"""
RETURNS = '(module (memory (export "memory") 1) (func (export "_start")))'
REACTOR = """
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (global $calls (mut i32) (i32.const 0))
  (data (i32.const 16) "hi\\n")
  (func (export "_initialize") (global.set $calls (i32.const 100)))
  (func (export "greet") (result i32)
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 3))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (global.get $calls))
  (func (export "quit") (call $exit (i32.const 9))))
"""


def instantiate(text: str, wasi: WASI):
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    wasi.define(linker)
    return linker.instantiate(store, wasmtime.Module(engine, wat(text))), store


@pytest.mark.parametrize("code", [0, 1, 120, 255])
def test_exit_codes(code):
    w = WASI()
    assert w.start(*instantiate(EXIT.format(code=code), w)) == code


def test_start_returns_zero_when_start_returns():
    w = WASI()
    assert w.start(*instantiate(RETURNS, w)) == 0


def test_return_on_exit_false_ends_like_the_process():
    w = WASI(return_on_exit=False)
    with pytest.raises(SystemExit) as info:
        w.start(*instantiate(EXIT.format(code=3), w))
    assert info.value.code == 3


def test_start_twice():
    w = WASI()
    instance, store = instantiate(RETURNS, w)
    w.start(instance, store)
    with pytest.raises(AlreadyStarted) as info:
        w.start(instance, store)
    assert info.value.code == "ERR_WASI_ALREADY_STARTED"


def test_start_is_marked_started_before_the_checks():
    w = WASI()
    instance, store = instantiate('(module (func (export "_start")))', w)
    with pytest.raises(InvalidArgType, match="memory"):
        w.start(instance, store)
    with pytest.raises(AlreadyStarted):
        w.start(instance, store)


@pytest.mark.parametrize(
    "module, message",
    [
        ('(module (func (export "_start")))', r'"instance.exports.memory" must be a wasmtime.Memory'),
        ('(module (memory (export "memory") 1))', r'"instance.exports._start" must be a function'),
        ('(module (memory (export "memory") 1) (global (export "_start") i32 (i32.const 0)))', r'"instance.exports._start" must be a function'),
        ('(module (memory (export "memory") 1) (func (export "_start")) (func (export "_initialize")))', r'"instance.exports._initialize" must be absent'),
        ('(module (func (export "memory")) (func (export "_start")))', r'"instance.exports.memory" must be a wasmtime.Memory'),
    ],
)
def test_start_checks_name_the_export(module, message):
    w = WASI()
    with pytest.raises(InvalidArgType, match=message) as info:
        w.start(*instantiate(module, w))
    assert info.value.code == "ERR_INVALID_ARG_TYPE"


def test_start_checks_its_arguments():
    w = WASI()
    instance, store = instantiate(RETURNS, w)
    with pytest.raises(InvalidArgType, match="instance must be a wasmtime.Instance"):
        w.start(None, store)
    w = WASI()
    with pytest.raises(InvalidArgType, match="store must be a wasmtime.Store"):
        w.start(instance, None)


def test_initialize_semantics():
    out = io.BytesIO()
    w = WASI(stdout=out)
    instance, store = instantiate(REACTOR, w)
    assert w.initialize(instance, store) is None
    greet = instance.exports(store)["greet"]
    assert greet(store) == 101  # _initialize ran first
    assert greet(store) == 102
    assert out.getvalue() == b"hi\nhi\n"
    with pytest.raises(ProcExit) as info:  # a host calling a reactor's exports catches ProcExit
        instance.exports(store)["quit"](store)
    assert info.value.code == 9
    with pytest.raises(AlreadyStarted):
        w.initialize(instance, store)


def test_initialize_without_initialize_export_and_with_start():
    w = WASI()
    w.initialize(*instantiate('(module (memory (export "memory") 1))', w))
    w = WASI()
    with pytest.raises(InvalidArgType, match=r'"instance.exports._start" must be absent'):
        w.initialize(*instantiate(RETURNS, w))


def test_finalize_bindings_binds_without_running():
    out = io.BytesIO()
    w = WASI(stdout=out)
    instance, store = instantiate(REACTOR, w)
    w.finalize_bindings(instance, store)
    assert instance.exports(store)["greet"](store) == 1  # _initialize did not run
    assert out.getvalue() == b"hi\n"
    with pytest.raises(AlreadyStarted):
        w.start(instance, store)


def test_finalize_bindings_with_another_memory():
    w = WASI()
    instance, store = instantiate('(module (memory (export "memory") 1))', w)
    with pytest.raises(InvalidArgType, match="memory must be a wasmtime.Memory"):
        w.finalize_bindings(instance, store, memory="nope")
    other = wasmtime.Memory(store, wasmtime.MemoryType(wasmtime.Limits(1, None)))
    w.finalize_bindings(instance, store, memory=other)
    assert w.wasi_import["args_sizes_get"](0, 4) == 0
    assert other.read(store, 0, 8) == bytes(8)


def test_host_functions_before_start_raise_not_started():
    w = WASI()
    with pytest.raises(NotStarted) as info:
        w.wasi_import["args_sizes_get"](0, 4)
    assert info.value.code == "ERR_WASI_NOT_STARTED"
    with pytest.raises(NotStarted):
        w.wasi_import["sched_yield"]()  # even one that touches no memory
    # The guest calling in before start: the export call raises it too,
    # naming the method that sets a reactor up.
    instance, store = instantiate(REACTOR, w)
    with pytest.raises(NotStarted) as info:
        instance.exports(store)["greet"](store)
    assert str(info.value) == (
        "fd_write was called before the WASI instance was set up: call wasi.initialize(instance, store) "
        "before calling a reactor's exports (wasi.start(instance, store) runs a command)"
    )
    w.initialize(instance, store)
    assert instance.exports(store)["greet"](store) == 100 + 1


def test_wasi_import_after_start_is_the_lowered_abi():
    w = WASI(args=["ab", "c"])
    instance, store = instantiate(RETURNS, w)
    w.start(instance, store)
    memory = instance.exports(store)["memory"]
    assert w.wasi_import["args_sizes_get"](0, 4) == 0
    assert memory.read(store, 0, 8) == (2).to_bytes(4, "little") + (5).to_bytes(4, "little")
    assert w.wasi_import["clock_time_get"](9, 0, 8) == 28  # EINVAL: no such clock
    assert w.get_import_object() == {"wasi_snapshot_preview1": w.wasi_import}


def test_close_and_context_manager():
    with WASI() as w:
        instance, store = instantiate(RETURNS, w)
        w.start(instance, store)
    with pytest.raises(bridge.Closed, match="closed"):
        w.wasi_import["sched_yield"]()
    w.close()  # twice is fine
