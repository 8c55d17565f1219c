"""The ticker (pywasi/stop.py): one thread that runs one after another share,
gone a moment after the last; one pipe for the process; a forked child's
own."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

import pywasi
from pywasi import TimeoutExpired, run
from pywasi.stop import TICKER
from tests.support import ROOT, ticker, ticker_gone, wat

RETURNS = wat('(module (memory (export "memory") 1) (func (export "_start")))')
LOOP = wat('(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))')


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_runs_one_after_another_share_the_ticker_and_it_ends_after_them():
    # Each run's timeout is watched by the ticker thread. Back to back, runs
    # find it still there (it lingers a moment after its last work: starting
    # a thread costs more than a small run), each still stopped at its
    # deadline; once they end it ends too, and no fd comes or goes with it.
    assert ticker_gone()
    fds = open_fds()
    tickers = []
    for _ in range(3):
        started = time.monotonic()
        try:
            run(LOOP, timeout=0.2)
        except TimeoutExpired:
            pass
        assert 0.2 <= time.monotonic() - started < 2.2
        tickers.append(ticker())
        assert run(RETURNS, timeout=60).returncode == 0
        tickers.append(ticker())
    assert tickers[0] is not None and tickers == [tickers[0]] * 6
    assert ticker_gone()
    assert open_fds() == fds


def test_signals_that_came_before_a_watcher_are_not_its():
    # A signal number left in the ticker's pipe (a Ctrl-C at the very end of
    # the run before) does not reach the next run's watcher.
    assert ticker_gone()
    os.write(TICKER._pipe[1], bytes([2]))
    seen = []
    key, wakeup = TICKER.watch_signals(seen.append)
    try:
        assert wakeup == TICKER._pipe[1]
        time.sleep(0.2)
        assert seen == []
        os.write(wakeup, bytes([2]))  # as the C signal handler writes it
        deadline = time.monotonic() + 2
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
        assert seen == [bytes([2])]
    finally:
        TICKER.unwatch_signals(key)


FORK_AFTER_A_RUN = """
import os, signal, wasmtime
import pywasi
from tests.facade.test_stop import LOOP, RETURNS
from tests.support import ticker
engine = pywasi.new_engine()
# wasmtime cannot compile in a forked child: what the child runs is compiled here.
loop, returns = wasmtime.Module(engine, LOOP), wasmtime.Module(engine, RETURNS)
def start(module, timeout):
    store, linker = wasmtime.Store(engine), wasmtime.Linker(engine)
    with pywasi.WASI(timeout=timeout) as wasi:
        wasi.define(linker)
        return wasi.start(linker.instantiate(store, module), store)
start(returns, 60)
assert ticker() is not None  # lingering when the process forks
pid = os.fork()
if pid == 0:
    signal.alarm(20)  # were the deadline lost, the loop would outlive the test
    try:
        start(loop, 0.2)
    except pywasi.TimeoutExpired:
        os._exit(7)
    os._exit(1)
print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"""


def test_a_forked_child_has_a_ticker_of_its_own():
    # The parent's ticker thread did not come along: the child's deadline
    # starts one of its own (before: it poked the parent's, and never fired).
    out = subprocess.run([sys.executable, "-c", FORK_AFTER_A_RUN], capture_output=True, text=True, cwd=ROOT,
                         timeout=30)
    assert (out.returncode, out.stdout, out.stderr) == (0, "7\n", "")


def test_the_ticker_is_gone_after_a_run():
    run(RETURNS, timeout=60)
    assert ticker() is not None
    assert ticker_gone(within=pywasi.stop._LINGER * 5)


def test_a_wait_after_the_stop_fired_ends_at_once():
    # The wake fd is made when a wait first asks for it (a run that never
    # waits makes none): made after the stop fired, it is readable already.
    import wasmtime

    from pywasi.handlers import wait
    from pywasi.stop import Stop

    stop = Stop(wasmtime.Engine())
    r, w = os.pipe()
    rescue = threading.Timer(5, os.write, (w, b"!"))  # were the stop not seen, the wait would not end
    rescue.start()
    try:
        with stop.running():
            assert stop.fire("timeout", TimeoutError())
            started = time.monotonic()
            with pytest.raises(wait.Stopped):
                wait.wait_for(r, wait.READ)  # nobody writes: only the stop ends it
            assert time.monotonic() - started < 1
        assert not stop.fire("again", TimeoutError())  # closed
    finally:
        rescue.cancel()
        rescue.join()
        os.close(r)
        os.close(w)


def test_a_wait_before_the_stop_fires_ends_when_it_does():
    import wasmtime

    from pywasi.handlers import wait
    from pywasi.stop import Stop

    stop = Stop(wasmtime.Engine())
    r, w = os.pipe()
    try:
        with stop.running():
            started = time.monotonic()  # before the timer's start: it may run first on a busy machine
            timer = threading.Timer(0.2, stop.fire, ("timeout", TimeoutError()))
            timer.start()
            with pytest.raises(wait.Stopped):
                wait.wait_for(r, wait.READ)
            assert 0.19 <= time.monotonic() - started < 5  # a Timer's wait may end a hair early
            timer.join()
    finally:
        os.close(r)
        os.close(w)


TICKER_KILLED = """
import ctypes, sys, time
from pywasi import TimeoutExpired, run
from tests.support import ticker, wat
LOOP = wat('(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))')
class Killed(Exception):
    pass
try:
    run(LOOP, timeout=0.2)
except TimeoutExpired:
    print("timed out")
thread = ticker()
ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(Killed))
thread.join(5)
print("ticker alive:", thread.is_alive())
started = time.monotonic()
try:
    run(LOOP, timeout=0.2)
except TimeoutExpired:
    print("timed out", time.monotonic() - started < 5)
"""


def test_a_ticker_that_died_is_started_again():
    # Whatever ends the ticker thread (here an async exception; a bug in an
    # action would do the same), the next run's timeout still fires
    # (before: the run looped for ever, nobody watching its deadline).
    out = subprocess.run([sys.executable, "-c", TICKER_KILLED], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.stdout.splitlines() == ["timed out", "ticker alive: False", "timed out True"], out
