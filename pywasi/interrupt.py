"""Signals while a guest runs: the handler's exception ends the guest and
reaches whoever started it, never a corrupt process.

Python runs a signal handler between bytecodes of the main thread. Under a
host call the C trampoline made (pywasi/native.py), its exception is raised
there, wrapped so that no stub takes it for an errno (Bridge.Stopped), and
the trampoline makes it the call's trap. On the pure-Python bridge, if that
is the first bytecode of a host-call callback, before its `try`, an
exception the handler raises (the default SIGINT handler's
KeyboardInterrupt, a SIGALRM deadline) would escape the callback: printed,
and the guest goes on with garbage. So while a guest is bound, every
Python-level signal handler is wrapped: at a callback's first bytecodes its
exception stops that guest (Bridge.stop: the call about to begin raises it);
deeper inside a host call it is raised there, wrapped so that no stub takes
it for an errno (Bridge.Stopped), and interrupts what the call was doing
(a blocking read); anywhere else the handler runs as it would.

A guest looping without host calls runs no Python at all. For that, during
start()/initialize() the C-level signal handler also writes to a wakeup fd
that the process's ticker (stop.py) watches, and SIGINT fires the run's
stop: an engine with epoch interruption then traps out of the loop, and a
host call blocked in a wait ends.
"""

from __future__ import annotations

import _signal  # signal's C half (below)
import contextlib
import signal
import threading
import weakref

from . import bridge as _bridge, native
from .stop import TICKER, deadline_stop

_bridges: weakref.WeakSet = weakref.WeakSet()
# Reentrant: a collection inside attach() or detach() (anything they
# allocate may start one) can finalize an unclosed WASI object, whose close
# detaches it on the same thread.
_lock = threading.RLock()

# Every start() and close() looks at every signal's handler. signal's
# getsignal(), signal() and valid_signals() turn each number and handler into
# an enum, about 3 us a signal (200 us for all of them); its C half reads and
# sets the same handlers in a fraction of a microsecond.
_SIGNALS = tuple(sorted(_signal.valid_signals()))
_getsignal = _signal.getsignal
_setsignal = _signal.signal


def _guard(handler):
    """`handler`, run so that what it raises under a host call stops that guest."""

    def guarded(signum, frame):
        inside = _bridge.entered(frame)
        if inside is None and native.in_host_call():
            # Under a stub the C trampoline called: whatever the handler
            # raises, even at the stub's first bytecode, reaches the
            # trampoline, which makes it the call's trap.
            try:
                return handler(signum, frame)
            except BaseException as error:  # noqa: B036
                raise _bridge.Stopped(error) from None
        if inside is None:
            return handler(signum, frame)
        callback, target, at_entry = inside
        try:
            return handler(signum, frame)
        except BaseException as error:  # noqa: B036 - whatever it raises ends the guest
            if target is not None and not at_entry:
                raise _bridge.Stopped(error) from None
            if target is not None:
                target.stop(error)
            elif (stop := deadline_stop(callback)) is not None:
                stop.fire("signal", error)  # the deadline callback then traps
            return None

    guarded.pywasi_guards = handler  # type: ignore[attr-defined]
    return guarded


def _guarded(handler) -> bool:
    return hasattr(handler, "pywasi_guards")


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def attach(bridge) -> bool:
    """Guard every Python-level signal handler while `bridge` is bound (main
    thread only: signal handlers run nowhere else; handlers set later are
    guarded at the next attach). Returns whether it did."""
    if not _main_thread():
        return False
    with _lock:
        _bridges.add(bridge)
        for signum in _SIGNALS:
            try:
                handler = _getsignal(signum)
                if callable(handler) and not _guarded(handler):
                    _setsignal(signum, _guard(handler))
            except (OSError, ValueError):  # pragma: no cover - a signal Python cannot handle
                pass
    return True


def detach(bridge) -> None:
    """When the last bridge is gone: every handler still guarded is itself again."""
    if not _main_thread():
        return
    with _lock:
        if bridge not in _bridges:
            return
        _bridges.discard(bridge)
        if len(_bridges):
            return
        for signum in _SIGNALS:
            try:
                handler = _getsignal(signum)
                if callable(handler) and _guarded(handler):  # most are ints: SIG_DFL, SIG_IGN
                    _setsignal(signum, handler.pywasi_guards)
            except (OSError, ValueError):  # pragma: no cover
                pass


@contextlib.contextmanager
def epoch_on_sigint(stop):
    """While the guest runs: SIGINT also fires `stop` (a pywasi.stop.Stop).
    The signal wakeup fd is the ticker's pipe, so no pipe or thread is made
    per run (runs one after another share the ticker's)."""
    sigint = _getsignal(signal.SIGINT)
    if not _main_thread() or getattr(sigint, "pywasi_guards", None) is not signal.default_int_handler:
        yield
        return

    def seen(signals: bytes) -> None:
        if signal.SIGINT in signals:
            stop.fire("interrupt", KeyboardInterrupt())

    key, wakeup = TICKER.watch_signals(seen)
    try:
        previous = signal.set_wakeup_fd(wakeup, warn_on_full_buffer=False)
    except ValueError:  # pragma: no cover - not the main thread after all
        TICKER.unwatch_signals(key)
        yield
        return
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous)
        TICKER.unwatch_signals(key)
