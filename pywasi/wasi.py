"""The WASI class: Node's node:wasi, the Python way, on wasmtime.

This module is the only one that knows both wasmtime and the user: it checks
options in the order Node does, sets the host up (stdio, preopens), hands the
generated stubs to the bridge, and runs `_start` or `_initialize`.
"""

from __future__ import annotations

import functools
import importlib
import io
import math
import os
import resource
import socket
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Mapping

import wasmtime

from pywasi.generated.versions import BY_NAME, VERSIONS, Version
from pywasi.handlers.descriptors.base import STREAM_READ, STREAM_WRITE, Descriptor
from pywasi.handlers.descriptors.socket import Listener, listening_socket
from pywasi.handlers.descriptors.stdio import HostStream, MemoryInput, MemoryOutput
from pywasi.runtime.errors import ProcExit
from pywasi.handlers.fdtable import FdTable
from pywasi.handlers.host import DeterministicHost, Host
from pywasi.handlers.preopens import HostDir

from . import bridge, interrupt, native, trace as tracing
from .errors import AlreadyStarted, InvalidArgType, InvalidArgValue, NotStarted, OutOfRange, describe
from .options import Args, Env, Output, Preopens, Sockets, Stdin, TraceTarget
from .preopen import ReadOnly
from .runtime.memory import GuestMemory
from .results import TimeoutExpired
from .stop import EpochsOff, Stop, has_epochs
from .trace_events import ChromeTrace


class _Captured64M:
    """max_output's default: 64 MiB of output captured in memory, no limit
    on a host fd (a terminal, a pipe or a file the host chose)."""

    def __repr__(self) -> str:
        return "64 MiB if captured"


CAPTURED_64M = _Captured64M()

_INT32_MAX = 2**31 - 1
_generated = functools.cache(importlib.import_module)  # a version's stubs, by module name
# Each store's WASI object (its bridge, weakly: a bridge holds the store).
_BOUND_STORES: weakref.WeakKeyDictionary[wasmtime.Store, weakref.ref[bridge.Bridge]] = weakref.WeakKeyDictionary()
_HALF_THE_HOST_LIMIT = object()  # max_fds's default: default_max_fds() when the WASI is made


class WASI:
    """A WASI host for one program instance::

        WASI(*, version="preview1", args=(), env=None, preopens=None,
             return_on_exit=True, stdin=0, stdout=1, stderr=2, sockets=(),
             max_fds=<half the host's soft RLIMIT_NOFILE>, max_output=CAPTURED_64M, trace=None,
             trace_format="text", stats=None, deterministic=False, seed=0, timeout=None)

    Node's options: `version` is "preview1" or "unstable" ("preview0" is
    another name for it), each served as the ABI it is. `args` is the
    guest's whole argv (str, bytes or paths); `env` a mapping of names to
    values (None values are skipped). `preopens` maps the path the guest
    sees to a host directory, a pywasi.ReadOnly, a pywasi.MemoryDir or a
    pywasi.Overlay. `stdin`, `stdout`, `stderr`: a host fd, as in Node; or a
    binary file object (one with fileno() is used as that fd; without, as
    an io.BytesIO, output is captured in memory and input read from it); or
    bytes for stdin. `return_on_exit`: proc_exit makes start() return the
    code; with False it raises SystemExit(code).

    Beyond Node:

    `sockets`: listening sockets handed to the guest, as wasmtime's CLI does
    with --tcplisten: `socket.socket` objects (the host's: the guest closing
    its fd leaves them open) or "HOST:PORT" strings (pywasi listens). They
    take the fds after stdio, before the preopens.

    Limits for a host running untrusted code: `max_fds` is the most
    descriptors the guest may hold open (stdio included; EMFILE past it),
    by default half the host's soft RLIMIT_NOFILE, so that however many the
    guest opens, the host keeps the other half for itself;
    `max_output` the most bytes the guest may write to stdout, and to
    stderr: past it its writes fail with EFBIG. By default 64 MiB of output
    captured in memory (a BytesIO), and no limit on a host fd. None: no limit.

    `deterministic`: the same inputs give the same run, byte for byte:
    virtual clocks (from 2000-01-01T00:00:00Z and 0, 1 us more at each read,
    and exactly what the guest sleeps), sleeps that take no wall time,
    random_get from MT19937 seeded with `seed` (reproducible, not secret),
    and fd_readdir in byte order of the names (README: Deterministic runs).

    `trace` (a text or binary file object, which gets one line per host
    call, or a callable, which gets each call's pywasi.trace.HostCall) and
    `stats` (a pywasi.Stats that counts calls, outcomes and time in the
    host). Either installs other stubs; without them nothing is traced.
    `trace_format="chrome"` writes Trace Event JSON to the trace file
    object instead of lines (one slice per host call on the guest's thread,
    for Perfetto and chrome://tracing), whole once the object is closed.

    `timeout` (seconds of wall clock): start() or initialize() stops the
    guest past it, wherever it is (computing, sleeping in poll_oneoff, blocked
    reading a pipe or accepting a connection), and raises
    pywasi.TimeoutExpired. The engine must have epoch interruption
    (`config.epoch_interruption = True`); the store's epoch deadline is
    pywasi's while the guest runs, and nobody needs to call increment_epoch.
    """

    def __init__(
        self,
        *,
        version: str = "preview1",
        args: Args = (),
        env: Env | None = None,
        preopens: Preopens | None = None,
        return_on_exit: bool = True,
        stdin: Stdin = 0,
        stdout: Output = 1,
        stderr: Output = 2,
        sockets: Sockets = (),
        max_fds: int | None = _HALF_THE_HOST_LIMIT,  # type: ignore[assignment]
        max_output: int | None | _Captured64M = CAPTURED_64M,
        trace: TraceTarget | None = None,
        trace_format: str = "text",
        stats: tracing.Stats | None = None,
        timeout: float | None = None,
        deterministic: bool = False,
        seed: int = 0,
    ) -> None:
        # Node's order: version, args, env, preopens, stdio, host setup,
        # returnOnExit; sockets, which Node has not, just before host setup.
        chosen = _version(version)
        self._abi = _generated(chosen.module)
        #: Node's name of the version served: "preview1" or "unstable".
        self.version = chosen.name  # Node's name, whichever alias was given
        argv = _args(args)
        environ = _env(env)
        preopen_list = _preopens(preopens)
        stdio = [_stdio("stdin", stdin, True), _stdio("stdout", stdout, False), _stdio("stderr", stderr, False)]
        listeners = _sockets(sockets)
        least = 3 + len(listeners) + len(preopen_list)
        if max_fds is _HALF_THE_HOST_LIMIT:
            max_fds = max(default_max_fds(), least)
        max_fds = _limit("max_fds", max_fds, least)
        if max_output is not CAPTURED_64M:
            max_output = _limit("max_output", max_output, 0)
        fds = _host_setup(stdio, listeners, preopen_list, max_fds, max_output)
        try:
            if not isinstance(return_on_exit, bool):
                raise InvalidArgType(f"return_on_exit must be a bool, not {describe(return_on_exit)}")
            self._trace = _trace(trace, trace_format)  # pywasi's own options come after Node's
            self._stats = _stats(stats)
            self._timeout = _timeout(timeout)
            seed = _seed(deterministic, seed)
        except BaseException:
            fds.close_all()
            raise

        self._host: Host
        if deterministic:
            self._host = DeterministicHost(args=argv, env=environ, fds=fds, return_on_exit=return_on_exit, seed=seed)
        else:
            self._host = Host(args=argv, env=environ, fds=fds, return_on_exit=return_on_exit)
        self._memory = GuestMemory()
        self._native = native.calls_for(self._host, chosen.module.rsplit(".", 1)[1])
        self._bridge = bridge.Bridge(self._abi.MODULE, self._abi.FUNCTIONS, _not_started, self._native)
        self._started = False
        self._closed = False
        self._store: wasmtime.Store | None = None
        self._instance: wasmtime.Instance | None = None
        self._args = [a.decode("utf-8", "surrogateescape") for a in argv]
        # Whether a run takes over the store's epoch deadline even without a
        # timeout (pywasi.run's own stores: it stops them on a cancel).
        self._arm_epochs = self._timeout is not None
        self._stop: Stop | None = None  # the running guest's, while it runs
        self._stop_lock = threading.Lock()
        self._early_stop: tuple[str, BaseException] | None = None  # asked for before the guest ran
        # Collected without close(): release the host's fds all the same, and
        # say so, as a Python file does (not at exit, where the OS does it).
        self._finalizer = weakref.finalize(self, _collected, self._bridge, self._memory, self._host, self._trace)
        self._finalizer.atexit = False
        self._wasi_import: dict[str, Callable[..., int | None]] | None = None

    # Node's API ------------------------------------------------------------

    @property
    def wasi_import(self) -> dict[str, Callable[..., int | None]]:
        """The host functions at the lowered ABI (ints in, errno out), by name
        (made when first asked for: most hosts never do)."""
        if self._wasi_import is None:
            self._wasi_import = self._bridge.import_functions()
        return self._wasi_import

    def get_import_object(self) -> dict[str, dict[str, Callable[..., int | None]]]:
        """`{namespace: wasi_import}`, as Node's: the host functions under the
        module name the version imports them from."""
        return {self._abi.MODULE: self.wasi_import}

    def define(self, linker: wasmtime.Linker) -> None:
        """Register every function of this version in `linker` (the fast path)."""
        if not isinstance(linker, wasmtime.Linker):
            raise InvalidArgType(f"linker must be a wasmtime.Linker, not {describe(linker)}")
        self._bridge.define(linker)

    def start(self, instance: wasmtime.Instance, store: wasmtime.Store) -> int:
        """Run a command: `_start` of `instance`, whose exports `store` holds.
        Returns its exit code (0 if it returns)."""
        exports, memory = self._begin(instance, store)
        start = exports.get("_start")
        if not isinstance(start, wasmtime.Func):
            raise InvalidArgType(
                f'"instance.exports._start" must be a function, not {describe(start)}'
            )
        if "_initialize" in exports:
            raise InvalidArgType('"instance.exports._initialize" must be absent from a command')
        self._bind(instance, store, memory)
        try:
            self._run(store, start)
        except ProcExit as exit:
            return exit.code
        return 0

    def initialize(self, instance: wasmtime.Instance, store: wasmtime.Store) -> None:
        """Set up a reactor: call `_initialize` of `instance` (whose exports
        `store` holds) if it exports one; then the host calls its exports."""
        exports, memory = self._begin(instance, store)
        if "_start" in exports:
            raise InvalidArgType('"instance.exports._start" must be absent from a reactor')
        init = exports.get("_initialize")
        if init is not None and not isinstance(init, wasmtime.Func):
            raise InvalidArgType(
                f'"instance.exports._initialize" must be a function, not {describe(init)}'
            )
        self._bind(instance, store, memory)
        if init is not None:
            self._run(store, init)

    def finalize_bindings(
        self, instance: wasmtime.Instance, store: wasmtime.Store, *, memory: wasmtime.Memory | None = None
    ) -> None:
        """Bind memory without running anything (Node >= 24.4): for a module
        used as a library, whose exports the host calls itself."""
        if self._started:
            raise AlreadyStarted()
        exports = _exports(instance, store)
        if memory is None:
            memory = _memory_export(exports)
        elif not isinstance(memory, wasmtime.Memory):
            raise InvalidArgType(f"memory must be a wasmtime.Memory, not {describe(memory)}")
        self._started = True
        self._bind(instance, store, memory)

    # Lifetime --------------------------------------------------------------

    def close(self) -> None:
        """Close every host fd the guest opened; the instance can no longer call in."""
        if self._closed:
            return
        self._closed = True
        self._finalizer.detach()
        _close(self._bridge, self._memory, self._host, self._trace)
        self._store = self._instance = None

    def __enter__(self) -> WASI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Internals -------------------------------------------------------------

    def _begin(self, instance, store) -> tuple[_Exports, wasmtime.Memory]:
        """Node's first checks of start() and initialize(): started once, and
        marked started before anything else is checked."""
        if self._started:
            raise AlreadyStarted()
        self._started = True
        exports = _exports(instance, store)
        return exports, _memory_export(exports)

    def _bind(self, instance, store, memory: wasmtime.Memory) -> None:
        # One store serves one open WASI object: with the extension, a call
        # finds its WASI object by its store (and the pure-Python bridge
        # keeps the same rule, whichever path a build runs on).
        ref = _BOUND_STORES.get(store)
        other = ref() if ref is not None else None
        if other is not None and not other.closed:
            raise InvalidArgValue(
                "store is bound to another WASI object that is not closed: one store serves one WASI object"
            )
        if self._native is not None:  # from now on, calls from `store` reach this object
            self._native.bind(store, memory, self._bridge.slots)
        _BOUND_STORES[store] = weakref.ref(self._bridge)
        self._store, self._instance = store, instance
        moving = bridge.memory_may_move(store, memory)
        self._memory.bind(bridge.memory_source(store, memory), moves=moving)
        handlers = bridge.RefreshedAfter(self._host, self._memory.refresh) if moving else self._host
        stubs = self._abi.bind(handlers, self._memory)
        if self._stats is not None:
            stubs = self._stats.stubs(self._abi, stubs)
        if self._trace is not None:
            stubs = tracing.trace_stubs(self._abi, stubs, self._memory, self._trace)
        plain = self._stats is None and self._trace is None
        self._bridge.install(stubs, store, before=self._memory.refresh if moving else None, plain=plain)
        interrupt.attach(self._bridge)

    def _run(self, store: wasmtime.Store, func: wasmtime.Func) -> None:
        stop = Stop(store.engine)
        try:
            with stop.running():
                # A timeout needs epochs; an engine that checks them anyway
                # (pywasi.new_engine's) gets a deadline that only a stop
                # reaches, not the store's default one, already past.
                if self._arm_epochs or has_epochs(store.engine):
                    try:
                        stop.arm(store)
                    except EpochsOff as e:
                        raise InvalidArgValue(str(e)) from None
                if self._timeout is not None:
                    timeout, args = self._timeout, self._args
                    stop.fire_at(time.monotonic() + timeout, "timeout", lambda: TimeoutExpired(args, timeout))
                with self._stop_lock:
                    self._stop = stop
                    early, self._early_stop = self._early_stop, None
                if early is not None:
                    stop.fire(*early)
                with interrupt.epoch_on_sigint(stop):
                    bridge.call(store, func)
        except ProcExit:
            raise
        except BaseException:
            error, stop.error = stop.error, None
            if error is None:
                raise
            try:  # stopped from outside: say why, not how it trapped
                raise error from None
            finally:
                del error  # no cycle through its traceback and this frame
        finally:
            self._stop = None
            stopped = self._bridge.take_stop()
        if stopped is not None:  # Bridge.stop() while the guest returned without another host call
            raise stopped

    def _stop_run(self, reason: str, error: BaseException) -> bool:
        """End the guest from another thread (a cancel): start() raises
        `error`. Asked before the guest runs, it ends as soon as it starts."""
        with self._stop_lock:
            stop = self._stop
            if stop is None:
                self._early_stop = (reason, error)
                return True
        return stop.fire(reason, error)

    def _counts(self) -> tuple[int, int, int]:
        """(host calls, bytes read, bytes written) so far, for a usage record."""
        read, written = self._native.moved() if self._native is not None else (0, 0)
        return self._bridge.calls(), self._host.bytes_read + read, self._host.bytes_written + written


def _close(bridge_: bridge.Bridge, memory: GuestMemory, host: Host, trace: object) -> None:
    """What close() does, and the finalizer of an object never closed (so it
    may not hold the WASI object itself)."""
    interrupt.detach(bridge_)
    bridge_.close()

    def release() -> None:
        memory.unbind()
        host.close()
        if isinstance(trace, ChromeTrace):
            trace.finish()  # the JSON document is whole

    # A call under way (in another thread) keeps its fds and memory until it
    # returns: see Bridge.after_calls.
    bridge_.after_calls(release)


def _collected(bridge_: bridge.Bridge, memory: GuestMemory, host: Host, trace: object) -> None:
    warnings.warn("unclosed WASI object: call close() or use it in a with block", ResourceWarning, stacklevel=2)
    _close(bridge_, memory, host, trace)


def default_max_fds() -> int:
    """The default `max_fds`: half the host's soft RLIMIT_NOFILE (512 under the
    usual 1,024), so that a guest holding all it may still leaves the host
    the other half for its own open() (a guest fd holds at most one host fd).
    Capped at a million where the host sets no limit."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY or soft > 1 << 21:
        soft = 1 << 21
    return soft // 2


# Option checks, in Node's order ------------------------------------------------


def _version(version) -> Version:
    if not isinstance(version, str):
        raise InvalidArgType(f"version must be a str, not {describe(version)}")
    try:
        return BY_NAME[version]
    except KeyError:
        names = " or ".join(repr(v.name) for v in VERSIONS)
        raise InvalidArgValue(f"version {version!r} is not supported: use {names}") from None


def _trace(trace, trace_format):
    if not isinstance(trace_format, str):
        raise InvalidArgType(f"trace_format must be a str, not {describe(trace_format)}")
    if trace_format not in ("text", "chrome"):
        raise InvalidArgValue(f"trace_format must be 'text' or 'chrome', not {trace_format!r}")
    if trace is None:
        return None
    if trace_format == "chrome":
        if not callable(getattr(trace, "write", None)):
            raise InvalidArgValue(
                "trace_format='chrome' writes to a file object; a callable trace gets each pywasi.HostCall"
            )
        return ChromeTrace(trace)
    sink = tracing.sink_of(trace)
    if sink is None:
        raise InvalidArgType(f"trace must be a file object or a callable, not {describe(trace)}")
    return sink


def _seed(deterministic, seed) -> int:
    if not isinstance(deterministic, bool):
        raise InvalidArgType(f"deterministic must be a bool, not {describe(deterministic)}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InvalidArgType(f"seed must be an int, not {describe(seed)}")
    if not 0 <= seed < 2**64:
        raise OutOfRange(f"seed must be >= 0 and < 2**64, not {seed}")
    return seed


def _stats(stats):
    if stats is not None and not isinstance(stats, tracing.Stats):
        raise InvalidArgType(f"stats must be a pywasi.Stats, not {describe(stats)}")
    return stats


def _timeout(timeout):
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise InvalidArgType(f"timeout must be a number of seconds or None, not {describe(timeout)}")
    if not timeout > 0 or math.isnan(timeout):
        raise OutOfRange(f"timeout must be more than 0 seconds, not {timeout}")
    return timeout


def _encoded(value, what: str) -> bytes:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogateescape")
    elif not isinstance(value, bytes):
        raise InvalidArgType(f"{what} must be str or bytes, not {describe(value)}")
    if b"\0" in value:
        raise InvalidArgValue(f"{what} contains a NUL byte: {value!r}")
    return value


def _args(args) -> list[bytes]:
    if isinstance(args, (str, bytes)) or not isinstance(args, (list, tuple)):
        raise InvalidArgType(f"args must be a list or tuple, not {describe(args)}")
    return [_encoded(a, f"args[{i}]") for i, a in enumerate(args)]


def _env(env) -> list[bytes]:
    if env is None:
        return []
    if not isinstance(env, Mapping):
        raise InvalidArgType(f"env must be a mapping, not {describe(env)}")
    out = []
    for key, value in env.items():
        if value is None:
            continue  # Node skips undefined values
        k = _encoded(key, "env key")
        if b"=" in k or not k:
            raise InvalidArgValue(f"env key {key!r} is empty or contains '='")
        out.append(k + b"=" + _encoded(value, f"env[{key!r}]"))
    return out


def _preopens(preopens) -> list[tuple[str, object, bool]]:
    """(guest name, preopen object, read-only) for each preopen: a host path
    becomes a HostDir; an object with `preopen` (a MemoryDir, an Overlay)
    is itself."""
    if preopens is None:
        return []
    if not isinstance(preopens, Mapping):
        raise InvalidArgType(f"preopens must be a mapping, not {describe(preopens)}")
    out = []
    for guest, host in preopens.items():
        if not isinstance(guest, str):
            raise InvalidArgType(f"preopens keys are guest paths (str), not {describe(guest)}")
        read_only = isinstance(host, ReadOnly)
        if read_only:
            host = host.path
        if not callable(getattr(host, "preopen", None)):
            if not isinstance(host, (str, bytes, os.PathLike)):
                raise InvalidArgType(
                    f"preopens[{guest!r}] must be a host path (str, bytes or os.PathLike), a MemoryDir, "
                    f"an Overlay or a ReadOnly of one, not {describe(host)}"
                )
            host = HostDir(_encoded(host, f"preopens[{guest!r}]"))
        out.append((guest, host, read_only))
    return out


def _stdio(name: str, value, readable: bool):
    if isinstance(value, bool):
        raise InvalidArgType(f"{name} must be an int fd or a binary file object, not {describe(value)}")
    if isinstance(value, int):
        if not 0 <= value <= _INT32_MAX:
            raise OutOfRange(f"{name} is out of range: it must be >= 0 and <= {_INT32_MAX}, not {value}")
        return ("fd", value)
    if isinstance(value, float):
        raise OutOfRange(f"{name} is out of range: it must be an integer, not {value}")
    if readable and isinstance(value, (bytes, bytearray, memoryview)):
        return ("reader", io.BytesIO(bytes(value)))
    if isinstance(value, io.TextIOBase):
        raise InvalidArgType(f"{name} must be a binary file object, not a text stream ({_text_stream_fix(value, readable)})")
    fileno = _fileno(value)
    if fileno is not None:
        return ("file", value)
    if readable and callable(getattr(value, "readinto", None)):
        return ("reader", value)
    if not readable and callable(getattr(value, "write", None)):
        return ("writer", value)
    kinds = "an int fd, bytes or a binary file object" if readable else "an int fd or a binary file object"
    raise InvalidArgType(f"{name} must be {kinds}, not {describe(value)}")


def _text_stream_fix(stream: io.TextIOBase, readable: bool) -> str:
    """What to pass instead of a text stream: the bytes under it, or, for
    one that has none (a StringIO), what holds bytes."""
    if isinstance(getattr(stream, "buffer", None), io.BufferedIOBase):
        return "pass its .buffer"
    if readable:
        return "pass the text encoded, as bytes, or an io.BytesIO"
    return "pass an io.BytesIO, and decode its getvalue()"


def _sockets(sockets) -> list:
    if isinstance(sockets, (str, bytes)) or not isinstance(sockets, (list, tuple)):
        raise InvalidArgType(f"sockets must be a list or tuple, not {describe(sockets)}")
    out = []
    for i, s in enumerate(sockets):
        if isinstance(s, socket.socket):
            if s.type != socket.SOCK_STREAM or not s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
                raise InvalidArgValue(f"sockets[{i}] is not a listening stream socket")
        elif isinstance(s, str):
            if s.rpartition(":")[0] == "" or not s.rpartition(":")[2].isdigit():
                raise InvalidArgValue(f"sockets[{i}] {s!r} is not HOST:PORT")
        else:
            raise InvalidArgType(f"sockets[{i}] must be a socket.socket or 'HOST:PORT', not {describe(s)}")
        out.append(s)
    return out


def _fileno(value) -> int | None:
    try:
        fd = value.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return None
    return fd if isinstance(fd, int) else None


def _limit(name: str, value, least: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgType(f"{name} must be an int or None, not {describe(value)}")
    if value < least:
        raise OutOfRange(f"{name} must be at least {least} here, not {value}")
    return value


def _host_setup(stdio, sockets, preopens, max_fds=None, max_output=None) -> FdTable:
    fds = FdTable(max_fds if max_fds is not None else 1 << 31)
    try:
        for index, (kind, value) in enumerate(stdio):
            fds.add(_stream(index, kind, value, max_output))
        for s in sockets:
            fds.add(Listener(s, owned=False) if isinstance(s, socket.socket) else Listener(listening_socket(s), owned=True))
        for guest, tree, read_only in preopens:
            directory = tree.preopen(guest, read_only)
            try:
                fds.add(directory)
            except BaseException:
                directory.close()
                raise
    except BaseException:
        fds.close_all()
        raise
    return fds


def _stream(index: int, kind: str, value, max_output) -> Descriptor:
    rights = STREAM_READ if index == 0 else STREAM_WRITE
    if index == 0:
        max_output = None
    if kind in ("fd", "file"):
        limit = None if max_output is CAPTURED_64M else max_output
        if kind == "fd":
            return HostStream(value, rights, limit=limit)
        if index:
            value.flush()  # what Python buffered goes out before the guest writes
        return HostStream(value.fileno(), rights, keep=value, limit=limit)
    if index == 0:
        return MemoryInput(value, rights)
    return MemoryOutput(value, rights, 64 << 20 if max_output is CAPTURED_64M else max_output)


# Binding -----------------------------------------------------------------------


def _exports(instance, store) -> _Exports:
    if not isinstance(instance, wasmtime.Instance):
        raise InvalidArgType(f"instance must be a wasmtime.Instance, not {describe(instance)}")
    if not isinstance(store, wasmtime.Store):
        raise InvalidArgType(f"store must be a wasmtime.Store, not {describe(store)}")
    return _Exports(instance, store)


class _Exports:
    """An instance's exports, each looked up when asked for (start() needs
    three of what may be hundreds)."""

    __slots__ = ("_instance", "_store")

    def __init__(self, instance: wasmtime.Instance, store: wasmtime.Store):
        self._instance, self._store = instance, store

    def get(self, name: str):
        return bridge.export(self._store, self._instance, name)

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None


def _memory_export(exports: _Exports) -> wasmtime.Memory:
    memory = exports.get("memory")
    if not isinstance(memory, wasmtime.Memory):
        raise InvalidArgType(f'"instance.exports.memory" must be a wasmtime.Memory, not {describe(memory)}')
    return memory


@functools.cache  # the same for every WASI object
def _not_started(name: str):
    def waiting(*args):
        raise NotStarted(name)

    return waiting
