"""Paths and helpers the tests share: guest programs compiled from source
(cached by content hash, never committed), and small runners."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import wasmtime

ROOT = Path(__file__).resolve().parent.parent
WITX = ROOT / "witx"
UPSTREAM_WITX = ROOT.parent / "shared" / "witx"
C_SOURCES = Path(__file__).resolve().parent / "programs" / "c"
CACHE = Path(os.environ.get("PYWASI_TEST_CACHE", Path.home() / ".cache" / "pywasi" / "tests"))

CFLAGS = ["-target", "wasm32-wasi", "-O2", "-s"]


def compile_c(name_or_source: str, *extra: str) -> Path:
    """A C program compiled with wasi-libc (zig's): a file of tests/programs/c
    by name, or source text. Cached by the hash of source and flags."""
    if "\n" in name_or_source:
        source = name_or_source
    else:
        source = (C_SOURCES / name_or_source).read_text()
    flags = CFLAGS + list(extra)
    key = hashlib.sha256((source + "\0" + " ".join(flags)).encode()).hexdigest()[:24]
    out = CACHE / f"{key}.wasm"
    if out.exists():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    src = CACHE / f"{key}.c"
    src.write_text(source)
    tmp = CACHE / f"{key}.{os.getpid()}.tmp.wasm"
    result = subprocess.run(
        [sys.executable, "-m", "ziglang", "cc", *flags, str(src), "-o", str(tmp)],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"compiling {name_or_source[:40]!r} failed:\n{result.stderr}")
    tmp.replace(out)
    return out


def wat(text: str) -> bytes:
    return wasmtime.wat2wasm(text)


def run_captured(module, *, stdin: bytes = b"", **options) -> tuple[int, bytes, bytes]:
    """Run a command in-process with pywasi.run; (exit code, stdout, stderr)."""
    from pywasi import run

    out, err = io.BytesIO(), io.BytesIO()
    code = run(module, stdin=stdin, stdout=out, stderr=err, **options).returncode
    return code, out.getvalue(), err.getvalue()


def pywasi_cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """`python -m pywasi ...` in a subprocess, output as bytes."""
    return subprocess.run([sys.executable, "-m", "pywasi", *args], capture_output=True, **kwargs)


def rename_import_module(wasm: bytes, old: str, new: str) -> bytes:
    """The same module with every import from `old` taken from `new` instead:
    how a preview1 program compiled by wasi-libc becomes a wasi_unstable one
    (the two ABIs have the same signatures)."""

    def uleb(data: bytes, pos: int) -> tuple[int, int]:
        result = shift = 0
        while True:
            byte = data[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return result, pos

    def enc(n: int) -> bytes:
        out = bytearray()
        while True:
            byte, n = n & 0x7F, n >> 7
            out.append(byte | (0x80 if n else 0))
            if not n:
                return bytes(out)

    def name(s: str) -> bytes:
        return enc(len(s.encode())) + s.encode()

    out, pos = bytearray(wasm[:8]), 8
    while pos < len(wasm):
        section = wasm[pos]
        size, body = uleb(wasm, pos + 1)
        end = body + size
        if section != 2:  # not the import section: copy as is
            out += wasm[pos:end]
            pos = end
            continue
        count, p = uleb(wasm, body)
        entries = bytearray(enc(count))
        for _ in range(count):
            n, p = uleb(wasm, p)
            module = wasm[p : p + n].decode()
            p += n
            n, p = uleb(wasm, p)
            field = wasm[p : p + n]
            p += n
            start = p
            kind = wasm[p]
            p += 1
            if kind == 0:  # func: type index
                _, p = uleb(wasm, p)
            elif kind == 1:  # table: reftype, limits
                p += 1
                flags, p = uleb(wasm, p)
                _, p = uleb(wasm, p)
                if flags & 1:
                    _, p = uleb(wasm, p)
            elif kind == 2:  # memory: limits
                flags, p = uleb(wasm, p)
                _, p = uleb(wasm, p)
                if flags & 1:
                    _, p = uleb(wasm, p)
            elif kind == 3:  # global: valtype, mutability
                p += 2
            else:
                raise ValueError(f"import kind {kind}")
            entries += name(new if module == old else module) + enc(len(field)) + field + wasm[start:p]
        out += bytes([2]) + enc(len(entries)) + entries
        pos = end
    return bytes(out)


class Untouched:
    """Proof that nothing under `root` except `keep` was read, created,
    changed or deleted while a block ran: inotify (Linux) sees every open,
    read and write of what lies outside, and a snapshot taken before and
    after sees every creation, deletion and change.

        with Untouched(tmp_path, keep="box"):
            ...  # anything the guest does
    """

    _EVENTS = 0xFFF  # IN_ALL_EVENTS: access, modify, attrib, close, open, moves, create, delete

    def __init__(self, root: Path, keep: str):
        self.root = Path(root)
        self.keep = keep

    def __enter__(self) -> Untouched:
        import ctypes

        self._libc = ctypes.CDLL(None, use_errno=True)
        self.before = self._snapshot()
        self._fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self._fd >= 0, "inotify_init1 failed"
        self._watches = {}
        for path in [self.root, *(p for p in self._walk() if p.is_dir() and not p.is_symlink())]:
            wd = self._libc.inotify_add_watch(self._fd, bytes(path), self._EVENTS)
            assert wd >= 0, f"inotify_add_watch({path}) failed"
            self._watches[wd] = path
        return self

    def __exit__(self, *exc) -> None:
        events = self._events()
        os.close(self._fd)
        after = self._snapshot()
        if exc[0] is None:
            assert events == [], f"outside the sandbox, the guest touched: {events}"
            assert after == self.before, "outside the sandbox, something was created, changed or deleted"

    def _walk(self):
        for path in sorted(self.root.rglob("*")):
            if path.relative_to(self.root).parts[0] != self.keep:
                yield path

    def _snapshot(self) -> dict:
        state = {}
        for path in self._walk():
            st = path.lstat()
            if path.is_symlink():
                content = os.readlink(path)
            elif path.is_file():
                content = path.read_bytes()
            else:
                content = None
            state[str(path.relative_to(self.root))] = (st.st_mode, st.st_mtime_ns, st.st_nlink, content)
        return state

    def _events(self) -> list[tuple[str, int]]:
        import struct

        out = []
        while True:
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                return out
            pos = 0
            while pos < len(data):
                wd, mask, _cookie, length = struct.unpack_from("iIII", data, pos)
                name = data[pos + 16 : pos + 16 + length].rstrip(b"\0").decode()
                pos += 16 + length
                where = self._watches.get(wd)
                if where is None or (where == self.root and name == self.keep):
                    continue  # the sandbox itself: the guest may use it
                out.append((str(where / name), mask))


def wasi_errno(call) -> int:
    """The WASI errno `call()` fails with: a WasiError's own, or an OSError's
    through the handlers' one table (what a stub would answer)."""
    import pytest

    from pywasi.runtime.errors import WasiError, errno_of

    with pytest.raises((WasiError, OSError)) as info:
        call()
    error = info.value
    return error.errno if isinstance(error, WasiError) else errno_of(error)


def host_tree(path) -> dict:
    """The host directory at `path` in the form MemoryDir.tree() gives: names
    to bytes (a file), a dict (a directory) or a pywasi.Symlink."""
    from pywasi import Symlink

    out = {}
    for entry in sorted(os.scandir(path), key=lambda e: e.name):
        if entry.is_symlink():
            out[entry.name] = Symlink(os.readlink(entry.path))
        elif entry.is_dir():
            out[entry.name] = host_tree(entry.path)
        else:
            out[entry.name] = Path(entry.path).read_bytes()
    return out


class Filesystem:
    """One kind of preopen the file tests run on: a host directory (under
    one resolver strategy), a MemoryDir copied from it, or an Overlay over
    it (which leaves it as it is). `preopen(path)` makes the preopen from the host tree at `path` as it
    is; `tree()` is what the guest sees in it now."""

    def __init__(self, kind: str):
        self.kind = kind
        self.host = kind in ("openat2", "walk")
        self.made = None
        self.path = None

    def preopen(self, path, read_only: bool = False):
        from pywasi import MemoryDir, Overlay, ReadOnly

        self.path = Path(path)
        if self.host:
            value = self.path
        elif self.kind == "overlay":
            value = self.made = Overlay(path)
        else:
            value = self.made = MemoryDir.from_path(path)
        return ReadOnly(value) if read_only else value

    def tree(self) -> dict:
        return host_tree(self.path) if self.host else self.made.tree()

    def stat(self, path: str, follow: bool = False):
        """path_filestat_get's answer for `path`, asked of the handlers."""
        from pywasi.handlers.preopens import HostDir

        directory = (HostDir(self.path) if self.host else self.made).preopen("/", False)
        try:
            return directory.stat(path, follow)
        finally:
            directory.close()

    def __repr__(self) -> str:
        return self.kind



def ticker() -> threading.Thread | None:
    """pywasi's ticker thread (pywasi/stop.py), if it is running."""
    return next((t for t in threading.enumerate() if t.name == "pywasi-ticker"), None)


def ticker_gone(within: float = 1.0) -> bool:
    """Whether the ticker has ended (within `within` seconds: it lingers a
    moment after its last work)."""
    deadline = time.monotonic() + within
    while ticker() is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    return ticker() is None
