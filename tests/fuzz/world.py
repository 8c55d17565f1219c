"""The fuzzed guest's world: a sandbox of files, directories and symlinks
(some pointing out of it, absolute and relative, some dangling or looping)
beside secrets it must never reach, and one guest instance over it with
stdio, a listening socket and preopens that can never block the test."""

from __future__ import annotations

import ctypes
import io
import os
import shutil
import socket
import tempfile
from pathlib import Path

import wasmtime

from pywasi import WASI, ReadOnly, Stats
from pywasi.handlers.descriptors.directory import Directory
from pywasi.handlers.descriptors.file import File
from pywasi.handlers.descriptors.socket import Socket
from pywasi.handlers.descriptors.stdio import HostStream, MemoryInput, MemoryOutput
from tests.fuzz.guest import MAX_PAGES, compiled

ARGS = ["fuzz", "ärg", ""]
ENV = {"HOME": "/", "EMPTY": ""}
STDIN = b"what the guest reads on stdin\n"
CLIENT_SAYS = b"hello from a client\n"

DIRECTORY = (Directory,)
SOCKET = (Socket,)
FILE = (File, HostStream, MemoryInput, MemoryOutput)
WAITS = (HostStream, Socket)  # what poll_oneoff waits on in poll()

# The fds every instance starts with, after stdio: the listener, then the
# preopens in this order.
LISTENER_FD = 3
PREOPENS = ("/", "/ro")


def build(root: Path, far: Path | None = None) -> Path:
    """`root/box` (the sandbox), with `root/secret` and `root/outside/` beside
    it; its absolute symlinks point into `far` (`root` by default: two
    worlds given one `far` hold the same bytes). Returns the box."""
    far = root if far is None else far
    (root / "secret").write_bytes(b"ROOT SECRET\n")
    (root / "outside" / "dir").mkdir(parents=True)
    (root / "outside" / "secret").write_bytes(b"OUTSIDE SECRET\n")
    box = root / "box"
    (box / "dir" / "sub").mkdir(parents=True)
    (box / "ro").mkdir()
    (box / "a.txt").write_bytes(b"the quick brown fox\n" * 40)
    (box / "empty").write_bytes(b"")
    (box / "dir" / "b.txt").write_bytes(b"bee\n")
    (box / "ro" / "c.txt").write_bytes(b"read only\n")
    os.link(box / "a.txt", box / "hard")
    links = {
        "link_in": "a.txt",
        "link_dir": "dir",
        "link_dot": ".",
        "link_up": "..",
        "link_out": "../secret",
        "link_out_dir": "../outside",
        "link_abs": str(far / "secret"),
        "link_abs_dir": str(far / "outside"),
        "link_etc": "/etc/passwd",
        "dangling": "nowhere",
        "dangling_out": "../outside/new",
        "loop1": "loop2",
        "loop2": "loop1",
        "dir/up": "../..",
        "dir/in": "../a.txt",
        "dir/sub/deep_out": "../../../secret",
        "ro/out": "../../outside/secret",
    }
    for name, target in links.items():
        os.symlink(target, box / name)
    return box


# Names the fuzzer builds paths from: what lies in the box, the ways out.
COMPONENTS = (
    "a.txt", "empty", "hard", "dir", "sub", "b.txt", "ro", "c.txt", "link_in", "link_dir", "link_dot",
    "link_up", "link_out", "link_out_dir", "link_abs", "link_abs_dir", "link_etc", "dangling",
    "dangling_out", "loop1", "up", "in", "deep_out", "out", "new", "x", ".", "..", "", "secret", "outside",
    "box",
)


class GrowingOutput(io.BytesIO):
    """Captured output whose every write first runs the guest again: its
    `grow` export adds a page (while there is room), so memory grows in the
    middle of the host call writing to it."""

    def __init__(self, inst: "Instance"):
        super().__init__()
        self.inst = inst

    def write(self, data) -> int:
        inst = self.inst
        if inst.memory_size < MAX_PAGES * 65536:
            inst.exports["grow"](inst.store, 1)
        return super().write(data)


class Instance:
    """One guest instance over a fresh world. `stdin` is "pipe" (a pipe at
    EOF) or "memory"; `stdout` and `stderr` "memory", "growing" (captured,
    growing the guest's memory on every write), "devnull" or "file" (a file
    outside the world). Nothing the guest can reach blocks: the
    listener always has a connection waiting (whose client has written and
    closed), and stdin never waits for data. `far`: where the box's absolute
    symlinks point (see build)."""

    def __init__(self, engine: wasmtime.Engine, version: str, *, stdin: str, stdout: str, stderr: str,
                 max_fds: int | None, observed: bool = False, far: Path | None = None):
        self.version = version
        # Traced and counted: every call's line (its decoders and formatting
        # meet the same hostile arguments) and pywasi.Stats.
        self.lines: list[str] | None = [] if observed else None
        self.stats = Stats() if observed else None
        self.tmp = Path(tempfile.mkdtemp(prefix="pywasi-fuzz-"))
        self.world = self.tmp / "world"
        self.world.mkdir()
        self.box = build(self.world, far)
        # What the box holds, as paths from it (as a guest names them).
        self.paths = sorted(bytes(p.relative_to(self.box)) for p in self.box.rglob("*"))
        self._closing: list = []
        self._outputs: dict[str, io.BytesIO | Path | None] = {}
        self.listener = socket.create_server(("127.0.0.1", 0))
        self._closing.append(self.listener)
        self.pending = 0
        self.connect(2)
        self.wasi = WASI(
            version=version,
            args=ARGS,
            env=ENV,
            preopens={PREOPENS[0]: str(self.box), PREOPENS[1]: ReadOnly(self.box / "ro")},
            stdin=self._stdin(stdin),
            stdout=self._output(stdout, "stdout"),
            stderr=self._output(stderr, "stderr"),
            sockets=[self.listener],
            max_fds=max_fds,
            max_output=1 << 20,
            trace=(lambda call: self.lines.append(str(call))) if observed else None,
            stats=self.stats,
        )
        self.store = wasmtime.Store(engine)
        linker = wasmtime.Linker(engine)
        self.wasi.define(linker)
        instance = linker.instantiate(self.store, compiled(engine, version))
        self.exports = instance.exports(self.store)
        self.memory = self.exports["memory"]
        self.wasi.finalize_bindings(instance, self.store)
        self.argv = [a.encode() for a in ARGS]
        self.environ = [f"{k}={v}".encode() for k, v in ENV.items()]

    def _stdin(self, kind: str):
        if kind == "memory":
            return STDIN
        read, write = os.pipe()
        os.write(write, STDIN)
        os.close(write)
        self._closing.append(read)
        return read

    def _output(self, kind: str, name: str):
        if kind in ("memory", "growing"):
            sink = self._outputs[name] = io.BytesIO() if kind == "memory" else GrowingOutput(self)
            return sink
        if kind == "devnull":
            self._outputs[name] = None
            fd = os.open(os.devnull, os.O_WRONLY)
        else:
            self._outputs[name] = self.tmp / name
            fd = os.open(self.tmp / name, os.O_WRONLY | os.O_CREAT, 0o644)
        self._closing.append(fd)
        return fd

    def output(self, name: str) -> bytes:
        """What the guest has written to "stdout" or "stderr" (nothing, for
        /dev/null)."""
        sink = self._outputs[name]
        if isinstance(sink, io.BytesIO):
            return sink.getvalue()
        return b"" if sink is None else sink.read_bytes()

    def connect(self, count: int = 1) -> None:
        """Queue connections on the listener: each client writes and closes,
        so reading the accepted end never blocks and writing to it fails."""
        for _ in range(count):
            with socket.create_connection(self.listener.getsockname()) as client:
                client.sendall(CLIENT_SAYS)
            self.pending += 1

    def accepted(self) -> None:
        """The guest accepted a connection: queue another."""
        self.pending -= 1
        self.connect()

    # Guest memory ----------------------------------------------------------

    @property
    def memory_size(self) -> int:
        return self.memory.data_len(self.store)

    def snapshot(self) -> bytes:
        return ctypes.string_at(self._base(), self.memory_size)

    def write(self, ptr: int, data: bytes) -> None:
        """Write what fits of `data` at `ptr` (nothing if `ptr` is outside)."""
        size = self.memory_size
        if ptr >= size or not data:
            return
        data = data[: size - ptr]
        ctypes.memmove(self._base() + ptr, data, len(data))

    def _base(self) -> int:
        return ctypes.addressof(self.memory.data_ptr(self.store).contents)

    # Descriptors ---------------------------------------------------------------

    def open_fds(self, kind: tuple[type, ...] | None = None) -> list[int]:
        """The guest's open fds; of one kind of descriptor if given."""
        return [fd for fd, d in self.wasi._host.fds.items() if kind is None or isinstance(d, kind)]

    def close(self) -> None:
        self.wasi.close()
        for thing in self._closing:
            if isinstance(thing, int):
                os.close(thing)
            else:
                thing.close()
        shutil.rmtree(self.tmp)
