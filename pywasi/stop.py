"""Stopping a running guest from outside, wherever it is: one mechanism for a
timeout, a cancelled run_async and Ctrl-C.

A `Stop` belongs to one run of a guest (one start() or initialize()), and
`fire(reason, error)` ends that run:
- computing in wasm, even in a loop without host calls: fire bumps the
  engine's epoch, and at the guest's next function entry or loop back-edge
  wasmtime calls the store's epoch-deadline callback, which traps because this
  store's stop fired. Stores of the same engine whose stop did not fire carry
  on (the callback moves their deadline one tick on), so runs sharing an
  engine, in any threads, keep their own limits.
- blocked in a host call (poll_oneoff, a read nobody answers, sock_accept):
  the thread running the guest has the stop's wake fd bound in
  handlers/wait.py, and every blocking wait also watches it; fire makes it
  readable, and the wait raises.
The caller of start() then gets `error` (a TimeoutExpired, a
KeyboardInterrupt...), whatever the guest was doing.

Deadlines (and Ctrl-C, for a guest that runs no Python) are watched by one
thread for the whole process, the ticker, which runs only while it has
something to watch, and a tenth of a second more (runs one after another
share it): no thread is left behind once runs end. It waits on one pipe,
made once for the process.
"""

from __future__ import annotations

import contextlib
import ctypes
import heapq
import itertools
import os
import select
import threading
import time
import weakref
from collections.abc import Callable

import wasmtime
from wasmtime import _ffi as ffi

from pywasi.handlers import wait as waits

from .bridge import CALLBACK_CODES

# wasmtime_store_epoch_deadline_callback's callback: (context, data,
# *epoch_deadline_delta, *update_kind) -> wasmtime_error_t* (NULL: go on).
_DEADLINE = ctypes.CFUNCTYPE(
    ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_uint8)
)
_FINALIZER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_set_callback = ffi.dll.wasmtime_store_epoch_deadline_callback
_set_callback.restype = None
_set_callback.argtypes = [ctypes.c_void_p, _DEADLINE, ctypes.c_void_p, _FINALIZER]
_error_new = ffi.dll.wasmtime_error_new
_error_new.restype = ctypes.c_void_p
_error_new.argtypes = [ctypes.c_char_p]
_CONTINUE = 0  # WASMTIME_UPDATE_DEADLINE_CONTINUE

# Stores whose deadline callback is ours, by the key passed as its data;
# wasmtime's finalizer drops the entry with the store.
_ARMED: dict[int, Stop] = {}
_keys = itertools.count(1)


def _deadline(context, key, delta, kind):
    stop = _ARMED.get(key or 0)
    if stop is not None and stop.reason is not None:
        return _error_new(f"pywasi: stopped ({stop.reason})".encode()) or 0
    delta[0] = 1
    kind[0] = _CONTINUE
    return 0


_on_deadline = _DEADLINE(_deadline)
# Like a host call's, this callback's frame must not raise (interrupt.py's
# SIGINT handler only marks a stop while it runs): an exception escaping a
# ctypes callback corrupts the process.
CALLBACK_CODES.add(_deadline.__code__)


@_FINALIZER
def _disarm(key):
    _ARMED.pop(key or 0, None)


def deadline_stop(frame) -> Stop | None:
    """The Stop whose store's epoch-deadline callback `frame` runs, if it is
    that callback's frame (for a signal handler that must not raise there)."""
    if frame.f_code is not _deadline.__code__:
        return None
    return _ARMED.get(frame.f_locals.get("key") or 0)


class EpochsOff(ValueError):
    """The engine was built without epoch interruption."""


class Stop:
    """The off switch of one run. Thread-safe; the first fire wins."""

    def __init__(self, engine: wasmtime.Engine):
        self.engine = engine
        self.reason: str | None = None  # "timeout", "interrupt", ...
        self.error: BaseException | None = None  # what the caller of start() gets
        self._lock = threading.Lock()
        # The pipe a blocking wait watches, made when a wait first asks for
        # it (a run that never waits makes none): readable once fired.
        self._wake_read = self._wake_write = -1
        self._closed = False
        self._deadline: list | None = None  # the ticker's entry

    def arm(self, store: wasmtime.Store) -> None:
        """Let this stop end `store`'s guest in pure wasm too: its epoch
        deadline becomes ours (the engine must have epoch interruption)."""
        if not has_epochs(store.engine):
            raise EpochsOff(
                "timeout needs an engine with epoch interruption: "
                "config = wasmtime.Config(); config.epoch_interruption = True; wasmtime.Engine(config)"
            )
        key = next(_keys)
        _ARMED[key] = self
        _set_callback(_address(store.ptr()), _on_deadline, key, _disarm)
        store.set_epoch_deadline(1)

    def fire(self, reason: str, error: BaseException) -> bool:
        """End the run with `error`; whether this call did it."""
        with self._lock:
            if self.reason is not None or self._closed:
                return False
            self.reason, self.error = reason, error
            self._wake()
        self.engine.increment_epoch()
        return True

    def _wake_fd(self) -> int:
        """The fd that is readable once this stop fired (for handlers/wait.py),
        made now if no wait asked before."""
        with self._lock:
            if self._wake_read < 0 and not self._closed:
                self._wake_read, self._wake_write = os.pipe()
                os.set_blocking(self._wake_write, False)
                if self.reason is not None:
                    self._wake()
            return self._wake_read

    def _wake(self) -> None:  # with the lock held
        if self._wake_write >= 0:
            try:
                os.write(self._wake_write, b"!")
            except BlockingIOError:
                pass

    def fire_at(self, deadline: float, reason: str, error: Callable[[], BaseException]) -> None:
        """Fire at the monotonic time `deadline` (seconds), from the ticker."""
        if deadline == float("inf"):
            return
        self._deadline = TICKER.at(deadline, lambda: self.fire(reason, error()))

    @contextlib.contextmanager
    def running(self):
        """While the guest runs on this thread: blocking waits watch this
        stop. At the end the deadline is dropped and the wake fd closed."""
        try:
            with waits.wake_on(self._wake_fd):
                yield self
        finally:
            self.close()

    def close(self) -> None:
        if self._deadline is not None:
            TICKER.cancel(self._deadline)
            self._deadline = None
        with self._lock:
            self._closed = True
            if self._wake_write >= 0:
                os.close(self._wake_write)
                os.close(self._wake_read)
                self._wake_write = self._wake_read = -1


def _address(ptr) -> int:
    return ctypes.cast(ptr, ctypes.c_void_p).value or 0


# Does an engine have epoch interruption? ----------------------------------------

_EPOCHS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_EMPTY_FUNCTION = '(module (func (export "f")))'


def has_epochs(engine: wasmtime.Engine) -> bool:
    """Answered by experiment, once per engine (wasmtime-py cannot read an
    engine's config): a function called at a deadline already reached traps
    at its entry only if the engine checks epochs."""
    answer = _EPOCHS.get(engine)
    if answer is None:
        store = wasmtime.Store(engine)
        func = wasmtime.Instance(store, wasmtime.Module(engine, bytes(wasmtime.wat2wasm(_EMPTY_FUNCTION))), []).exports(store)["f"]
        assert isinstance(func, wasmtime.Func)
        store.set_epoch_deadline(0)
        try:
            func(store)
            answer = False
        except wasmtime.Trap:
            answer = True
        _EPOCHS[engine] = answer
    return answer


# The ticker ------------------------------------------------------------------------


# How long the ticker waits for more work once it has none: runs one after
# another share one thread (starting one costs more than a small run), and
# it is gone this long after the last one.
_LINGER = 0.1


class _Ticker:
    """One thread for the process: it fires deadlines when they come and
    hands signal numbers to whoever asked for them. Once it has nothing to do
    it waits up to _LINGER seconds for more, then ends (a later deadline or
    signal watcher starts it again): no thread is left behind once runs end.

    It waits on one pipe, the process's for as long as it runs: pokes (a
    new deadline) come through it, and so do signal numbers (it is the signal
    wakeup fd while a guest runs: interrupt.py). Made once, so that no fd
    comes and goes with the runs."""

    def __init__(self):
        self._lock = threading.Lock()
        self._heap: list[list] = []  # [when, seq, action or None]
        self._signal_watchers: dict[int, Callable[[bytes], None]] = {}
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._pipe = _nonblocking_pipe()

    def at(self, when: float, action: Callable[[], object]) -> list:
        entry = [when, next(self._seq), action]
        with self._lock:
            heapq.heappush(self._heap, entry)
            self._run(poke=True)
        return entry

    def cancel(self, entry: list) -> None:
        """Drop a deadline."""
        with self._lock:
            if entry[2] is not None:
                entry[2] = None
                self._run(poke=True)  # it may be sleeping until that deadline

    def watch_signals(self, action: Callable[[bytes], None]) -> tuple[int, int]:
        """Call `action(signal numbers, as bytes)` for signals that arrive
        through the returned fd from now on; the fd is for
        signal.set_wakeup_fd. Returns (a key for unwatch_signals, the fd)."""
        with self._lock:
            if self._drain():  # signals that came before now are not this watcher's
                self._run(poke=True)  # a poke was drained with them
            key = next(self._seq)
            self._signal_watchers[key] = action
            self._run(poke=False)  # the thread polls the pipe anyway
            return key, self._pipe[1]

    def unwatch_signals(self, key: int) -> None:
        """Stop calling a watcher (the caller has taken its fd from
        set_wakeup_fd first). The thread notices within _LINGER."""
        with self._lock:
            self._signal_watchers.pop(key, None)

    def _run(self, poke: bool) -> None:  # with the lock held
        """Start the thread if it is not running, else poke it if asked."""
        if self._thread is None or not self._thread.is_alive():  # gone, or ended by an exception
            self._thread = threading.Thread(target=self._loop, name="pywasi-ticker", daemon=True)
            self._thread.start()
        elif poke:
            try:
                os.write(self._pipe[1], b"\0")  # not a signal number: those start at 1
            except BlockingIOError:
                pass  # it has been poked already

    def _drain(self) -> bytes:  # with the lock held
        """What the pipe holds (signal numbers; pokes dropped), read."""
        signals = b""
        try:
            while data := os.read(self._pipe[0], 512):
                signals += data.replace(b"\0", b"")
        except BlockingIOError:
            pass
        return signals

    def _loop(self) -> None:
        poller = select.poll()
        poller.register(self._pipe[0], select.POLLIN)
        last_work = time.monotonic()
        while True:
            due = []
            with self._lock:
                now = time.monotonic()
                while self._heap and (self._heap[0][2] is None or self._heap[0][0] <= now):
                    entry = heapq.heappop(self._heap)
                    if entry[2] is not None:
                        due.append(entry[2])
                        entry[2] = None
                if due or self._heap or self._signal_watchers:
                    last_work = now
                elif now - last_work >= _LINGER:
                    self._thread = None
                    return
                # Awake at least every _LINGER: nobody pokes it when its
                # last work goes, and then it lingers that long and ends.
                timeout = _LINGER if not self._heap else min(_LINGER, max(0, self._heap[0][0] - now))
            for action in due:
                action()
            if due:
                continue
            if poller.poll(int(timeout * 1000) + 1):
                with self._lock:  # read as watchers come and go: each gets the signals of its own time
                    signals = self._drain()
                    watchers = list(self._signal_watchers.values()) if signals else []
                for watcher in watchers:
                    watcher(signals)

    def _after_fork(self) -> None:
        """In a forked child: the thread did not come along, nor may the lock
        (held by it at the fork, it would never be released); and the pipe,
        shared with the parent, becomes one of the child's own, at the same
        numbers (the signal wakeup fd may be one of them)."""
        self._lock = threading.Lock()
        self._thread = None
        fresh = _nonblocking_pipe()
        for old, new in zip(self._pipe, fresh):
            os.dup2(new, old, inheritable=False)
            os.close(new)


def _nonblocking_pipe() -> tuple[int, int]:
    """(read end, write end), neither blocking (set_wakeup_fd requires it of
    its fd; draining reads until the pipe is empty)."""
    pipe = os.pipe()
    for fd in pipe:
        os.set_blocking(fd, False)
    return pipe


TICKER = _Ticker()
os.register_at_fork(after_in_child=TICKER._after_fork)
