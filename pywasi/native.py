"""The C hot path (the optional extension pywasi._native), when it is built.

Every host function is then a C callback, registered once per linker and
shared by every WASI object: a call finds its WASI object from the caller's
store (the one the object was started with, registered at start), so a
store no WASI object was started with reaches none. Calls whose whole
semantics can live outside Python (args_*, environ_*, clock_*, random_get,
sched_yield, and fd_read, fd_write, fd_pread, fd_pwrite, fd_seek, fd_tell,
fd_fdstat_get on descriptors over a host fd: codegen/cplan.py lists them)
are served in C, generated from the same lowering as the Python stubs
(generated/native.c), without the GIL. Every other call, and a served one
whenever C must not answer (before start and after close, while a stop is
pending, when trace or stats are on, when the handler is not the one whose
semantics native/calls.c or native/fds.c has: a subclass overriding it; for
an fd call, when the descriptor is not one C serves, see FdMirror, or the
call would have to wait), goes through a C trampoline to the Python stub,
which turns whatever the stub raises into a trap (native/trampoline.c).

PYWASI_NATIVE=0 forces the pure-Python bridge (ctypes callbacks, one set per
WASI object), which is also what runs when the extension is not built.
`STATUS` says which path is in force and why (`pywasi audit` prints it).
"""

from __future__ import annotations

import ctypes
import importlib
import os
import threading
from pathlib import Path
from types import ModuleType

import wasmtime
from wasmtime import _ffi as ffi

from pywasi.generated.versions import VERSIONS
from pywasi.handlers.calls.args_env import ArgsEnv
from pywasi.handlers.calls.clock import Clocks
from pywasi.handlers.calls.fd import FdCalls
from pywasi.handlers.calls.proc import Process
from pywasi.handlers.calls.random import Randomness
from pywasi.handlers.descriptors.base import Descriptor
from pywasi.handlers.descriptors.file import File
from pywasi.handlers.descriptors.hostfd import HostFd
from pywasi.handlers.descriptors.socket import Connection, Listener
from pywasi.handlers.descriptors.stdio import HostStream

from . import bridge
from .errors import NotStarted

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
    "fd_fdstat_get": FdCalls.fd_fdstat_get,
    "fd_pread": FdCalls.fd_pread,
    "fd_pwrite": FdCalls.fd_pwrite,
    "fd_read": FdCalls.fd_read,
    "fd_seek": FdCalls.fd_seek,
    "fd_tell": FdCalls.fd_tell,
    "fd_write": FdCalls.fd_write,
}

# The descriptor classes whose reads, writes and seeks native/fds.c has, by
# the kind it knows them as (exactly these classes: a subclass may differ).
KINDS = {File: "file", HostStream: "stream", Connection: "connection", Listener: "listener"}

_VOID = ctypes.c_void_p


def _address(name: str) -> int:
    try:
        return ctypes.cast(getattr(ffi.dll, name), _VOID).value or 0
    except AttributeError:
        return 0


def _short(module: str) -> str:
    return module.rsplit(".", 1)[1]  # the generated module's name: preview1, preview0


def _unbound(name: str, version: str, served: str | None):
    """A call from a store that no WASI object of its version was started with."""
    if served is None:
        raise NotStarted(name)
    raise NotStarted(name, f"{name} ({_NAMESPACES[version]}) was called from a store whose WASI object serves "
                           f"{_NAMESPACES[served]}: the guest must import the version its WASI object serves")


_NAMESPACES = {_short(v.module): v.namespace for v in VERSIONS}


def _load() -> tuple[ModuleType | None, str]:
    """The extension, initialized, and what `pywasi audit` says of it."""
    if os.environ.get("PYWASI_NATIVE") == "0":
        return None, "off: PYWASI_NATIVE=0"
    if not bridge.RAW:
        return None, "off: this wasmtime lacks the raw C API the bridge uses"
    try:  # a binary that may not be built: loaded by name, not imported at the top
        module = importlib.import_module("pywasi._native")
    except ImportError as e:
        return None, f"off: the extension is not built ({e})"
    api = ("wasmtime_trap_new", "wasmtime_caller_context", "wasmtime_memory_data", "wasmtime_memory_data_size",
           "wasmtime_linker_define_func_unchecked")
    try:
        # The main thread, where Python runs signal handlers (see runtime.h).
        module.init(*map(_address, api), threading.main_thread().ident, bridge.raw_trap, _unbound)
        tables = {v.module: [name for name, _ in module.functions(_short(v.module))] for v in VERSIONS}
    except ValueError as e:  # a C API function is missing
        return None, f"off: {e}"
    except (TypeError, AttributeError) as e:  # a binary built from other sources than this pywasi's
        return None, f"off: the extension does not match this pywasi ({e}): rebuild it (pip install .)"
    for version in VERSIONS:
        if tables[version.module] != list(importlib.import_module(version.module).FUNCTIONS):
            return None, f"off: the extension was built for other stubs than {version.module}'s (rebuild it)"
    if not _forget_deleted_stores(module):
        return None, "off: this wasmtime-py deletes its stores otherwise than pywasi knows"
    served = len(SEMANTICS)
    return module, f"on: {served} calls in C, the others through a C trampoline ({Path(module.__file__ or '').name})"


def _forget_deleted_stores(module: ModuleType) -> bool:
    """A store's registration goes with it: wasmtime-py's Store._delete (its
    close() and its finalizer both end there) first tells the extension,
    before wasmtime frees the store and its address can be reused."""
    delete = getattr(wasmtime.Store, "_delete", None)
    if not callable(delete):
        return False
    if getattr(delete, "pywasi_forgets", False):
        return True

    def _delete(self, ptr):
        module.forget(ctypes.cast(ffi.wasmtime_store_context(ptr), _VOID).value or 0)
        delete(self, ptr)

    _delete.pywasi_forgets = True  # type: ignore[attr-defined]
    wasmtime.Store._delete = _delete  # type: ignore[method-assign]
    return True


_native, STATUS = _load()
ENABLED = _native is not None


class NativeCalls:
    """One WASI object's calls through the extension: its state (what its C
    calls need, the store it is bound to, its stubs) and the registration
    of a version's callbacks. Created only when the extension is loaded."""

    def __init__(self, module: ModuleType, host, version: str):
        self.module = module
        self.version = version  # the generated module's name: preview1, preview0
        self.state = module.State(
            version=version, args=list(host.args), env=list(host.env), monotonic_origin=host.monotonic_origin,
            resolutions=tuple(host.clock_res_get(clock) for clock in range(4)),
        )
        mask = 0
        for name, bit in module.functions(version):
            if bit >= 0 and getattr(type(host), name, None) is SEMANTICS[name]:
                mask |= 1 << bit
        self.state.enable(mask)
        mirror = FdMirror(self.state)
        for fd, d in host.fds.items():
            mirror.put(fd, d)
        host.fds.mirror = mirror

    def define(self, linker: wasmtime.Linker, namespace: str, types: list[int]) -> None:
        """Register every function of the version in `linker`; `types` are
        their wasm_functype_t addresses, in FUNCTIONS order."""
        error = self.module.define(_linker_address(linker), self.version, namespace.encode(), types)
        if error:
            raise wasmtime.WasmtimeError._from_ptr(ctypes.cast(error, ctypes.POINTER(ffi.wasmtime_error_t)))

    def bind(self, store: wasmtime.Store, memory: wasmtime.Memory, slots: list) -> None:
        """The store and memory the WASI object starts with, and its stubs:
        from now on calls from that store reach this object. ValueError if
        another WASI object, not closed, is bound to the store."""
        handle = ctypes.string_at(ctypes.addressof(memory._memory), ctypes.sizeof(memory._memory))
        self.state.bind(ctypes.cast(store._context(), _VOID).value or 0, handle, slots)

    def switch(self, on: bool) -> None:
        self.state.switch(on)

    def close(self) -> None:
        self.state.close()

    def calls(self) -> int:
        """Host calls from the bound store (in C and in Python)."""
        return self.state.calls()

    def in_flight(self) -> bool:
        """Whether a call is under way in a Python stub, on any thread."""
        return self.state.in_flight() > 0

    def moved(self) -> tuple[int, int]:
        """(bytes read, bytes written) by the fd calls C served."""
        return self.state.moved()


def _linker_address(linker: wasmtime.Linker) -> int:
    return ctypes.cast(linker.ptr(), _VOID).value or 0


class FdMirror:
    """The fd table as the C calls see it (native/fds.h): for each guest fd
    whose descriptor C serves, its host fd, kind, filetype, fdflags and
    rights. The FdTable tells it every change, which the next C call sees,
    on any thread; `put` and `drop` return once no C call still uses what
    was at the number, so the host fd the table closes next is no C call's."""

    def __init__(self, state):
        self.state = state

    def put(self, fd: int, d: Descriptor) -> None:
        kind = KINDS.get(type(d))
        if kind is None or not isinstance(d, HostFd) or isinstance(d, HostStream) and d.room is not None:
            self.state.fd_clear(fd)  # Python's (an output limit: Python counts what is written)
            return
        self.state.fd_set(fd, kind, d.fd, d.filetype, d.flags, d.rights_base, d.rights_inheriting, d.may_block)

    def drop(self, fd: int) -> None:
        self.state.fd_clear(fd)


def calls_for(host, version: str) -> NativeCalls | None:
    """The C calls of a WASI object, or None without the extension."""
    return NativeCalls(_native, host, version) if _native is not None else None


def in_host_call() -> bool:
    """Whether this thread is inside a host call the trampoline handed to a
    Python stub (a signal handler running now runs under it)."""
    return _native is not None and _native.depth() > 0


def bound_stores() -> int:
    """How many stores are bound to a WASI object's state (0 without the
    extension): a store's binding goes with the store."""
    return _native.bound() if _native is not None else 0
