"""Host calls as Trace Event JSON, the format Perfetto (ui.perfetto.dev) and
chrome://tracing open: `WASI(trace=file, trace_format="chrome")`, `pywasi
run --trace=FILE --trace-format=chrome`.

One complete event ("ph": "X") per host call, on the thread that made it
(the guest's), named after the function, its decoded arguments and its
outcome as the event's args:

    [
    {"name": "process_name", "ph": "M", "pid": 7, "tid": 7, "args": {"name": "pywasi"}},
    {"name": "fd_write", "cat": "wasi", "ph": "X", "ts": 130.2, "dur": 4.1, "pid": 7, "tid": 7,
     "args": {"fd": 1, "iovs": "6 bytes", "result": "success, size=6"}},
    ...
    ]

Times are in microseconds from the trace's start. The closing "]" is written
when the WASI object is closed; a trace cut short without it still opens
(both viewers accept an unterminated array, which is why the format allows it).
"""

from __future__ import annotations

import io
import json
import os
import threading
from collections.abc import Callable
from time import perf_counter_ns
from typing import Any

from .trace import HostCall, format_value

CATEGORY = "wasi"


class ChromeTrace:
    """A trace sink (a function of a HostCall) that writes Trace Event JSON
    to a text or binary file object; `finish()` closes the array."""

    def __init__(self, target: Any) -> None:
        write = target.write
        if isinstance(target, io.TextIOBase):
            self._write: Callable[[str], object] = write
        else:
            self._write = lambda text: write(text.encode("utf-8"))
        self._lock = threading.Lock()
        self._origin = perf_counter_ns()
        self._pid = os.getpid()
        self._threads: set[int] = set()
        self._opened = self._finished = False

    def __call__(self, call: HostCall) -> None:
        end = perf_counter_ns()
        tid = threading.get_native_id()
        event = {
            "name": call.function,
            "cat": CATEGORY,
            "ph": "X",
            "ts": _microseconds(end - call.ns - self._origin),
            "dur": _microseconds(call.ns),
            "pid": self._pid,
            "tid": tid,
            "args": {**{name: _value(v) for name, v in call.args.items()}, "result": call.outcome},
        }
        with self._lock:
            if self._finished:
                return
            events = []
            if not self._opened:
                events.append(self._metadata("process_name", self._pid, "pywasi"))
            if tid not in self._threads:
                self._threads.add(tid)
                events.append(self._metadata("thread_name", tid, f"guest ({threading.current_thread().name})"))
            events.append(event)
            self._emit(events)

    def finish(self) -> None:
        """End the JSON array (once): the trace is then a whole document."""
        with self._lock:
            if self._finished:
                return
            self._finished = True
            self._write("\n]\n" if self._opened else "[]\n")

    def _metadata(self, name: str, tid: int, value: str) -> dict[str, Any]:
        return {"name": name, "ph": "M", "pid": self._pid, "tid": tid, "args": {"name": value}}

    def _emit(self, events: list[dict[str, Any]]) -> None:
        text = ",\n".join(json.dumps(e) for e in events)  # ASCII: any file takes it
        self._write(("[\n" if not self._opened else ",\n") + text)
        self._opened = True


def _microseconds(ns: int) -> float:
    return round(ns / 1000, 3)


def _value(v: object) -> object:
    """An argument as JSON shows it best: numbers and strings as they are,
    the rest (flags, enums, records, byte counts) as the text trace has them."""
    if type(v) is int or type(v) is str:
        return v
    if type(v) is bytes:
        return v.decode("utf-8", "backslashreplace")
    return format_value(v)
