"""Gather and scatter lists that reach into memory the guest grew since the
host last looked: every buffer gets its bytes, whichever of them lies in
the new pages (wasi-libc's stdio reads with readv([user buffer, FILE buffer]))."""

from __future__ import annotations

import io

import wasmtime

from pywasi import WASI
from tests.support import wat

PAGE = 65536
NEW = PAGE + 16  # in the page the guest grows just before the call
OLD = 256

# _start: grow one page, then one call with two iovecs, the first in the new
# page; the count it returns is stored at 8.
TWO_IOVECS = """
(module
  (import "wasi_snapshot_preview1" "{call}" (func $call (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const {old}) "world!")
  (func (export "_start")
    (drop (memory.grow (i32.const 1)))
    (i32.store8 (i32.const {new}) (i32.const 104))  ;; "h", written after the growth
    (i32.store8 (i32.const {new_1}) (i32.const 105))  ;; "i"
    (i32.store (i32.const 16) (i32.const {new})) (i32.store (i32.const 20) (i32.const {first}))
    (i32.store (i32.const 24) (i32.const {old})) (i32.store (i32.const 28) (i32.const {second}))
    (call $exit (call $call (i32.const {fd}) (i32.const 16) (i32.const 2) (i32.const 8)))))
"""


def run(call: str, fd: int, first: int, second: int, stdin=b""):
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    out = io.BytesIO()
    wasi = WASI(stdin=stdin, stdout=out)
    wasi.define(linker)
    text = TWO_IOVECS.format(call=call, fd=fd, first=first, second=second, new=NEW, new_1=NEW + 1, old=OLD)
    instance = linker.instantiate(store, wasmtime.Module(engine, wat(text)))
    code = wasi.start(instance, store)
    memory = instance.exports(store)["memory"]
    data = memory.read(store, 0, memory.data_len(store))
    wasi.close()
    return code, data, out.getvalue()


def test_readv_whose_first_buffer_is_in_grown_memory():
    code, memory, _ = run("fd_read", 0, 5, 16, stdin=b"hello, world\n")
    assert code == 0
    assert int.from_bytes(memory[8:12], "little") == 13
    assert memory[NEW : NEW + 5] == b"hello"
    assert memory[OLD : OLD + 8] == b", world\n"


def test_writev_whose_first_buffer_is_in_grown_memory():
    code, memory, out = run("fd_write", 1, 2, 6)
    assert code == 0
    assert out == b"hiworld!"
    assert int.from_bytes(memory[8:12], "little") == 8
