"""The C hot path (the optional extension pywasi._native), when it is built.

Calls whose whole semantics can live outside Python (args_*, environ_*,
clock_*, random_get, sched_yield: codegen/cplan.py lists them) are then
registered as C callbacks, generated from the same lowering as the Python
stubs (generated/native.c). They run without the GIL. Each hands its call,
unchanged, to the Python callback the bridge would have registered whenever
C must not answer: before start and after close, while an interrupt is
pending, when trace or stats are on, when the caller's store is not the one
the WASI object was started with, or when the handler is not the one whose
semantics native/calls.c has (a subclass overriding it).

It is opt-in for now: PYWASI_NATIVE=1 turns it on. Known problem: an
exception that escapes a Python callback at its first bytecode (an async
exception, a signal handler's, on the guest's thread) leaves ctypes'
return value unwritten; called from wasmtime that has read as "no trap", but
called from C it can read as garbage and crash (native/runtime.h lowers the
odds). `STATUS` says which path is in force and why (`pywasi audit` prints it).
"""

from __future__ import annotations

import ctypes
import importlib
import os
import threading
from pathlib import Path
from types import ModuleType

from wasmtime import _ffi as ffi

from pywasi.handlers.calls.args_env import ArgsEnv
from pywasi.handlers.calls.clock import Clocks
from pywasi.handlers.calls.proc import Process
from pywasi.handlers.calls.random import Randomness

from . import bridge

# The Python handlers whose semantics the C handlers have.
SEMANTICS = {
    "args_get": ArgsEnv.args_get,
    "args_sizes_get": ArgsEnv.args_sizes_get,
    "environ_get": ArgsEnv.environ_get,
    "environ_sizes_get": ArgsEnv.environ_sizes_get,
    "clock_res_get": Clocks.clock_res_get,
    "clock_time_get": Clocks.clock_time_get,
    "random_get": Randomness.random_get,
    "sched_yield": Process.sched_yield,
}

_VOID = ctypes.c_void_p


def _address(name: str) -> int:
    try:
        return ctypes.cast(getattr(ffi.dll, name), _VOID).value or 0
    except AttributeError:
        return 0


def _load() -> tuple[ModuleType | None, str]:
    """The extension, initialized, and what `pywasi audit` says of it."""
    choice = os.environ.get("PYWASI_NATIVE")
    if choice == "0":
        return None, "off: PYWASI_NATIVE=0"
    if choice != "1":
        return None, "off: PYWASI_NATIVE=1 turns it on"
    if not bridge.RAW:
        return None, "off: this wasmtime lacks the raw C API the bridge uses"
    try:  # a binary that may not be built: loaded by name, not imported at the top
        module = importlib.import_module("pywasi._native")
    except ImportError as e:
        return None, f"off: the extension is not built ({e})"
    api = ("wasmtime_trap_new", "wasmtime_caller_context", "wasmtime_memory_data", "wasmtime_memory_data_size")
    try:
        # The main thread, where Python runs signal handlers (see runtime.h).
        module.init(*map(_address, api), threading.main_thread().ident)
    except ValueError as e:  # a C API function is missing
        return None, f"off: {e}"
    return module, f"on: {len(SEMANTICS)} calls in C ({Path(module.__file__ or '').name})"


_native, STATUS = _load()
ENABLED = _native is not None


class NativeCalls:
    """One WASI object's calls in C: its state, and the registration of its
    callbacks. Created only when the extension is loaded."""

    def __init__(self, module: ModuleType, host, version: str):
        self.version = version  # the generated module's name: preview1, preview0
        self.bits = module.functions(version)  # name -> its NATIVE_* bit
        self.finalizer = module.FINALIZER  # the C finalizer of an entry's env
        self.state = module.State(
            args=list(host.args), env=list(host.env), monotonic_origin=host.monotonic_origin,
            resolutions=tuple(host.clock_res_get(clock) for clock in range(4)),
        )
        mask = 0
        for name, bit in self.bits.items():
            if getattr(type(host), name, None) is SEMANTICS[name]:
                mask |= 1 << bit
        self.state.enable(mask)

    def serves(self, name: str) -> bool:
        return name in self.bits

    def entry(self, name: str, fallback: int, release: int, key: int) -> tuple[int, int]:
        """What to register for `name`: (the C callback, its env). `fallback`
        is the address of the Python callback serving what C does not;
        `release(key)` is called when wasmtime drops the function (FINALIZER
        does both)."""
        return self.state.entry(self.version, name, fallback, release, key)

    def bind(self, store, memory) -> None:
        """The store and memory the WASI object starts with; calls from any
        other store go to Python."""
        handle = ctypes.string_at(ctypes.addressof(memory._memory), ctypes.sizeof(memory._memory))
        self.state.bind(ctypes.cast(store._context(), _VOID).value or 0, handle)

    def switch(self, on: bool) -> None:
        self.state.switch(on)

    def calls(self) -> int:
        """How many calls C has served (the Python callbacks count the rest)."""
        return self.state.calls()


def calls_for(host, version: str) -> NativeCalls | None:
    """The C calls of a WASI object, or None without the extension."""
    return NativeCalls(_native, host, version) if _native is not None else None
