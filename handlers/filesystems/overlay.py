"""A host directory seen through a copy-on-write layer in memory.

The tree is a MemoryFS whose nodes come from the host as they are first
needed: a directory's entries when it is first looked into, a file's bytes
read straight from the host until something changes the file, which then
copies it into memory. Every change (write, create, rename, delete, times)
stays in memory; nothing here writes to the host, and the host is read
without touching its access times (O_NOATIME, where the host allows it; a
symlink's target, read when first needed, is the exception readlink makes).

The host is reached only beneath the overlay's root fd, by the walk (one
component at a time, O_NOFOLLOW): the paths asked for are the nodes'
origins, which hold no symlink (links are nodes of their own, resolved in
the tree, never on the host).
"""

from __future__ import annotations

import os
import stat
import weakref

from pywasi.generated.preview1 import Errno
from pywasi.runtime.errors import WasiError

from .host import RESOLVERS, Budget
from .memory import DirNode, FileNode, LinkNode, MemoryFS, Node

_NOATIME = getattr(os, "O_NOATIME", 0)
_WALK = RESOLVERS["walk"]


class _Reaches:
    """What a lazy node reaches the host through: its OverlayFS, held weakly,
    so that the tree holds no cycle through it and the root fd closes as soon
    as the last descriptor and the Overlay are gone."""

    __slots__ = ()

    @property
    def fs(self) -> OverlayFS:
        return self._fs()


class HostFileNode(_Reaches, FileNode):
    """A host file: `data` is the host's bytes, read when first asked for
    (the copy-up, which counts against max_bytes)."""

    __slots__ = ("_fs", "host_size")

    def __init__(self, fs: OverlayFS, ino: int, st: os.stat_result, origin: bytes):
        Node.__init__(self, ino, 0, stat.S_IMODE(st.st_mode))
        self._fs = weakref.ref(fs)
        self.opens = 0
        self.origin = origin
        self.host_size = st.st_size

    @property
    def loaded(self) -> bool:
        return _is_set(self, FileNode.data)

    @property
    def size(self) -> int:
        return len(self.data) if self.loaded else self.host_size

    def open_host(self) -> int:
        return self.fs.open_host(self.origin, os.O_RDONLY)

    def contents(self) -> bytes:
        if self.loaded:
            return bytes(self.data)
        fd = self.open_host()
        try:
            chunks = []
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)

    def __getattr__(self, name):
        if name != "data":
            raise AttributeError(name)
        # The copy-up: something is about to change this file.
        if self.host_size > self.fs.room():
            raise WasiError(Errno.NOSPC)
        data = bytearray(self.contents())
        if len(data) > self.fs.room():  # it grew on the host meanwhile
            raise WasiError(Errno.NOSPC)
        self.fs.used_bytes += len(data)
        self.data = data
        return data


class HostDirNode(_Reaches, DirNode):
    """A host directory: its entries are listed when first looked into."""

    __slots__ = ("_fs",)

    def __init__(self, fs: OverlayFS, ino: int, st: os.stat_result, origin: bytes, parent: DirNode | None):
        Node.__init__(self, ino, 0, stat.S_IMODE(st.st_mode))
        self._fs = weakref.ref(fs)
        self.origin = origin
        self.parent = parent
        self.next_seq = 3
        self.nlink = st.st_nlink

    @property
    def loaded(self) -> bool:
        return _is_set(self, DirNode.entries)

    def __getattr__(self, name):
        if name not in ("entries", "seqs"):
            raise AttributeError(name)
        self.fs.load(self)
        return getattr(self, name)


class HostLinkNode(_Reaches, LinkNode):
    """A host symlink: its target is read when first needed (readlink sets
    the link's access time, which no flag avoids)."""

    __slots__ = ("_fs", "host_size")

    def __init__(self, fs: OverlayFS, ino: int, st: os.stat_result, origin: bytes):
        Node.__init__(self, ino, 0, stat.S_IMODE(st.st_mode))
        self._fs = weakref.ref(fs)
        self.origin = origin
        self.host_size = st.st_size

    @property
    def size(self) -> int:
        return self.host_size

    def __getattr__(self, name):
        if name != "target":
            raise AttributeError(name)
        head, _, last = self.origin.rpartition(b"/")
        fd = self.fs.open_host(head, os.O_RDONLY | os.O_DIRECTORY)
        try:
            self.target = os.readlink(last, dir_fd=fd)
        finally:
            os.close(fd)
        return self.target


def _is_set(node: Node, slot) -> bool:
    """Whether `slot` holds a value yet, asked without the lazy __getattr__."""
    try:
        slot.__get__(node, type(node))
    except AttributeError:
        return False
    return True


def _times(node: Node, st: os.stat_result) -> Node:
    node.atim, node.mtim, node.ctim = st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns
    return node


class OverlayFS(MemoryFS):
    def __init__(self, path, *, max_bytes: int | None = None):
        super().__init__(max_bytes=max_bytes)
        self.root_fd = _open_noatime(os.fspath(path), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        # Closed when the last descriptor on the tree is gone, not with the Overlay object.
        self._closer = weakref.finalize(self, os.close, self.root_fd)
        try:
            self.root = _times(HostDirNode(self, self.new_ino(), os.fstat(self.root_fd), b"", None),
                               os.fstat(self.root_fd))
            # What the host had, to tell what changed: path -> (node, atim, mtim).
            self.base: dict[bytes, tuple[Node, int, int]] = {}
            self.linked: dict[tuple[int, int], HostFileNode] = {}  # hard-linked host files: one node
        except BaseException:
            self._closer()
            raise

    def open_host(self, origin: bytes, flags: int) -> int:
        """A new fd on the host file or directory at `origin`, beneath the root."""
        flags |= os.O_CLOEXEC | os.O_NOFOLLOW
        try:
            return _WALK._open(self.root_fd, origin or b".", flags | _NOATIME, 0, Budget())
        except PermissionError:  # O_NOATIME is for the file's owner
            return _WALK._open(self.root_fd, origin or b".", flags, 0, Budget())

    def load(self, directory: HostDirNode) -> None:
        """List a host directory into its node."""
        entries: dict[bytes, Node] = {}
        seqs: dict[bytes, int] = {}
        fd = self.open_host(directory.origin, os.O_RDONLY | os.O_DIRECTORY)
        try:
            names = sorted(os.fsencode(name) for name in os.listdir(fd))
            subdirectories = 0
            for name in names:
                try:
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:  # gone since it was listed
                    continue
                origin = directory.origin + b"/" + name if directory.origin else name
                node = self.linked.get((st.st_dev, st.st_ino)) if stat.S_ISREG(st.st_mode) else None
                if node is None:  # (else another name of a file met already, as it is now)
                    node = self._node(st, origin, directory)
                    if node is None:
                        continue  # devices, FIFOs, sockets: not passed through
                    if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
                        self.linked[st.st_dev, st.st_ino] = node
                subdirectories += isinstance(node, DirNode)
                self.base[origin] = (node, st.st_atime_ns, st.st_mtime_ns)
                entries[name] = node
                seqs[name] = directory.next_seq
                directory.next_seq += 1
            directory.nlink = 2 + subdirectories
        finally:
            os.close(fd)
        directory.entries, directory.seqs = entries, seqs

    def _node(self, st: os.stat_result, origin: bytes, parent: DirNode) -> Node | None:
        ino = self.new_ino()
        if stat.S_ISDIR(st.st_mode):
            node = HostDirNode(self, ino, st, origin, parent)
        elif stat.S_ISREG(st.st_mode):
            node = HostFileNode(self, ino, st, origin)
            node.nlink = st.st_nlink
        elif stat.S_ISLNK(st.st_mode):
            node = HostLinkNode(self, ino, st, origin)
        else:
            return None
        return _times(node, st)

    # What changed ------------------------------------------------------------------

    def changes(self) -> dict[str, str]:
        """Each changed path (relative to the root) -> "created", "modified"
        or "deleted". A path whose node is not the one the host had there
        is created (a rename is a deletion and a creation); a directory whose
        entries changed is modified, as its times say."""
        out: dict[bytes, str] = {}
        present: dict[bytes, Node] = {}
        self._visit(self.root, b"", out, present)
        self._deleted(b"", out, present)
        return {path.decode("utf-8", "surrogateescape"): what for path, what in sorted(out.items())}

    def _visit(self, directory: DirNode, prefix: bytes, out: dict, present: dict) -> None:
        for name, node in directory.entries.items():
            path = prefix + name
            was = self.base.get(path)
            if was is not None and was[0] is node:
                present[path] = node
                copied = isinstance(node, FileNode) and node.loaded
                if copied or (node.atim, node.mtim) != was[1:]:
                    out[path] = "modified"
            else:
                out[path] = "created"
            if isinstance(node, DirNode) and (not isinstance(node, HostDirNode) or node.loaded
                                              or node.origin != path):
                self._visit(node, path + b"/", out, present)

    def _deleted(self, origin: bytes, out: dict, present: dict) -> None:
        fd = self.open_host(origin, os.O_RDONLY | os.O_DIRECTORY)
        try:
            listing = [(os.fsencode(e.name), e.is_dir(follow_symlinks=False)) for e in os.scandir(fd)]
        finally:
            os.close(fd)
        for name, is_dir in listing:
            path = origin + b"/" + name if origin else name
            if path not in self.base:
                continue  # came to the host since: not the overlay's to report
            node = present.get(path)
            if node is None:
                out[path] = "modified" if out.get(path) == "created" else "deleted"
            elif is_dir and isinstance(node, HostDirNode) and node.loaded:
                self._deleted(path, out, present)


def _open_noatime(path: str, flags: int) -> int:
    try:
        return os.open(path, flags | _NOATIME)
    except PermissionError:
        return os.open(path, flags)
