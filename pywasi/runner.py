"""pywasi.run: a whole program in one call, in subprocess.run's shape, under
limits (time, memory, fuel, output, descriptors), with a record of what it
used.

Engines have epoch interruption on, so that a timeout, a cancel or Ctrl-C
stops even a guest that loops without calling the host (stop.py). One engine
serves every run of the process (one more when fuel is metered): stores are
per run, and each run's stop ends only its own. With the C extension one
linker per engine and version serves them too (its host calls find their
WASI object by store), so a run registers nothing. Compiled code is cached
on disk (cache.py), and what a module's checks found is kept by its SHA-256.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import io
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import wasmtime

from pywasi.generated.versions import BY_NAME, BY_NAMESPACE, DEFAULT

from . import cache as module_cache, native
from .audit import UNKNOWN, audit_module
from .bridge import export
from .errors import InvalidArgType, InvalidArgValue, ModuleError, describe
from .results import CompletedRun, TimeoutExpired, Usage
from .wasi import WASI

EXIT_TRAP = 134  # a trap's returncode: what wasmtime's CLI exits with (128 + SIGABRT)


# What new_engine sets: part of the compiled-code cache's key.
ENGINE_SETTINGS = "epoch_interruption"
_FUEL_SETTINGS = ENGINE_SETTINGS + " consume_fuel"
_engines: dict[bool, wasmtime.Engine] = {}
_engines_lock = threading.Lock()


def new_engine(fuel: bool = False) -> wasmtime.Engine:
    """A wasmtime engine set up as pywasi.run's: epoch interruption on, so
    that Ctrl-C and WASI(timeout=...) stop a guest wherever it is, even in
    a loop that never calls the host; with `fuel`, fuel metering too (then
    give the store fuel: `store.set_fuel(n)`)."""
    config = wasmtime.Config()
    config.epoch_interruption = True
    config.consume_fuel = fuel
    return wasmtime.Engine(config)


def shared_engine(fuel: bool = False) -> wasmtime.Engine:
    """The process's engine for runs (with fuel metering, or without)."""
    with _engines_lock:
        if fuel not in _engines:
            _engines[fuel] = new_engine(fuel)
        return _engines[fuel]


def read_module(source) -> tuple[bytes, str]:
    """The bytes of a module given as a path, wasm bytes or WAT text, and a
    name for messages."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), "<bytes>"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            return path.read_bytes(), str(path)
        except FileNotFoundError:
            raise ModuleError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise ModuleError(f"{path}: is a directory") from None
        except OSError as e:
            raise ModuleError(f"{path}: {e.strerror}") from None
    raise ModuleError(f"a module is a path or bytes, not {type(source).__name__}")


def compile_module(engine: wasmtime.Engine, data: bytes, name: str, cache_dir: Path | None = None,
                   settings: str = ENGINE_SETTINGS, digest: str | None = None) -> wasmtime.Module:
    """`data` (wasm or WAT) compiled, from the cache in `cache_dir` when it
    holds it; `digest`: the SHA-256 of `data` (hex), if the caller has it."""
    if not data:
        raise ModuleError(f"{name}: is empty, not a WebAssembly module")
    if data[:4] == b"\0asm":
        if len(data) >= 8 and data[6:8] != b"\0\0":
            raise ModuleError(
                f"{name}: is a WebAssembly component (a WASI preview2 binary); pywasi runs core modules"
            )
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ModuleError(f"{name}: neither a wasm binary nor WAT text (not UTF-8 text)") from None
        try:
            data, digest = bytes(wasmtime.wat2wasm(text)), None
        except wasmtime.WasmtimeError as e:
            if not _LOOKS_LIKE_WAT.match(text):
                raise ModuleError(f"{name}: neither a wasm binary nor WAT text ({_first_line(e)})") from None
            raise ModuleError(_wat_error(name, e)) from None
    try:
        return module_cache.compile_cached(engine, data, settings, cache_dir, name, digest)
    except wasmtime.WasmtimeError as e:
        raise ModuleError(f"{name}: not a valid WebAssembly module: {_cause(e)}") from None


def detect_version(module: wasmtime.Module) -> str:
    """The version (Node's name) whose namespace a module imports."""
    used = sorted({i.module for i in module.imports if i.module in BY_NAMESPACE})
    if len(used) > 1:
        raise ModuleError(f"the module imports both {' and '.join(used)}")
    return BY_NAMESPACE[used[0]].name if used else DEFAULT


def check_command(module: wasmtime.Module, name: str, version: str) -> None:
    """What makes a module fail to run as a WASI command, as one ModuleError
    naming it, before anything is instantiated: a WASI import the spec does
    not have or with another signature, no exported memory, no _start."""
    namespace = BY_NAME[version].namespace
    for imported in audit_module(module, name).wasi:
        if imported.module != namespace:
            continue  # not linked here: instantiation names it
        if imported.status == UNKNOWN:
            raise ModuleError(f"{name}: imports {namespace}::{imported.name}, which {namespace} does not have")
        if not imported.signature_ok:
            raise ModuleError(
                f"{name}: imports {namespace}::{imported.name} as {imported.signature}, "
                f"but {namespace} declares it {imported.expected}"
            )
    exports = {e.name: e.type for e in module.exports}
    if not isinstance(exports.get("memory"), wasmtime.MemoryType):
        raise ModuleError(f'{name}: exports no memory: a WASI program exports its linear memory as "memory"')
    if not isinstance(exports.get("_start"), wasmtime.FuncType):
        kind = " (it is a reactor: it exports _initialize)" if "_initialize" in exports else ""
        raise ModuleError(f"{name}: exports no _start function: not a WASI command{kind}")


class _WasiDefault:
    """An argument left out: WASI's own default applies."""

    def __repr__(self) -> str:
        return "<WASI's default>"


WASI_DEFAULT = _WasiDefault()


def run(
    module: str | os.PathLike[str] | bytes | bytearray | memoryview,
    *,
    args=(),
    env=None,
    preopens=None,
    input: bytes | None = None,
    capture_output: bool = False,
    stdin=None,
    stdout=None,
    stderr=None,
    timeout: float | None = None,
    max_memory: int | None = None,
    max_fuel: int | None = None,
    max_output=WASI_DEFAULT,
    max_fds=WASI_DEFAULT,
    check: bool = False,
    version: str = "auto",
    cache: bool | str | os.PathLike[str] = True,
    **wasi_options: Any,
) -> CompletedRun:
    """Run a WASI command (a path, wasm bytes or WAT text) to its end, as
    subprocess.run runs a program, and return a pywasi.CompletedRun.

    `module`: a .wasm or .wat path, wasm bytes or WAT text (as bytes).
    `args`, `env`, `preopens`: as WASI's (the guest's whole argv, its
    environment, what its paths are). `version`: "auto" (the ABI the
    module imports), "preview1" or "unstable".

    `input`: bytes for stdin. `capture_output=True`: stdout and stderr are
    collected as bytes (`max_output` bounds each). stdin/stdout/stderr: as
    WASI's (None: the host's own). `timeout`: seconds of wall clock, past
    which the guest is stopped wherever it is and pywasi.TimeoutExpired
    raised. `max_memory`: bytes linear memory may grow to (memory.grow fails
    past it). `max_fuel`: instructions, metered by wasmtime's fuel: running
    out is a trap with usage.ended_by == "fuel". `max_output`, `max_fds`: as
    WASI's. `check=True`: a nonzero returncode raises pywasi.RunError.
    `cache`: keep compiled code on disk (True: in $PYWASI_CACHE or the
    user's cache folder; a path: there; False: never). Other keywords are
    WASI's options."""
    job = Job(module, args=args, env=env, preopens=preopens, input=input, capture_output=capture_output,
              stdin=stdin, stdout=stdout, stderr=stderr, timeout=timeout, max_memory=max_memory,
              max_fuel=max_fuel, max_output=max_output, max_fds=max_fds, version=version, cache=cache,
              wasi_options=wasi_options)
    result = job.run()
    if check:
        result.check_returncode()
    return result


async def run_async(module: str | os.PathLike[str] | bytes | bytearray | memoryview, **options: Any) -> CompletedRun:
    """pywasi.run for asyncio, with the same arguments (`module` and the
    keywords): the guest runs in a
    thread of its own, off the event loop. Cancelling the task stops the
    guest (within milliseconds, wherever it is), waits for its thread to end,
    and raises CancelledError."""
    check = options.pop("check", False)
    job = Job(module, **_job_options(options))
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def settle(outcome, error):
        if not done.done():
            if error is not None:
                done.set_exception(error)
            else:
                done.set_result(outcome)

    def work():
        try:
            outcome, error = job.run(), None
        except _Cancelled:
            outcome, error = None, None  # what the cancelled task raises is CancelledError
        except BaseException as e:  # noqa: B036 - handed to the awaiting task
            outcome, error = None, e
        try:
            loop.call_soon_threadsafe(settle, outcome, error)
        except RuntimeError:
            pass  # the loop has closed: nobody awaits the outcome

    thread = threading.Thread(target=work, name="pywasi-run", daemon=True)
    thread.start()
    try:
        result = await asyncio.shield(done)
    except asyncio.CancelledError:
        job.cancel()
        try:
            await done
        except BaseException:  # noqa: B036 - the run's own ending, superseded by the cancel
            pass
        thread.join()
        raise
    thread.join()
    if check:
        result.check_returncode()
    return result


def _job_options(options: dict) -> dict:
    known = {"args", "env", "preopens", "input", "capture_output", "stdin", "stdout", "stderr", "timeout",
             "max_memory", "max_fuel", "max_output", "max_fds", "version", "cache"}
    out = {k: v for k, v in options.items() if k in known}
    out["wasi_options"] = {k: v for k, v in options.items() if k not in known}
    return out


class _Cancelled(Exception):
    """run_async's task was cancelled: what start() raises in the guest's thread."""


class Job:
    """One run: its options checked, then run() once. `cancel()` from any
    thread stops it; `usage` is filled in however it ends (the CLI writes it
    even after Ctrl-C)."""

    def __init__(self, module, *, args=(), env=None, preopens=None, input=None, capture_output=False,
                 stdin=None, stdout=None, stderr=None, timeout=None, max_memory=None, max_fuel=None,
                 max_output=WASI_DEFAULT, max_fds=WASI_DEFAULT, version="auto", cache=True, wasi_options=None):
        if input is not None:
            if stdin is not None:
                raise InvalidArgValue("stdin and input cannot both be given")
            if not isinstance(input, (bytes, bytearray, memoryview)):
                raise InvalidArgType(f"input must be bytes, not {describe(input)}")
            stdin = bytes(input)
        if capture_output:
            if stdout is not None or stderr is not None:
                raise InvalidArgValue("stdout and stderr cannot be given with capture_output=True")
            stdout, stderr = io.BytesIO(), io.BytesIO()
        self.captured = (stdout, stderr) if capture_output else None
        self.module = module
        self.version = version
        self.cache = cache
        self.max_memory = _size("max_memory", max_memory)
        self.max_fuel = _size("max_fuel", max_fuel)
        self.options = dict(wasi_options or {}, args=args, env=env, preopens=preopens, timeout=timeout)
        for name, value in (("stdin", stdin), ("stdout", stdout), ("stderr", stderr)):
            if value is not None:
                self.options[name] = value
        for name, value in (("max_output", max_output), ("max_fds", max_fds)):
            if value is not WASI_DEFAULT:
                self.options[name] = value
        self.args = list(args) if isinstance(args, (list, tuple)) else args
        self.timeout = timeout
        self.usage: Usage | None = None
        self._wasi: WASI | None = None
        self._cancelled = False

    def cancel(self) -> None:
        self._cancelled = True
        wasi = self._wasi
        if wasi is not None:
            wasi._stop_run("interrupt", _Cancelled())

    def run(self) -> CompletedRun:
        fuel = self.max_fuel is not None
        engine = shared_engine(fuel)
        settings = _FUEL_SETTINGS if fuel else ENGINE_SETTINGS
        data, name = read_module(self.module)
        digest = hashlib.sha256(data).hexdigest()
        cache_dir = None if self.cache is False else module_cache.default_dir() if self.cache is True else Path(self.cache)
        compiled = compile_module(engine, data, name, cache_dir, settings, digest)
        version = _checked_version(compiled, digest, name, self.version)
        with WASI(version=version, **self.options) as wasi:
            wasi._arm_epochs = True  # our store: a cancel must stop a pure loop too
            store = wasmtime.Store(engine)
            if self.max_memory is not None:
                store.set_limits(memory_size=self.max_memory)
            if fuel:
                store.set_fuel(self.max_fuel)
            linker = _linker(engine, fuel, wasi)
            try:
                instance = linker.instantiate(store, compiled)
            except wasmtime.Trap:
                raise
            except wasmtime.WasmtimeError as e:
                raise ModuleError(f"{name}: cannot be instantiated: {_first_line(e)}") from None
            return self._start(wasi, instance, store)

    def _start(self, wasi: WASI, instance, store) -> CompletedRun:
        self._wasi = wasi
        if self._cancelled:  # cancelled before it could start
            raise _Cancelled()
        wall, cpu = time.monotonic(), time.thread_time()
        trap = None
        try:
            code = wasi.start(instance, store)
            ended_by = "exit"
        except TimeoutExpired as e:  # WASI's: add what was captured and used
            self.usage = e.usage = self._usage(wasi, store, instance, wall, cpu, "timeout")
            e.output, e.stderr = self._output()
            raise
        except (KeyboardInterrupt, _Cancelled):
            self.usage = self._usage(wasi, store, instance, wall, cpu, "interrupt")
            raise
        except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
            ended_by = "fuel" if self.max_fuel is not None and store.get_fuel() == 0 else "trap"
            code, trap = EXIT_TRAP, trap_line(e)
        finally:
            self._wasi = None
        self.usage = self._usage(wasi, store, instance, wall, cpu, ended_by)
        out, err = self._output()
        return CompletedRun(args=self.args, returncode=code, stdout=out, stderr=err, trap=trap, usage=self.usage)

    def _usage(self, wasi, store, instance, wall, cpu, ended_by) -> Usage:
        calls, read, written = wasi._counts()
        memory = export(store, instance, "memory")
        return Usage(
            wall_s=time.monotonic() - wall,
            cpu_s=time.thread_time() - cpu,
            fuel=self.max_fuel - store.get_fuel() if self.max_fuel is not None else None,
            peak_memory=memory.data_len(store) if isinstance(memory, wasmtime.Memory) else 0,
            host_calls=calls,
            bytes_read=read,
            bytes_written=written,
            ended_by=ended_by,
        )

    def _output(self) -> tuple[bytes | None, bytes | None]:
        if self.captured is None:
            return None, None
        return self.captured[0].getvalue(), self.captured[1].getvalue()


# Modules that passed check_command, by (SHA-256, version asked for): the
# version they run as. Checking costs more than a small run (every import's
# and export's type, read through wasmtime-py), and a module's bytes decide it.
_CHECKED: collections.OrderedDict[tuple[str, str], str] = collections.OrderedDict()
_CHECKED_MAX = 1024
_checked_lock = threading.Lock()


def _checked_version(compiled: wasmtime.Module, digest: str, name: str, asked) -> Any:
    """The version a module runs as (detected for "auto"), once check_command
    has passed it; what WASI is to refuse (not a version's name) as it is."""
    key = (digest, asked) if isinstance(asked, str) else None
    if key is not None:
        with _checked_lock:
            known = _CHECKED.get(key)
            if known is not None:
                _CHECKED.move_to_end(key)
                return known
    version = detect_version(compiled) if asked == "auto" else asked
    if not (isinstance(version, str) and version in BY_NAME):
        return version  # anything else is WASI's to refuse
    check_command(compiled, name, version)
    if key is not None:
        with _checked_lock:
            _CHECKED[key] = version
            if len(_CHECKED) > _CHECKED_MAX:
                _CHECKED.popitem(last=False)
    return version


# Runs' linkers, by (fuel, version), when the C extension serves host calls:
# its callbacks find a call's WASI object by the caller's store, so one linker
# defined once serves every run, and a run registers nothing.
_linkers: dict[tuple[bool, str], wasmtime.Linker] = {}
_linkers_lock = threading.Lock()


def _linker(engine: wasmtime.Engine, fuel: bool, wasi: WASI) -> wasmtime.Linker:
    """A linker with `wasi`'s functions: the shared one of its version, or
    (without the extension, where each WASI object has callbacks of its own)
    a new one."""
    if not native.ENABLED:
        linker = wasmtime.Linker(engine)
        wasi.define(linker)
        return linker
    key = (fuel, wasi.version)
    with _linkers_lock:
        shared = _linkers.get(key)
        if shared is None:
            shared = wasmtime.Linker(engine)
            wasi.define(shared)
            _linkers[key] = shared
        return shared


def _size(name: str, value) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgType(f"{name} must be an int or None, not {describe(value)}")
    if value < 0:
        raise InvalidArgValue(f"{name} must be >= 0, not {value}")
    return value


# WAT text opens with a paren or a comment; wat2wasm's error for anything
# else is only that it expected a paren.
_LOOKS_LIKE_WAT = re.compile(r"\s*(\(|;;)")
# wat2wasm's messages point at the error as rustc's do: "  --> <anon>:3:11".
_WAT_LOCATION = re.compile(r"^\s*--> .*:(\d+):(\d+)\s*$", re.MULTILINE)


def _wat_error(name: str, error: Exception) -> str:
    """A WAT error as compilers print them: NAME:LINE:COLUMN: what is wrong."""
    where = _WAT_LOCATION.search(str(error))
    at = f"{name}:{where[1]}:{where[2]}" if where else name
    return f"{at}: error in WAT text: {_first_line(error)}"


def _reasons(error: Exception) -> tuple[str, list[str]]:
    """A wasmtime error's text split in two: what comes before "Caused by:",
    and the causes after it, outermost first, without the numbers anyhow
    prints before each ("0: ...", "1: ...") when there are several."""
    text = str(error).split("Stack backtrace:")[0]  # older wasmtime appends its own
    head, _, cause = text.partition("Caused by:")
    lines = [" ".join(line.split()) for line in cause.splitlines() if line.strip()]
    return head, [re.sub(r"^\d+: ", "", line) for line in lines]


def _cause(error: Exception) -> str:
    """The innermost reason a wasmtime error gives (its last "Caused by:" line)."""
    causes = _reasons(error)[1]
    return causes[-1] if causes else _first_line(error)


def _first_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def describe_trap(error: Exception) -> str:
    """"trap: " and the trap's line (trap_line)."""
    return f"trap: {trap_line(error)}"


def trap_line(error: Exception) -> str:
    """One line from a wasmtime Trap or WasmtimeError: what trapped, and in
    which guest function (the innermost frame of the backtrace)."""
    head, causes = _reasons(error)
    reasons = causes or [line.strip() for line in head.splitlines() if line.strip()]
    reason = reasons[-1] if reasons else type(error).__name__
    if reason.startswith("wasm trap:"):
        reason = reason[len("wasm trap:") :].strip()
    frame = re.search(r"^\s*0:\s+\S+\s+-\s+(.*)$", head, re.MULTILINE)
    where = ""
    if frame:
        function = frame.group(1).rsplit("!", 1)[-1].strip()
        where = f" (in {function})"
    return f"{reason}{where}"
