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
something to watch: nothing is left behind once runs end.
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
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)
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
            if self.reason is not None or self._wake_write < 0:
                return False
            self.reason, self.error = reason, error
            try:
                os.write(self._wake_write, b"!")
            except BlockingIOError:
                pass
        self.engine.increment_epoch()
        return True

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
            with waits.wake_on(self._wake_read):
                yield self
        finally:
            self.close()

    def close(self) -> None:
        if self._deadline is not None:
            TICKER.cancel(self._deadline)
            self._deadline = None
        with self._lock:
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


class _Ticker:
    """One thread for the process: it fires deadlines when they come and
    calls watchers when their fd is readable, and ends when it has nothing
    left to do (a later deadline starts it again)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._heap: list[list] = []  # [when, seq, action or None]
        self._watched: dict[int, Callable[[bytes], None]] = {}
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._poke_read = self._poke_write = -1

    def at(self, when: float, action: Callable[[], object]) -> list:
        entry = [when, next(self._seq), action]
        with self._lock:
            heapq.heappush(self._heap, entry)
            self._wake()
        return entry

    def cancel(self, entry: list) -> None:
        """Drop a deadline. If nothing is left to watch, the thread has ended
        when this returns (a run leaves no thread behind)."""
        with self._lock:
            if entry[2] is not None:
                entry[2] = None
                self._wake()
        self._join_if_idle()

    def watch(self, fd: int, action: Callable[[bytes], None]) -> None:
        """Call `action(bytes read)` whenever `fd` (non-blocking) is readable."""
        with self._lock:
            self._watched[fd] = action
            self._wake()

    def unwatch(self, fd: int) -> None:
        with self._lock:
            if self._watched.pop(fd, None) is not None:
                self._wake()
        self._join_if_idle()

    def _join_if_idle(self) -> None:
        with self._lock:
            idle = not any(e[2] is not None for e in self._heap) and not self._watched
            thread = self._thread
        if idle and thread is not None and thread is not threading.current_thread():
            thread.join(1)  # it ends at once, unless new work came meanwhile

    def _wake(self) -> None:  # with the lock held
        if self._thread is None:
            self._poke_read, self._poke_write = os.pipe()
            os.set_blocking(self._poke_write, False)
            self._thread = threading.Thread(target=self._loop, args=(self._poke_read,), name="pywasi-ticker", daemon=True)
            self._thread.start()
        else:
            try:
                os.write(self._poke_write, b"\0")
            except BlockingIOError:
                pass  # it has been poked already

    def _loop(self, poke: int) -> None:
        while True:
            due = []
            with self._lock:
                now = time.monotonic()
                while self._heap and (self._heap[0][2] is None or self._heap[0][0] <= now):
                    entry = heapq.heappop(self._heap)
                    if entry[2] is not None:
                        due.append(entry[2])
                        entry[2] = None
                if not due and not self._heap and not self._watched:
                    os.close(self._poke_read)
                    os.close(self._poke_write)
                    self._poke_read = self._poke_write = -1
                    self._thread = None
                    return
                timeout = None if not self._heap else max(0, self._heap[0][0] - now)
                watched = list(self._watched)
            for action in due:
                action()
            if due:
                continue
            poller = select.poll()
            poller.register(poke, select.POLLIN)
            for fd in watched:
                poller.register(fd, select.POLLIN)
            ms = None if timeout is None else min(int(timeout * 1000) + 1, 2**31 - 1)
            for fd, _ in poller.poll(ms):
                with self._lock:  # a watcher's fd is read only while it is watched
                    action = self._watched.get(fd) if fd != poke else None
                    try:
                        data = os.read(fd, 512) if fd == poke or action else b""
                    except OSError:
                        data = b""
                if action is not None and data:
                    action(data)


TICKER = _Ticker()
