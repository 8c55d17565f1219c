"""pywasi.run under limits: hostile guests (WAT), each stopped by the limit
meant for it, wherever it is, leaving no thread and no fd behind; the usage
record; subprocess's shape."""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import os
import socket
import subprocess
import threading
import time

import pytest

import pywasi
from pywasi import CompletedRun, RunError, TimeoutExpired, Usage, run
from pywasi.generated.preview1 import Errno
from tests.support import ticker_gone, wat

# Timing margins: a stop must come at the deadline, not before; after it,
# within 100 ms on an idle machine, and here within LATE on a loaded one
# (a guest that is not stopped at all takes 60 s or forever).
TIMEOUT = 0.5
LATE = 2.0

PREAMBLE = """
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_accept" (func $accept (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
"""


def guest(body: str, memory: str = "1") -> bytes:
    return wat(f'(module {PREAMBLE} (memory (export "memory") {memory}) {body})')


# A loop with no host call in it.
LOOP = guest('(func $main (export "_start") (loop $l (br $l)))')
# poll_oneoff on a 60 s clock.
SLEEP = guest("""
  (func (export "_start")
    (i32.store8 (i32.const 8) (i32.const 0))            ;; eventtype clock
    (i32.store (i32.const 16) (i32.const 1))            ;; monotonic
    (i64.store (i32.const 24) (i64.const 60000000000))  ;; 60 s
    (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128))))""")
# fd_read of stdin, which the test makes a pipe nobody writes to.
READ = guest("""
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 16))
    (call $exit (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8))))""")
# sock_accept on fd 3, a listening socket nobody connects to.
ACCEPT = guest("""
  (func (export "_start") (call $exit (call $accept (i32.const 3) (i32.const 0) (i32.const 8))))""")
# Writes 4 KiB to stdout until a write fails, then exits with its errno.
FLOOD = guest("""
  (func (export "_start") (local $errno i32)
    (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 4096))
    (loop $l
      (local.set $errno (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (br_if $l (i32.eqz (local.get $errno))))
    (call $exit (local.get $errno)))""")
# Grows its memory a page at a time until it cannot; exits with its pages.
HOG = guest("""
  (func (export "_start")
    (loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
    (call $exit (memory.size)))""")
# Burns fuel (the same loop, under max_fuel).
BURN = LOOP
# Traps.
TRAP = guest('(func $main (export "_start") (unreachable))')
# Opens "." beneath the preopen at fd 3 until it cannot; exits with the errno.
FDS = guest("""
  (data (i32.const 0) ".")
  (func (export "_start") (local $errno i32)
    (loop $l
      (local.set $errno (call $open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 1)
        (i32.const 2) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 16)))
      (br_if $l (i32.eqz (local.get $errno))))
    (call $exit (local.get $errno)))""")


def open_fds() -> list[str]:
    """The process's fds, but for the compiled-code cache's: wasmtime keeps
    a cached module's file open while anything (even garbage waiting for
    the collector) holds its code, which is no resource of the guest's."""
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").endswith(".cwasm"):
                continue
        except OSError:
            pass  # closed meanwhile
        out.append(fd)
    return sorted(out)


@contextlib.contextmanager
def leaves_nothing():
    """Threads and fds are back where they were once the block ends. The
    garbage collector runs before and after: what earlier tests left in
    cycles (pytest.raises keeps tracebacks) may close its fds at any time.
    Other tests' threads may open an fd for a moment: a difference must last.
    The ticker of earlier runs (which lingers a moment) is let go first."""
    gc.collect()
    ticker_gone()
    before = threading.active_count(), open_fds()
    yield
    gc.collect()
    deadline = time.monotonic() + 1
    while (threading.active_count(), open_fds()) != before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() == before[0]
    fds = open_fds()
    assert fds == before[1], [_target(fd) for fd in sorted(set(fds) ^ set(before[1]))]


def _target(fd: str) -> str:
    try:
        return f"{fd}: {os.readlink(f'/proc/self/fd/{fd}')}"
    except OSError:
        return f"{fd}: closed"


@contextlib.contextmanager
def silent_pipe():
    """A pipe nobody writes to: its read end, to be the guest's stdin."""
    r, w = os.pipe()
    try:
        yield r
    finally:
        os.close(r)
        os.close(w)


@contextlib.contextmanager
def lonely_listener():
    server = socket.create_server(("127.0.0.1", 0))
    try:
        yield server
    finally:
        server.close()


def timed(call):
    started = time.monotonic()
    try:
        outcome = call()
    except BaseException as e:  # noqa: B036 - the caller checks what it was
        # Kept without its traceback and chain: their frames include this
        # one, which holds it (a cycle only the garbage collector would end,
        # keeping the run's store and the fd of its cached code meanwhile).
        outcome = e.with_traceback(None)
        outcome.__context__ = outcome.__cause__ = None
    return outcome, time.monotonic() - started


def assert_timed_out(outcome, took, ended_by="timeout"):
    assert isinstance(outcome, TimeoutExpired), outcome
    assert isinstance(outcome, subprocess.TimeoutExpired)
    assert TIMEOUT <= took < TIMEOUT + LATE, took
    assert outcome.timeout == TIMEOUT
    assert outcome.usage.ended_by == ended_by
    assert TIMEOUT * 0.9 <= outcome.usage.wall_s < TIMEOUT + LATE


# One case per hostile guest: (name, how to run it, what to check).


def pure_loop():
    return run(LOOP, timeout=TIMEOUT)


def sleeper():
    return run(SLEEP, timeout=TIMEOUT)


def reader():
    with silent_pipe() as stdin:
        return run(READ, stdin=stdin, timeout=TIMEOUT, capture_output=False)


def acceptor():
    with lonely_listener() as server:
        return run(ACCEPT, sockets=[server], timeout=TIMEOUT)


def flood():
    return run(FLOOD, capture_output=True, max_output=100_000)


def hog():
    return run(HOG, max_memory=1 << 20)


def burner():
    return run(BURN, max_fuel=1_000_000)


def trap():
    return run(TRAP, capture_output=True)


def check_flood(result, took):
    assert result.returncode == Errno.FBIG
    assert result.stdout == b"\0" * 100_000 and result.stderr == b""
    assert result.usage.bytes_written == 100_000
    assert result.usage.host_calls == 26 + 1  # 24 whole writes, one short, one refused; proc_exit


def check_hog(result, took):
    assert result.returncode == 16  # 1 MiB of 64 KiB pages
    assert result.usage.peak_memory == 1 << 20


def check_burner(result, took):
    assert (result.returncode, result.usage.ended_by) == (134, "fuel")
    assert result.trap.startswith("all fuel consumed")
    assert result.usage.fuel == 1_000_000


def check_trap(result, took):
    assert (result.returncode, result.trap, result.usage.ended_by) == (134, "wasm `unreachable` instruction executed (in main)", "trap")


CASES = {
    "pure-loop": (pure_loop, assert_timed_out),
    "sleep-60s": (sleeper, assert_timed_out),
    "read-silent-pipe": (reader, assert_timed_out),
    "accept-nobody": (acceptor, assert_timed_out),
    "output-flood": (flood, check_flood),
    "memory-hog": (hog, check_hog),
    "fuel-burner": (burner, check_burner),
    "trap": (trap, check_trap),
}


@pytest.mark.parametrize("case", CASES)
def test_a_hostile_guest_meets_its_limit(case):
    call, check = CASES[case]
    with leaves_nothing():
        outcome, took = timed(call)
        check(outcome, took)


def test_eight_hostile_guests_at_once_in_eight_threads():
    outcomes = {}
    with leaves_nothing():
        barrier = threading.Barrier(len(CASES))

        def one(case):
            barrier.wait()
            outcomes[case] = timed(CASES[case][0])

        threads = [threading.Thread(target=one, args=(case,)) for case in CASES]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for case, (outcome, took) in outcomes.items():
        CASES[case][1](outcome, took)


# fd_read of a FIFO the guest opened under its preopen, whose writer (the
# host) never writes.
FIFO_READ = guest("""
  (data (i32.const 0) "fifo")
  (func (export "_start")
    (drop (call $open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 4)
      (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 16)))
    (i32.store (i32.const 20) (i32.const 64)) (i32.store (i32.const 24) (i32.const 16))
    (call $exit (call $read (i32.load (i32.const 16)) (i32.const 20) (i32.const 1) (i32.const 28))))""")


def test_a_read_of_a_fifo_the_guest_opened_times_out(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    writer = os.open(tmp_path / "fifo", os.O_RDWR)  # a writer that never writes: the guest's open does not wait
    try:
        with leaves_nothing():
            outcome, took = timed(lambda: run(FIFO_READ, preopens={"/d": str(tmp_path)}, timeout=TIMEOUT))
            assert_timed_out(outcome, took)
    finally:
        os.close(writer)


# path_open of a FIFO (rights fd_read, or fd_write), then 2 bytes read or
# written through it; exits with the count.
def fifo_guest(rights: int, call: str) -> bytes:
    return guest(f"""
  (data (i32.const 0) "fifo")
  (data (i32.const 100) "hi")
  (func (export "_start")
    (drop (call $open (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 4)
      (i32.const 0) (i64.const {rights}) (i64.const 0) (i32.const 0) (i32.const 16)))
    (i32.store (i32.const 20) (i32.const 100)) (i32.store (i32.const 24) (i32.const 2))
    (drop (call ${call} (i32.load (i32.const 16)) (i32.const 20) (i32.const 1) (i32.const 28)))
    (call $exit (i32.load (i32.const 28))))""")


FIFO_OPEN_READ = fifo_guest(2, "read")
FIFO_OPEN_WRITE = fifo_guest(64, "write")


@pytest.mark.parametrize("module", [FIFO_OPEN_READ, FIFO_OPEN_WRITE], ids=["read", "write"])
def test_an_open_of_a_fifo_nobody_opens_times_out(tmp_path, module):
    os.mkfifo(tmp_path / "fifo")
    # Were the open not stopped, it would wait forever: this ends it, late.
    rescue = threading.Timer(
        TIMEOUT + LATE + 1, lambda: os.close(os.open(tmp_path / "fifo", os.O_RDWR | os.O_NONBLOCK))
    )
    rescue.start()
    try:
        with leaves_nothing():
            outcome, took = timed(lambda: run(module, preopens={"/d": str(tmp_path)}, timeout=TIMEOUT))
            assert_timed_out(outcome, took)
    finally:
        rescue.cancel()
        rescue.join()


@pytest.mark.parametrize(
    "module, peer", [(FIFO_OPEN_READ, os.O_WRONLY), (FIFO_OPEN_WRITE, os.O_RDONLY)], ids=["read", "write"]
)
def test_an_open_of_a_fifo_waits_for_the_other_end(tmp_path, module, peer):
    os.mkfifo(tmp_path / "fifo")
    got = []

    def other_end():
        time.sleep(0.2)  # the guest is waiting in its open by then
        fd = os.open(tmp_path / "fifo", peer)
        try:
            if peer == os.O_WRONLY:
                os.write(fd, b"hi")
            else:
                got.append(os.read(fd, 10))
        finally:
            os.close(fd)

    peer_thread = threading.Thread(target=other_end)
    peer_thread.start()
    try:
        result = run(module, preopens={"/d": str(tmp_path)}, timeout=30)
    finally:
        peer_thread.join()
    assert result.returncode == 2
    assert got == ([] if peer == os.O_WRONLY else [b"hi"])


def test_descriptor_limit(tmp_path):
    with leaves_nothing():
        result = run(FDS, preopens={"/d": str(tmp_path)}, max_fds=10)
    assert result.returncode == Errno.MFILE  # stdio, the preopen and 6 more


# 10 writes of 5 bytes, reads of 4 bytes until the end of 10 bytes of input
# (4, 4, 2, 0), proc_exit: 15 calls.
COUNTED = guest("""
  (data (i32.const 100) "hello")
  (func (export "_start") (local $i i32)
    (i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 5))
    (loop $w
      (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $w (i32.lt_u (local.get $i) (i32.const 10))))
    (i32.store (i32.const 16) (i32.const 200)) (i32.store (i32.const 20) (i32.const 4))
    (loop $r
      (drop (call $read (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 24)))
      (br_if $r (i32.load (i32.const 24))))
    (call $exit (i32.const 0)))""")


def test_usage_counts_every_call_and_byte():
    result = run(COUNTED, input=b"0123456789", capture_output=True, args=["counted"])
    assert result.stdout == b"hello" * 10
    usage = result.usage
    assert (usage.host_calls, usage.bytes_read, usage.bytes_written, usage.ended_by) == (15, 10, 50, "exit")
    assert usage.fuel is None and usage.peak_memory == 65536
    assert 0 <= usage.cpu_s <= usage.wall_s + 0.05
    assert json.loads(json.dumps(dataclasses.asdict(usage)))["host_calls"] == 15
    assert result.args == ["counted"]


def test_usage_counts_calls_and_bytes_on_host_files(tmp_path):
    # the same guest, its stdio host files: with the C hot path, C serves
    # the reads and writes, and counts them
    (tmp_path / "in").write_bytes(b"0123456789")
    with open(tmp_path / "in", "rb") as stdin, open(tmp_path / "out", "wb") as stdout:
        usage = run(COUNTED, stdin=stdin, stdout=stdout).usage
    assert (tmp_path / "out").read_bytes() == b"hello" * 10
    assert (usage.host_calls, usage.bytes_read, usage.bytes_written, usage.ended_by) == (15, 10, 50, "exit")


# args_sizes_get, then proc_exit with the count; in either ABI.
def counts_args(namespace: str) -> bytes:
    return wat(f"""
(module
  (import "{namespace}" "args_sizes_get" (func $sizes (param i32 i32) (result i32)))
  (import "{namespace}" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (drop (call $sizes (i32.const 0) (i32.const 4))) (call $exit (i32.load (i32.const 0)))))""")


def test_runs_share_a_linker_per_version_and_each_reaches_its_own_wasi():
    # With the extension, calls find their WASI object by store: one linker
    # per version (and engine) serves every run, defined once. Runs of both
    # versions, with and without fuel, each get their own arguments.
    from pywasi import native, runner

    preview1, unstable = counts_args("wasi_snapshot_preview1"), counts_args("wasi_unstable")
    for _ in range(2):
        assert run(preview1, args=["a"]).returncode == 1
        assert run(unstable, args=["a", "b"]).returncode == 2
        assert run(preview1, args=["a", "b", "c"], max_fuel=10**6).returncode == 3
        linkers = dict(runner._linkers)
        if native.ENABLED:
            assert set(linkers) >= {(False, "preview1"), (False, "unstable"), (True, "preview1")}
        else:
            assert linkers == {}  # each WASI object registers callbacks of its own
    assert all(runner._linkers[key] is linker for key, linker in linkers.items())

    def parallel(i):
        results[i] = run(preview1, args=["x"] * i).returncode

    results = {}
    threads = [threading.Thread(target=parallel, args=(i,)) for i in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: i for i in range(1, 9)}


def test_a_module_checked_for_one_version_is_checked_again_for_another():
    # What pywasi.run keeps of a module's checks is per version asked for: the
    # same bytes run as wasi_unstable meet its checks (its imports are not
    # there: the instantiation names them).
    module = counts_args("wasi_snapshot_preview1")
    assert run(module, args=["a"]).returncode == 1
    assert run(module, args=["a"], version="preview1").returncode == 1
    with pytest.raises(pywasi.ModuleError, match="cannot be instantiated.*wasi_snapshot_preview1"):
        run(module, version="unstable")
    bad = guest('(func (export "start"))')
    for _ in range(2):  # a failed check is never kept
        with pytest.raises(pywasi.ModuleError, match="exports no _start"):
            run(bad)


def test_completed_run_is_subprocess_shaped():
    result = run(TRAP, capture_output=True, args=["t"])
    assert isinstance(result, CompletedRun) and isinstance(result.usage, Usage)
    with pytest.raises(RunError) as info:
        run(TRAP, capture_output=True, args=["t"], check=True)
    error = info.value
    assert isinstance(error, subprocess.CalledProcessError)
    assert (error.returncode, error.cmd, error.stdout, error.trap) == (134, ["t"], b"", "wasm `unreachable` instruction executed (in main)")
    assert error.result.usage.ended_by == "trap"
    assert str(error) == "'t' trapped: wasm `unreachable` instruction executed (in main)"
    assert run(guest('(func (export "_start"))'), check=True).returncode == 0


def test_timeout_keeps_the_output_so_far():
    module = guest("""
      (data (i32.const 100) "partial")
      (func (export "_start")
        (i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 7))
        (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
        (loop $l (br $l)))""")
    with pytest.raises(TimeoutExpired) as info:
        run(module, capture_output=True, timeout=TIMEOUT, args=["p"])
    assert (info.value.stdout, info.value.stderr, info.value.cmd) == (b"partial", b"", ["p"])
    assert str(info.value) == "'p' timed out after 0.5 seconds"


@pytest.mark.parametrize("options, error", [
    ({"input": b"x", "stdin": b"y"}, ValueError),
    ({"input": "text"}, TypeError),
    ({"capture_output": True, "stdout": 1}, ValueError),
    ({"max_memory": -1}, ValueError),
    ({"max_fuel": 1.5}, TypeError),
    ({"timeout": 0}, ValueError),
    ({"timeout": "soon"}, TypeError),
])
def test_bad_options_are_refused(options, error):
    with pytest.raises(error):
        run(LOOP, **options)


def test_wasi_timeout_for_hosts_that_set_up_wasmtime():
    import wasmtime

    config = wasmtime.Config()
    config.epoch_interruption = True
    engine = wasmtime.Engine(config)
    with silent_pipe() as stdin, leaves_nothing():
        for module in (LOOP, READ):
            store, linker = wasmtime.Store(engine), wasmtime.Linker(engine)
            with pywasi.WASI(stdin=stdin, timeout=TIMEOUT, args=["lib"]) as wasi:
                wasi.define(linker)
                instance = linker.instantiate(store, wasmtime.Module(engine, module))
                outcome, took = timed(lambda: wasi.start(instance, store))
            assert isinstance(outcome, TimeoutExpired) and outcome.cmd == ["lib"]
            assert TIMEOUT <= took < TIMEOUT + LATE


def test_wasi_timeout_needs_epoch_interruption():
    import wasmtime

    engine = wasmtime.Engine()
    store, linker = wasmtime.Store(engine), wasmtime.Linker(engine)
    wasi = pywasi.WASI(timeout=1)
    wasi.define(linker)
    instance = linker.instantiate(store, wasmtime.Module(engine, LOOP))
    with pytest.raises(ValueError, match="epoch_interruption = True"):
        wasi.start(instance, store)


def test_a_timed_out_run_disturbs_no_other():
    # Runs share the process's engine: one stopping must not stop the others.
    results = {}

    def slow_but_fine():
        results["fine"] = run(guest("""
          (func (export "_start") (local $i i32)
            (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br_if $l (i32.lt_u (local.get $i) (i32.const 2000000000))))
            (call $exit (i32.const 7)))"""), timeout=60)

    t = threading.Thread(target=slow_but_fine)
    t.start()
    for _ in range(3):
        assert isinstance(timed(pure_loop)[0], TimeoutExpired)
    t.join()
    assert results["fine"].returncode == 7


# run_async ---------------------------------------------------------------------


def test_run_async_gives_the_result():
    import asyncio

    result = asyncio.run(pywasi.run_async(TRAP, capture_output=True, args=["a"]))
    assert (result.returncode, result.args, result.usage.ended_by) == (134, ["a"], "trap")
    with pytest.raises(RunError):
        asyncio.run(pywasi.run_async(TRAP, check=True))
    with pytest.raises(TimeoutExpired):
        asyncio.run(pywasi.run_async(SLEEP, timeout=TIMEOUT))


@pytest.mark.parametrize("module", [LOOP, SLEEP, READ], ids=["pure-loop", "sleep-60s", "read-silent-pipe"])
def test_cancelling_run_async_stops_the_guest(module):
    import asyncio

    async def main(stdin):
        task = asyncio.create_task(pywasi.run_async(module, stdin=stdin))
        await asyncio.sleep(0.3)  # the guest is running
        assert not task.done()
        task.cancel()
        started = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - started

    with silent_pipe() as stdin, leaves_nothing():
        took = asyncio.run(main(stdin))
    assert took < LATE


# Pickling: runs fan out through process pools -------------------------------------


def test_results_and_exceptions_pickle():
    import pickle

    usage = Usage(wall_s=1.0, cpu_s=0.5, fuel=None, peak_memory=65536, host_calls=3, bytes_read=1,
                  bytes_written=2, ended_by="trap")
    result = CompletedRun(args=["p"], returncode=134, stdout=b"o", stderr=b"e", trap="t", usage=usage)
    assert pickle.loads(pickle.dumps(result)) == result
    timeout = pickle.loads(pickle.dumps(TimeoutExpired(["p"], 2.5, b"o", b"e", usage)))
    assert (timeout.cmd, timeout.timeout, timeout.stdout, timeout.stderr, timeout.usage) == (["p"], 2.5, b"o", b"e", usage)
    error = pickle.loads(pickle.dumps(RunError(result)))
    assert (error.result, error.returncode, error.cmd, error.output, error.trap) == (result, 134, ["p"], b"o", "t")


def test_runs_fan_out_through_a_process_pool(tmp_path):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    path = tmp_path / "trap.wasm"
    path.write_bytes(TRAP)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        by_path = pool.submit(run, str(path), capture_output=True, args=["p"])
        by_bytes = pool.submit(run, LOOP, timeout=TIMEOUT, args=["b"])
        checked = pool.submit(run, TRAP, check=True)
        result = by_path.result(timeout=120)
        assert (result.returncode, result.usage.ended_by) == (134, "trap")
        with pytest.raises(TimeoutExpired) as info:
            by_bytes.result(timeout=120)
        assert info.value.usage.ended_by == "timeout" and info.value.cmd == ["b"]
        with pytest.raises(RunError) as info:
            checked.result(timeout=120)
        assert info.value.result.trap.endswith("(in main)")


def test_a_cancel_before_the_guest_starts_is_not_lost():
    # run_async's cancel can come between setting a run up and its start().
    import wasmtime

    config = wasmtime.Config()
    config.epoch_interruption = True
    engine = wasmtime.Engine(config)
    store, linker = wasmtime.Store(engine), wasmtime.Linker(engine)
    with pywasi.WASI(timeout=60) as wasi:
        wasi.define(linker)
        instance = linker.instantiate(store, wasmtime.Module(engine, LOOP))
        wasi._stop_run("interrupt", KeyboardInterrupt())
        outcome, took = timed(lambda: wasi.start(instance, store))
    assert isinstance(outcome, KeyboardInterrupt) and took < LATE
