"""Long work (compiling a large module: CPython for WASI takes about a
minute) done so that Ctrl-C stops it at once, and seen on a terminal.

The work runs in a worker thread while the caller waits, so a Ctrl-C ends the
wait at once (wasmtime cannot stop a compilation: the thread is abandoned and
its result dropped). Where `shown_on(stream)` is in effect and the stream is
a terminal, a line says what is under way, how big it is and for how long,
once it has taken more than a second, and is wiped when it ends:

    pywasi: compiling python.wasm (26.3 MB), 12 s
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any, TextIO, TypeVar

T = TypeVar("T")

DELAY = 1.0  # seconds of silence before the line appears
TICK = 0.5  # how often the line is redrawn

_stream: ContextVar[TextIO | None] = ContextVar("pywasi_progress", default=None)


@contextlib.contextmanager
def shown_on(stream: TextIO) -> Iterator[None]:
    """Show progress lines of long work on `stream` while in this block, when
    it is a terminal (the CLI shows them on stderr)."""
    token = _stream.set(stream if _is_terminal(stream) else None)
    try:
        yield
    finally:
        _stream.reset(token)


def size_text(n: int) -> str:
    """A size in bytes, as a person reads it: 512 bytes, 4.1 kB, 26.3 MB."""
    if n < 1000:
        return f"{n} bytes"
    value = n / 1000
    for unit in ("kB", "MB"):
        if value < 1000:
            return f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def in_worker(what: str, work: Callable[[], T]) -> T:
    """`work()` in a worker thread, its result or its exception returned or
    raised here; the wait shown as `what` (see the module's docstring)."""
    done = threading.Event()
    outcome: list[tuple[bool, Any]] = []

    def target() -> None:
        try:
            outcome.append((True, work()))
        except BaseException as error:  # noqa: B036 - raised again in the caller
            outcome.append((False, error))
        finally:
            done.set()

    threading.Thread(target=target, name=f"pywasi: {what}", daemon=True).start()
    stream = _stream.get()
    start = time.monotonic()
    line = ""  # what is on screen
    try:
        # Waits with a timeout: a Ctrl-C interrupts them at once.
        while not done.wait(TICK if line else DELAY):
            if stream is not None:
                now = f"pywasi: {what}, {time.monotonic() - start:.0f} s"
                if now != line:
                    # `line` first: a Ctrl-C during the write still wipes it.
                    previous, line = line, now
                    stream.write("\r" + now.ljust(len(previous)))
                    stream.flush()
    finally:
        if line:
            assert stream is not None
            stream.write("\r" + " " * len(line) + "\r")
            stream.flush()
    ok, value = outcome[0]
    if not ok:
        raise value
    return value


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):  # no isatty, or closed
        return False
