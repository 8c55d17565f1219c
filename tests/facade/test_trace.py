"""WASI(trace=..., stats=...): where the lines go, and that without either
the bridge calls the plain stubs themselves."""

from __future__ import annotations

import io
import re

import pytest

from pywasi import WASI, HostCall, ProcExit, Stats
from tests.facade.test_start import EXIT, REACTOR, instantiate

GREET = "fd_write(fd=1, iovs=3 bytes) -> success, size=3"


def installed(w: WASI) -> set[str]:
    """What the bridge's slots call: the plain stubs carry their function's name."""
    return {slot.__name__ for slot in w._bridge.slots}


def test_without_trace_or_stats_the_bridge_calls_the_plain_stubs():
    w = WASI()
    w.initialize(*instantiate(REACTOR, w))
    assert installed(w) == set(w._abi.FUNCTIONS)
    traced = WASI(trace=lambda call: None)
    traced.initialize(*instantiate(REACTOR, traced))
    assert installed(traced) == {"traced"}
    counted = WASI(stats=Stats())
    counted.initialize(*instantiate(REACTOR, counted))
    assert installed(counted) == {"counted"}


@pytest.mark.parametrize("sink, text", [(io.StringIO(), True), (io.BytesIO(), False)])
def test_a_text_or_binary_file_gets_lines(sink, text):
    out = io.BytesIO()
    w = WASI(stdout=out, trace=sink)
    instance, store = instantiate(REACTOR, w)
    w.initialize(instance, store)
    assert instance.exports(store)["greet"](store) == 101
    with pytest.raises(ProcExit):
        instance.exports(store)["quit"](store)
    expected = f"{GREET}\nproc_exit(rval=9) -> exit 9\n"
    assert sink.getvalue() == (expected if text else expected.encode())
    assert out.getvalue() == b"hi\n"


def test_a_callable_gets_the_structured_record():
    calls: list[HostCall] = []
    w = WASI(stdout=io.BytesIO(), trace=calls.append)
    instance, store = instantiate(REACTOR, w)
    w.initialize(instance, store)
    instance.exports(store)["greet"](store)
    (call,) = calls
    assert (call.function, call.args, call.errno.name, call.results, call.exception) == (
        "fd_write", {"fd": 1, "iovs": 3}, "SUCCESS", {"size": 3}, None
    )
    assert str(call) == GREET


def test_host_functions_called_from_python_are_traced_too():
    calls: list[HostCall] = []
    w = WASI(stdout=io.BytesIO(), trace=calls.append)
    instance, store = instantiate(REACTOR, w)
    w.initialize(instance, store)
    instance.exports(store)["greet"](store)  # leaves its iovec in memory
    assert w.wasi_import["fd_write"](1, 0, 1, 8) == 0
    assert [str(c) for c in calls] == [GREET, GREET]


def test_a_trace_sink_that_fails_surfaces_in_the_host():
    def broken(call):
        raise RuntimeError("sink is full")

    w = WASI(trace=broken)
    with pytest.raises(Exception, match="sink is full"):
        w.start(*instantiate(EXIT.format(code=4), w))


def test_exit_through_return_on_exit_false_is_traced():
    text = io.StringIO()
    w = WASI(return_on_exit=False, trace=text)
    with pytest.raises(SystemExit):
        w.start(*instantiate(EXIT.format(code=5), w))
    assert text.getvalue() == "proc_exit(rval=5) -> exit 5\n"


def test_stats_report():
    stats = Stats()
    w = WASI(stdout=io.BytesIO(), stats=stats)
    instance, store = instantiate(REACTOR, w)
    w.initialize(instance, store)
    for _ in range(3):
        instance.exports(store)["greet"](store)
    with pytest.raises(ProcExit):
        instance.exports(store)["quit"](store)
    lines = stats.report().splitlines()
    assert re.fullmatch(r"function +calls  ms in host  outcomes", lines[0])
    rows = {line.split()[0]: (line.split()[1], " ".join(line.split()[3:])) for line in lines[1:]}
    assert rows == {"fd_write": ("3", "3 success"), "proc_exit": ("1", "1 exit 9"), "total": ("4", "")}
    assert lines[-1].startswith("total")
    assert stats.called().keys() == {"fd_write", "proc_exit"}


BAD_POINTER = """
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (drop (call $write (i32.const 1) (i32.const 65532) (i32.const 1) (i32.const 8)))))
"""


def test_a_trap_is_traced_and_counted():
    stats, text = Stats(), io.StringIO()
    w = WASI(stats=stats, trace=text)
    with pytest.raises(Exception, match="out of bounds"):
        w.start(*instantiate(BAD_POINTER, w))
    assert text.getvalue() == (
        "fd_write(fd=1, iovs=<out of bounds>) -> trap: fd_write: out of bounds: 8 bytes at 0xfffc, "
        "memory is 65536 bytes\n"
    )
    assert stats.called()["fd_write"].outcomes == {"trap": 1}


LONG_ARGUMENTS = """
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 257)  ;; 16 MiB and a page
  (func (export "open") (param $len i32) (result i32)
    (memory.fill (i32.const 1024) (i32.const 0x61) (local.get $len))
    (call $path_open (i32.const 3) (i32.const 0) (i32.const 1024) (local.get $len)
      (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 16)))
  (func (export "poll") (param $n i32) (result i32)
    (call $poll (i32.const 1024) (i32.const 0) (local.get $n) (i32.const 8))))

"""


def test_a_trace_line_is_bounded_whatever_the_guest_passes(tmp_path):
    lines = io.StringIO()
    w = WASI(preopens={"/d": str(tmp_path)}, trace=lines)
    instance, store = instantiate(LONG_ARGUMENTS, w)
    w.initialize(instance, store)
    exports = instance.exports(store)
    assert exports["open"](store, 16 << 20) == 37  # ENAMETOOLONG
    assert exports["open"](store, 4000) == 37  # a name past NAME_MAX; a path this long is shown whole
    assert exports["poll"](store, 100_000) == 28  # EINVAL: too many subscriptions
    long_path, shown_whole, poll = lines.getvalue().splitlines()
    assert len(long_path) < 5000
    assert long_path.endswith('"... (16777216 bytes), oflags=0, fs_rights_base=FD_READ, fs_rights_inheriting=0, '
                              'fdflags=0) -> NAMETOOLONG')
    assert '"' + "a" * 4000 + '"' in shown_whole
    assert len(poll) < 20_000 and poll.endswith(", ... (100000 in all)], nsubscriptions=100000) -> INVAL")
    w.close()
