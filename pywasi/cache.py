"""Compiled modules kept on disk, so that a large module (CPython for WASI
takes tens of seconds to compile) is compiled once.

An entry is keyed by the module's SHA-256, the wasmtime version, the engine
settings pywasi chose and the host platform. A .cwasm is native code wasmtime
runs as it finds it, so an entry is used only when it is exactly what pywasi
wrote: its SHA-256 is kept beside it and checked before loading, the folder
must be this user's and closed to others, and anything wasmtime itself
refuses (another version, another engine) is compiled again and replaced.
Nothing here ever fails a run: a cache that cannot be used is passed over.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import platform
import stat
import tempfile
from importlib.metadata import version
from pathlib import Path

import wasmtime

from . import progress

CACHE_ENV = "PYWASI_CACHE"


def default_dir() -> Path:
    """$PYWASI_CACHE, or pywasi/modules in the user's cache folder (made into
    a Path once for the environment it comes from: about 40 us a run)."""
    global _last_default
    key = (os.environ.get(CACHE_ENV), os.environ.get("XDG_CACHE_HOME"), os.environ.get("HOME"))
    last = _last_default
    if last[0] != key:
        explicit, xdg, _ = key
        base = xdg or Path.home() / ".cache"
        last = _last_default = (key, Path(explicit) if explicit else Path(base) / "pywasi" / "modules")
    return last[1]


_last_default: tuple[tuple[str | None, ...], Path] = ((), Path())


def _usable_dir(directory: Path) -> bool:
    """Ours, and closed to others: made 0700 if missing."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = directory.stat(follow_symlinks=False)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077


def _digest_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def compile_cached(
    engine: wasmtime.Engine, data: bytes, settings: str, directory: Path | None, name: str = "a module",
    digest: str | None = None,
) -> wasmtime.Module:
    """The compiled module, from the cache when an entry there is good.
    `digest`: the SHA-256 of `data` (hex), if the caller has it."""
    if directory is None or not _usable_dir(directory):
        return _compile(engine, data, name)
    digest = digest or hashlib.sha256(data).hexdigest()
    identity = f"{digest} {_wasmtime_version()} {settings} {platform.machine()} {os.name}"
    key = hashlib.sha256(identity.encode()).hexdigest()[:40]
    entry, checksum = directory / f"{key}.cwasm", directory / f"{key}.sha256"
    module = _load(engine, entry, checksum)
    if module is not None:
        return module
    module = _compile(engine, data, name)
    _store(module, directory, entry, checksum)
    return module


@functools.cache
def _wasmtime_version() -> str:
    """The installed wasmtime's version (reading the package's metadata takes
    longer than a small run)."""
    return version("wasmtime")


def _compile(engine: wasmtime.Engine, data: bytes, name: str) -> wasmtime.Module:
    """Compiled in a worker thread: Ctrl-C stops the wait at once, and a
    terminal shows the work under way (progress.py)."""
    what = f"compiling {os.path.basename(name)} ({progress.size_text(len(data))})"
    return progress.in_worker(what, lambda: wasmtime.Module(engine, data))


def _load(engine, entry: Path, checksum: Path) -> wasmtime.Module | None:
    try:
        st = entry.stat(follow_symlinks=False)
        expected = checksum.read_text().strip()
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None
    try:
        if _digest_file(entry) != expected:
            return None  # corrupt or replaced: compile again
        return wasmtime.Module.deserialize_file(engine, str(entry))
    except (OSError, wasmtime.WasmtimeError):
        return None  # written by another wasmtime or engine: compile again


def _store(module: wasmtime.Module, directory: Path, entry: Path, checksum: Path) -> None:
    try:
        data = module.serialize()
        for target, payload in ((entry, data), (checksum, hashlib.sha256(data).hexdigest().encode())):
            _write(directory, target, payload)
    except OSError:
        pass  # a full disk or a read-only cache costs only the next compile


def _write(directory: Path, target: Path, payload: bytes | bytearray) -> None:
    """`payload` in `target`, whole or not at all: written beside it, then
    renamed over it. A write that fails (a full disk, Ctrl-C) takes its
    partial file away: an entry can be hundreds of megabytes."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")  # 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
