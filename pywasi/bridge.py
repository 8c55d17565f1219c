"""The host-call bridge between wasmtime and the generated stubs.

With the C extension (pywasi/native.py), host functions are its C callbacks,
shared by every WASI object, and a call that Python serves reaches its stub
through a C trampoline. Without it, they are ctypes callbacks, one set per
WASI object, registered as raw, unchecked callbacks through the C API
inside the wasmtime wheel (`wasmtime_linker_define_func_unchecked`): about
170 ns a call, where wasmtime-py's public `Func` costs about 5 us. If the
wheel lacks those symbols, wasmtime-py's public API serves instead.

Rules every callback keeps:
- Nothing escapes it. An exception escaping a ctypes callback is printed and
  the guest goes on with a garbage return value, so every failure becomes a
  trap whose message names the function.
- Exceptions that must reach the host (ProcExit, SystemExit,
  KeyboardInterrupt, bugs) are kept per thread, not in wasmtime-py's module
  global, and re-raised by `call`. When the guest was entered through
  wasmtime-py instead (a host calling a reactor's exports itself), they are
  handed to wasmtime-py so that its call raises them.
- The stub is looked up in `slots` on every call: that one list is how a
  bridge becomes live at start(), how SIGINT stops a guest at its next host
  call, and how a memory that may move is refreshed first.

PYWASI_BRIDGE=public forces the fallback (tests use it).
"""

from __future__ import annotations

import ctypes
import dis
import itertools
import os
import struct
import sys
import threading
import time
import weakref
from collections.abc import Callable
from types import FrameType

import wasmtime
from wasmtime import _ffi as ffi, _func as _public  # _public: wasmtime-py's host-function glue
from wasmtime._extern import wrap_extern

from pywasi.runtime.errors import ProcExit
from pywasi.runtime.memory import GuestTrap, NotBound

_local = threading.local()  # .pending: exception to re-raise; .depth: our calls under way

_VOID = ctypes.c_void_p
_SIZE = ctypes.c_size_t
# wasmtime_func_unchecked_callback_t is (env, caller, args_and_results,
# num_args_and_results). The callback declares only the first three: ctypes
# converts every declared argument (about 20 ns each), and on every platform
# wasmtime runs on the callee may ignore a trailing register argument.
CALLBACK = ctypes.CFUNCTYPE(_SIZE, _VOID, _VOID, _VOID)
FINALIZER = ctypes.CFUNCTYPE(None, _VOID)


def _c(name: str, restype, *argtypes):
    """Our own handle on a C function (dll[name] is a fresh object: setting its
    argtypes does not change the one wasmtime-py uses)."""
    try:
        f = ffi.dll[name]
    except AttributeError:
        return None
    f.restype = restype
    f.argtypes = argtypes
    return f


_define_unchecked = _c(
    "wasmtime_linker_define_func_unchecked", _VOID, _VOID, ctypes.c_char_p, _SIZE, ctypes.c_char_p, _SIZE, _VOID, CALLBACK, _VOID, FINALIZER
)
_trap_new = _c("wasmtime_trap_new", _VOID, ctypes.c_char_p, _SIZE)
_func_call = _c("wasmtime_func_call", _VOID, _VOID, _VOID, _VOID, _SIZE, _VOID, _SIZE, ctypes.POINTER(_VOID))
_memory_data = _c("wasmtime_memory_data", _VOID, _VOID, _VOID)
_memory_data_size = _c("wasmtime_memory_data_size", _SIZE, _VOID, _VOID)
_caller_context = _c("wasmtime_caller_context", _VOID, _VOID)
_export_get = _c("wasmtime_instance_export_get", ctypes.c_bool, _VOID, _VOID, ctypes.c_char_p, _SIZE, _VOID)
_memory_type = _c("wasmtime_memory_type", _VOID, _VOID, _VOID)
_memorytype_minimum = _c("wasmtime_memorytype_minimum", ctypes.c_uint64, _VOID)
_memorytype_maximum = _c("wasmtime_memorytype_maximum", ctypes.c_bool, _VOID, ctypes.POINTER(ctypes.c_uint64))
_memorytype_is64 = _c("wasmtime_memorytype_is64", ctypes.c_bool, _VOID)
_memorytype_isshared = _c("wasmtime_memorytype_isshared", ctypes.c_bool, _VOID)
_memorytype_delete = _c("wasm_memorytype_delete", None, _VOID)
_MEMORY_TYPE_API = (_memory_type, _memorytype_minimum, _memorytype_maximum, _memorytype_is64, _memorytype_isshared,
                    _memorytype_delete)

RAW = (
    os.environ.get("PYWASI_BRIDGE") != "public"
    and None not in (_define_unchecked, _trap_new, _func_call, _memory_data, _memory_data_size, _caller_context)
)

# Callbacks wasmtime still holds, by the key passed as their data; wasmtime's
# finalizer removes them when it drops the function. So a callback outlives
# the WASI object that made it for as long as a linker or store can call it.
_LIVE: dict[int, object] = {}
_keys = itertools.count(1)


@FINALIZER
def _finalize(key):
    _LIVE.pop(key or 0, None)


def _address(ptr) -> int:
    return ctypes.cast(ptr, _VOID).value or 0


# Traps -------------------------------------------------------------------------


def trap_message(function: str, error: BaseException) -> str:
    match error:
        case GuestTrap():
            return str(error)
        case ProcExit():
            return f"pywasi: proc_exit({error.code})"
        case SystemExit():
            return f"pywasi: proc_exit({error.code}) ended the host"
        case KeyboardInterrupt():
            return f"pywasi: interrupted in {function}"
        case NotBound():
            return f"pywasi: {function} called before wasi.start() or initialize()"
        case Closed():
            return f"pywasi: {function} called after wasi.close()"
        case ForeignStore():
            return (f"pywasi: {function} called from another store than the one this WASI object is bound to"
                    " (one WASI object serves one instance)")
        case Stopped(error=KeyboardInterrupt()):
            return f"pywasi: interrupted in {function}"
        case Stopped(error=stopped):
            return f"pywasi: stopped in {function} by {type(stopped).__name__}: {stopped}"
    return f"pywasi: {function} failed: {type(error).__name__}: {error}"


def _keep(error: BaseException) -> None:
    """Hand an exception to whoever entered the guest on this thread: `call`,
    or wasmtime-py's call of an export (through `_raise_kept`)."""
    if _HOOKED or getattr(_local, "depth", 0) > 0:
        _local.pending = error
    elif not _is_guest_trap(error):
        # A wasmtime-py without the hook: its module global, shared by threads.
        # A bad pointer stays a trap, as it is through call().
        _public.LAST_EXCEPTION = error  # type: ignore[assignment]  # it re-raises any BaseException


# wasmtime-py re-raises an exception from a host function through one module
# global (LAST_EXCEPTION), which threads overwrite and a nested call consumes:
# a reactor's ProcExit reached another thread's call, and a proc_exit in a
# host -> guest -> host chain lost its code. Every wasmtime-py entry into
# wasm (a call, an instantiation) asks `maybe_raise_last_exn` when it comes
# back with a trap; that hook first raises what a callback kept for *this*
# thread. (Tested against the supported wasmtime-py range.)
_original_raise = getattr(_public, "maybe_raise_last_exn", None)


def _raise_kept() -> None:
    error = _local.__dict__.pop("pending", None)
    marker = _local.__dict__.pop("marker", None)
    if error is not None and not _is_guest_trap(error):
        if marker is not None and _public.LAST_EXCEPTION is marker:
            _public.LAST_EXCEPTION = None  # the public fallback's trap, kept by wasmtime-py
        raise error.error if isinstance(error, Stopped) else error
    if _original_raise is not None:
        _original_raise()


_HOOKED = callable(_original_raise) and callable(getattr(_public, "enter_wasm", None))
if _HOOKED:
    _public.maybe_raise_last_exn = _raise_kept


def raw_trap(function: str, error: BaseException) -> int:
    """The trap (its address) a raw callback returns for `error`, which is
    kept for whoever entered the guest."""
    _keep(error)
    message = trap_message(function, error).encode("utf-8", "replace")
    return _trap_new(message, len(message)) or 0


# Callbacks ---------------------------------------------------------------------

_SLOT = {"i32": "I12x", "i64": "Q8x"}  # a wasmtime_val_raw_t is 16 bytes


def _raw_callback(name: str, slots: list, index: int, params: tuple, results: tuple, store: list):
    """The callback, and a function that says how often it was called."""
    unpack = struct.Struct("<" + "".join(_SLOT[p] for p in params)).unpack_from
    words = max(len(params), len(results), 1) * 4
    view_at = (ctypes.c_int32 * words).from_address
    frames: dict[int, tuple] = {}
    calls = 0  # a closure's own int: the cheapest count there is (about 10 ns)

    # The arguments arrive in a buffer on the trampoline's stack, and the
    # caller (whose first word is its store's context) just below it: both
    # at the same addresses call after call from one call site, so views of
    # them are cached by the arguments' address (and the cache is bounded).
    # `store[0]` is the bound store's context: a call from any other store
    # traps (_enter) before it can reach the bound instance's memory.
    def callback(env, caller, args):
        nonlocal calls
        calls += 1
        try:
            f = frames.get(args)
            if f is None or f[0] != caller or f[2][0] != store[0]:
                f = _enter(frames, args, caller, view_at, store)
            v = f[1]
            result = slots[index](*unpack(v))
            if result is not None:
                v[0] = result
            return 0
        except BaseException as error:  # noqa: B036 - nothing may escape a callback
            return raw_trap(name, error)

    return callback, lambda: calls


def _enter(frames: dict, args: int, caller: int, view_at, store: list) -> tuple:
    """A callback's slow path: views of a new call site, checked."""
    if len(frames) > 64:
        frames.clear()
    context = memoryview((ctypes.c_uint64 * 1).from_address(caller)).cast("B").cast("Q")
    if context[0] != (_caller_context(caller) or 0):  # read as wasmtime's C API reads it
        raise RuntimeError("this wasmtime lays its caller out otherwise: pywasi cannot tell its store")
    f = frames[args] = (caller, memoryview(view_at(args)).cast("B").cast("i"), context)
    if store[0] and context[0] != store[0]:
        raise ForeignStore
    return f


class ForeignStore(Exception):
    """A host call from an instance in another store than the bound one."""


CALLBACK_CODES: set = set()  # code objects of callbacks, for signal handlers and close()


def _public_callback(name: str, slots: list, index: int, store: list):
    calls = 0

    def callback(caller, *args):
        nonlocal calls
        calls += 1
        try:
            if store[0] and _address(caller._context()) != store[0]:
                raise ForeignStore
            return slots[index](*args)
        except BaseException as error:  # noqa: B036
            _keep(error)
            _local.marker = trap = wasmtime.Trap(trap_message(name, error))
            raise trap from None

    return callback, lambda: calls


CALLBACK_CODES.add(_raw_callback("", [], 0, (), (), [0])[0].__code__)
CALLBACK_CODES.add(_public_callback("", [], 0, [0])[0].__code__)


_VALTYPES = {"i32": wasmtime.ValType.i32, "i64": wasmtime.ValType.i64}


_FUNCTYPES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _functype(engine: wasmtime.Engine, params: tuple[str, ...], results: tuple[str, ...]) -> wasmtime.FuncType:
    """One FuncType per engine and signature, made once (making one costs more
    than registering a function, about 20 us). Per engine: wasmtime ties a
    type to the first engine it is registered in, and refuses it in another."""
    types = _FUNCTYPES.setdefault(engine, {})
    key = (params, results)
    made = types.get(key)
    if made is None:
        # Made without the GIL held throughout: another thread may have made
        # one meanwhile, and whichever is in the cache first is everyone's.
        made = wasmtime.FuncType([_VALTYPES[p]() for p in params], [_VALTYPES[r]() for r in results])
        made = types.setdefault(key, made)
    return made


_TYPE_ADDRESSES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _type_addresses(engine: wasmtime.Engine, namespace: str, functions: dict) -> list[int]:
    """The addresses of a version's function types in `engine`, in FUNCTIONS
    order, for the extension's define (made once per engine: a ctypes cast
    costs more than registering a function). The FuncTypes they point to
    live in _FUNCTYPES as long as the engine."""
    by_namespace = _TYPE_ADDRESSES.setdefault(engine, {})
    addresses = by_namespace.get(namespace)
    if addresses is None:
        types = [_functype(engine, i.core_params, i.core_results) for i in functions.values()]
        addresses = by_namespace.setdefault(namespace, [_address(t.ptr()) for t in types])
    return addresses


class Bridge:
    """One WASI instance's host functions: the slots the callbacks call
    through, and their registration in linkers."""

    def __init__(self, namespace: str, functions: dict, not_started: Callable[[str], Callable], native=None):
        self.namespace = namespace
        self.native = native  # pywasi.native.NativeCalls, or None
        self.plain = False  # the stubs installed are the plain ones (no trace, no stats)
        self.functions = functions  # name -> FunctionInfo
        self.names = list(functions)
        self.waiting = [not_started(n) for n in self.names]
        self.slots = list(self.waiting)  # what the callbacks call, by index
        self.live: list[Callable] | None = None
        self.counts: list[Callable[[], int]] = []  # each callback's call count
        self.stopping: BaseException | None = None
        self.closed = False
        self.store = [0]  # the bound store's context (an address); 0: none yet
        self.imported = False  # import_functions() has handed functions out
        _BRIDGES[id(self.slots)] = self

    def calls(self) -> int:
        """Host calls made through this bridge's callbacks, in every linker
        (with the extension: from the bound store, counted in C)."""
        if self.native is not None:
            return self.native.calls()
        return sum(count() for count in self.counts)

    def define(self, linker: wasmtime.Linker) -> None:
        if self.native is not None:
            self.native.define(linker, self.namespace, _type_addresses(linker.engine, self.namespace, self.functions))
            return
        for index, name in enumerate(self.names):
            info = self.functions[name]
            ty = _functype(linker.engine, info.core_params, info.core_results)
            if RAW:
                self._define_raw(linker, name, index, info, ty)
            else:
                callback, count = _public_callback(name, self.slots, index, self.store)
                linker.define_func(self.namespace, name, ty, callback, access_caller=True)
                self.counts.append(count)

    def _define_raw(self, linker, name, index, info, ty) -> None:
        function, count = _raw_callback(name, self.slots, index, info.core_params, info.core_results, self.store)
        callback = CALLBACK(function)
        self.counts.append(count)
        key = next(_keys)
        _LIVE[key] = callback
        module, field = self.namespace.encode(), name.encode()
        error = _define_unchecked(
            _address(linker.ptr()), module, len(module), field, len(field), _address(ty.ptr()), callback, key, _finalize
        )
        if error:
            _LIVE.pop(key, None)
            raise wasmtime.WasmtimeError._from_ptr(ctypes.cast(error, ctypes.POINTER(ffi.wasmtime_error_t)))

    def install(
        self,
        stubs: dict[str, Callable],
        store: wasmtime.Store,
        before: Callable[[], None] | None = None,
        plain: bool = False,
    ) -> None:
        """Make the bridge live: callbacks now reach these stubs, from `store`
        only. `before` runs ahead of every call (a memory that may move
        refreshes itself). `plain`: the stubs are the generated ones, which C
        callbacks may stand in for."""
        self.store[0] = _address(store._context())
        live = [stubs[n] for n in self.names]
        if before is not None:
            live = [_preceded(before, stub) for stub in live]
        self.live = live
        self.slots[:] = live
        self.plain = plain
        self._native(plain)

    def close(self) -> None:
        """Every next host call traps, saying the WASI object was closed."""
        self.closed = True
        if self.native is not None:
            self.native.close()
        self.live = None
        self.waiting = [_closed] * len(self.names)
        self.slots[:] = self.waiting

    def in_flight(self) -> bool:
        """Whether a thread (this one included) is inside one of this
        bridge's host calls: looked up in every thread's frames, so that
        the calls themselves pay nothing for it."""
        if self.native is not None:
            if self.native.in_flight():
                return True
            if not self.counts and not self.imported:
                return False  # no Python function of this bridge exists to be in: C enters it alone
        frame: FrameType | None  # no other name: a frame left in a local keeps its locals alive
        for frame in sys._current_frames().values():
            while frame is not None:
                if frame.f_code in _ENTRY_CODES and frame.f_locals.get("slots") is self.slots:
                    return True
                frame = frame.f_back
        return False

    def import_functions(self) -> dict[str, Callable[..., int | None]]:
        """wasi_import's functions: the lowered ABI, by name, through the slots."""
        self.imported = True
        return {name: import_function(self.slots, index) for index, name in enumerate(self.names)}

    def after_calls(self, release: Callable[[], None]) -> None:
        """Run `release` once no host call of this bridge is under way: at
        once, or in a thread of its own when the last one has returned.

        After close(), a call that had already begun still uses its
        descriptors and the guest's memory: were they released under it, the
        host's next open() could get the fd number it is about to write to.
        Calls that begin later trap (close() put `_closed` in every slot
        first), so the wait ends when those under way return."""
        if not self.in_flight():
            release()
            return

        def wait():
            while self.in_flight():
                time.sleep(0.005)
            release()

        threading.Thread(target=wait, name="pywasi-close", daemon=True).start()

    # Stopping the guest with an exception -----------------------------------

    def stop(self, error: BaseException) -> None:
        """Stop the guest with `error`: its next host call raises it, from
        inside the callback's `try`, and whoever entered the guest gets it as
        itself (start() raises it). For what arrives while the guest runs and
        cannot be raised where it arrives: a signal handler's exception at a
        callback's first bytecode, an async exception, a limit that fires
        (a timeout; a guest in a pure loop also needs the engine's epoch).
        One exception, once: then the bridge is as before."""
        self.stopping = error
        self._native(False)
        self.slots[:] = [self._deliver] * len(self.slots)

    def _deliver(self, *args):
        error = self.take_stop()
        raise Stopped(error) if error is not None else Stopped(KeyboardInterrupt())

    def take_stop(self) -> BaseException | None:
        """The exception stop() left undelivered, if any (the guest made no
        host call since); the bridge is live again either way."""
        error, self.stopping = self.stopping, None
        self.slots[:] = self.live if self.live is not None else self.waiting
        self._native(self.live is not None and self.plain)
        return error

    def _native(self, on: bool) -> None:
        """C callbacks serve their calls (on) or hand every call to the slots."""
        if self.native is not None:
            self.native.switch(on)


class RefreshedAfter:
    """A handler object whose every call refreshes memory when it returns.

    For a memory that may move: a handler may run host code that runs the
    guest again (a stdout writer calling an export), and the guest may grow
    its memory there, freeing the old mapping; the stub then stores its
    results through fresh views, never the freed ones."""

    def __init__(self, handlers, refresh: Callable[[], None]):
        self._handlers = handlers
        self._refresh = refresh

    def __getattr__(self, name: str):
        method = getattr(self._handlers, name)
        if not callable(method):
            return method
        refresh = self._refresh

        def call(*args):
            try:
                return method(*args)
            finally:
                refresh()

        return call


def _preceded(before: Callable[[], None], stub: Callable) -> Callable:
    def call(*args):
        before()
        return stub(*args)

    return call


class Stopped(BaseException):
    """Carries an exception stop() delivers (or a signal handler raised under
    a host call) out of the stub: a BaseException, so no stub turns it into
    an errno; `call` and wasmtime-py's hook raise the exception itself."""

    def __init__(self, error: BaseException):
        super().__init__(error)
        self.error = error


class Closed(RuntimeError):
    """A host call after wasi.close()."""


def _closed(*args):
    raise Closed("this WASI object was closed")


def import_function(slots: list, index: int) -> Callable[..., int | None]:
    """A function of wasi_import: the lowered ABI, as the guest calls it."""

    def call(*args):
        return slots[index](*args)

    return call


# Frames of a host call under way, for in_flight(): the callbacks, and
# wasi_import's functions (which a host may register itself).
_ENTRY_CODES = CALLBACK_CODES | {import_function([], 0).__code__}

# Bridges by their slots list (which every callback of theirs holds).
_BRIDGES: weakref.WeakValueDictionary = weakref.WeakValueDictionary()

# Where each callback's `try` begins: an exception raised at a bytecode
# before it (the first, where Python runs signal handlers and raises async
# exceptions) escapes the callback.
def _try_start(code) -> int:
    entries = getattr(dis.Bytecode(code), "exception_entries", None)  # Python 3.11+
    if entries:
        return min(e.start for e in entries)
    return next(i.offset for i in dis.get_instructions(code) if i.opname == "SETUP_FINALLY")


_TRY_START = {code: _try_start(code) for code in CALLBACK_CODES}


def entered(frame) -> tuple[object, Bridge | None, bool] | None:
    """The callback `frame` runs in (it or a caller of it): its frame, its
    bridge (None for a callback of another kind) and whether it is still
    before its `try`."""
    while frame is not None:
        if frame.f_code in CALLBACK_CODES:
            start = _TRY_START.get(frame.f_code)
            bridge = _BRIDGES.get(id(frame.f_locals.get("slots")))
            if bridge is None or start is None:
                return frame, None, True
            return frame, bridge, frame.f_lasti < start
        frame = frame.f_back
    return None


def _on_unraisable(unraisable) -> None:
    """An exception that escaped one of our callbacks (raised at its first
    bytecode: an async exception, a signal handler's): ctypes can only
    report it, and the guest goes on. Stop the guest with it instead."""
    code = getattr(unraisable.object, "__code__", None)
    if code is not None and code in CALLBACK_CODES and unraisable.exc_value is not None:
        cells = dict(zip(code.co_freevars, unraisable.object.__closure__ or ()))
        bridge = _BRIDGES.get(id(cells["slots"].cell_contents)) if "slots" in cells else None
        if bridge is not None:
            bridge.stop(unraisable.exc_value)
            return
    _previous_unraisablehook(unraisable)


_previous_unraisablehook = sys.unraisablehook
sys.unraisablehook = _on_unraisable


# Calling into the guest ----------------------------------------------------------


def call(store: wasmtime.Store, func: wasmtime.Func) -> None:
    """Call an export that takes and returns nothing (_start, _initialize),
    re-raising what a host call kept for this thread."""
    if not RAW:
        try:
            func(store)
        finally:
            _local.pending = None
        return
    trap = _VOID()
    _local.pending = None
    _local.depth = getattr(_local, "depth", 0) + 1
    try:
        error = _func_call(_address(store._context()), ctypes.addressof(func._func), None, 0, None, 0, ctypes.byref(trap))
    finally:
        _local.depth -= 1
        pending, _local.pending = getattr(_local, "pending", None), None
    if not error and not trap.value:
        return
    # A trap raised by wasm comes back in `trap`; one a host call returned
    # comes back as an error (wasmtime's C API). Either way, what the host
    # call kept explains it.
    failure: wasmtime.WasmtimeError | wasmtime.Trap
    if error:
        failure = wasmtime.WasmtimeError._from_ptr(ctypes.cast(error, ctypes.POINTER(ffi.wasmtime_error_t)))
    else:
        failure = wasmtime.Trap._from_ptr(ctypes.cast(trap, ctypes.POINTER(ffi.wasm_trap_t)))
    try:
        if isinstance(pending, Stopped):
            raise pending.error
        if isinstance(pending, (ProcExit, SystemExit, KeyboardInterrupt)):
            raise pending
        if pending is not None and not _is_guest_trap(pending):
            raise failure from pending
        raise failure
    finally:
        # The exception's traceback holds this frame: without these locals
        # there is no cycle, so the run's store and module (and the fd of
        # cached code) go as soon as the caller lets the exception go.
        del failure, pending


def _is_guest_trap(error: BaseException) -> bool:
    """A failure that is the guest's to see, as a trap with a message (a bad
    pointer, a call after close), rather than an exception for the host."""
    return isinstance(error, (GuestTrap, Closed, ForeignStore))


# Exports -------------------------------------------------------------------------


def export(store: wasmtime.Store, instance: wasmtime.Instance, name: str):
    """`instance`'s export `name` (a wasmtime Func, Memory...), or None.
    Looked up alone: wasmtime-py's exports() wraps every export the instance
    has (about 8 us each, and programs export hundreds)."""
    if not RAW or _export_get is None:
        return instance.exports(store).get(name)
    item = ffi.wasmtime_extern_t()
    key = name.encode()
    if not _export_get(_address(store._context()), ctypes.addressof(instance._instance), key, len(key), ctypes.byref(item)):
        return None
    return wrap_extern(item)


# Linear memory -------------------------------------------------------------------


def memory_source(store: wasmtime.Store, memory: wasmtime.Memory):
    """A GuestMemory source over a wasmtime memory: (address, size), read from
    the C API (whoever binds it keeps the store alive)."""
    if RAW:
        context = _address(store._context())
        # A copy of the memory's handle of its own: the Memory object (an
        # export looked up once) may be gone before the source.
        handle = type(memory._memory).from_buffer_copy(memory._memory)
        address = ctypes.addressof(handle)

        def raw():
            return _memory_data(context, address) or 0, _memory_data_size(context, address)

        raw.handle = handle  # type: ignore[attr-defined]
        return raw

    def public():
        return ctypes.addressof(memory.data_ptr(store).contents), memory.data_len(store)

    return public


_MOVES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def memory_may_move(store: wasmtime.Store, memory: wasmtime.Memory) -> bool:
    """Whether growing this memory can move it (a small memory reservation).

    Answered by experiment, once per engine and memory type: a memory of the
    same type in a throwaway store of the same engine is grown to its maximum
    in one step. Growing only commits address space; nothing is touched."""
    minimum, maximum, is_64, shared = _memory_shape(store, memory)
    if shared:
        return False  # shared memories never move
    if is_64:
        return True  # no maximum worth probing
    engine = store.engine
    key = (minimum, maximum)
    answers = _MOVES.setdefault(engine, {})
    if key not in answers:
        answers[key] = _probe(engine, minimum, maximum)
    return answers[key]


def _memory_shape(store: wasmtime.Store, memory: wasmtime.Memory) -> tuple[int, int | None, bool, bool]:
    """(minimum pages, maximum pages or None, 64-bit, shared): read from the C
    API in a few microseconds (wasmtime-py's MemoryType and Limits cost 15)."""
    if not RAW or None in _MEMORY_TYPE_API:
        ty = memory.type(store)
        return ty.limits.min, ty.limits.max, getattr(ty, "is_64", False), getattr(ty, "is_shared", False)
    ty = _memory_type(_address(store._context()), ctypes.addressof(memory._memory))
    try:
        maximum = ctypes.c_uint64()
        has_maximum = _memorytype_maximum(ty, ctypes.byref(maximum))
        return (_memorytype_minimum(ty), maximum.value if has_maximum else None, _memorytype_is64(ty),
                _memorytype_isshared(ty))
    finally:
        _memorytype_delete(ty)


def _probe(engine: wasmtime.Engine, minimum: int, maximum: int | None) -> bool:
    limit = maximum if maximum is not None else 65536
    try:
        scratch = wasmtime.Store(engine)
        probe = wasmtime.Memory(scratch, wasmtime.MemoryType(wasmtime.Limits(minimum, maximum)))
        before = ctypes.addressof(probe.data_ptr(scratch).contents)
        if limit > minimum:
            probe.grow(scratch, limit - minimum)
        return ctypes.addressof(probe.data_ptr(scratch).contents) != before
    except Exception:
        return True  # could not tell: refresh on every call
