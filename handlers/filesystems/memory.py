"""A filesystem made of Python objects: nodes (files, directories, symlinks)
in a tree, with the semantics of a real one (Linux's, where POSIX leaves a
choice), quotas, and one lock for whoever shares it.

Paths are resolved as the host walk resolves them (cap-std's way): a
worklist of components and a stack of directories; `..` pops the stack and
popping past the directory the path starts from is an escape; a symlink's
target goes back on the worklist, and an absolute one is an escape. One
budget of MAX_SYMLINKS for the whole path. Nothing here touches the host.
"""

from __future__ import annotations

import itertools
import os
import stat
import threading
import time
from dataclasses import dataclass

from pywasi.generated.preview1 import Errno, Filestat, Filetype
from pywasi.runtime.errors import WasiError

from .host import Budget, checked_path

NAME_MAX = 255  # Linux's: a longer component is ENAMETOOLONG, found or not
_ZEROS = memoryview(bytes(1 << 20))  # holes are filled from this, a MiB at a time


def default_max_bytes() -> int:
    """Half the host's RAM: the size a tmpfs gets unless told otherwise, and
    the ceiling of a MemoryDir given no max_bytes, so that no guest call (a
    set_size or a write far past the end) can ask the host for more memory
    than it has."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError):  # pragma: no cover - a host that cannot tell
        return 1 << 30


def zero_fill(data: bytearray, count: int) -> None:
    """Append `count` zero bytes to `data` without a temporary of that size."""
    while count > 0:
        step = min(count, len(_ZEROS))
        data += _ZEROS[:step]
        count -= step
_FILE, _DIR, _LINK = Filetype.REGULAR_FILE, Filetype.DIRECTORY, Filetype.SYMBOLIC_LINK
_devices = itertools.count(0x70000000)  # one st_dev per filesystem, apart from the host's


@dataclass(frozen=True)
class Symlink:
    """A symbolic link in a MemoryDir's tree: `target` is resolved inside the
    tree (an absolute target is refused, as on a host preopen)."""

    target: str


class Node:
    # `origin`: for a node an Overlay read from its host directory, its path
    # there (relative, links expanded); None for a node made in memory.
    __slots__ = ("ino", "nlink", "atim", "mtim", "ctim", "mode", "origin")
    filetype = Filetype.UNKNOWN

    def __init__(self, ino: int, now: int, mode: int):
        self.ino = ino
        self.nlink = 1
        self.atim = self.mtim = self.ctim = now
        self.mode = mode
        self.origin = None

    @property
    def size(self) -> int:
        return 0


class FileNode(Node):
    """A file; its bytes are `data`. (An Overlay's file, until something
    changes it, reads from the host: `loaded` is False, and `data` is made
    from the host's bytes when first asked for.)"""

    __slots__ = ("data", "opens")
    filetype = _FILE
    loaded = True

    def __init__(self, ino, now, mode=0o644, data=b""):
        super().__init__(ino, now, mode)
        self.data = bytearray(data)
        self.opens = 0  # descriptors open on it: an unlinked file lives while one is

    @property
    def size(self):
        return len(self.data)

    def contents(self) -> bytes:
        return bytes(self.data)


class LinkNode(Node):
    __slots__ = ("target",)
    filetype = _LINK

    def __init__(self, ino, now, target: bytes, mode=0o777):
        super().__init__(ino, now, mode)
        self.target = target

    @property
    def size(self):
        return len(self.target)


class DirNode(Node):
    """`entries` keeps insertion order, and each entry a sequence number that
    only grows: readdir cookies are those numbers, so they stay valid while
    entries come and go."""

    __slots__ = ("entries", "seqs", "next_seq", "parent")
    filetype = _DIR

    def __init__(self, ino, now, parent: DirNode | None, mode=0o755):
        super().__init__(ino, now, mode)
        self.nlink = 2
        self.entries: dict[bytes, Node] = {}
        self.seqs: dict[bytes, int] = {}
        self.next_seq = 3  # cookies 1 and 2 follow `.` and `..`
        self.parent = parent

    @property
    def size(self):
        return 4096  # what a small directory on ext4 or tmpfs reports, roughly

    def add(self, name: bytes, node: Node) -> None:
        self.entries[name] = node
        self.seqs[name] = self.next_seq
        self.next_seq += 1
        if isinstance(node, DirNode):
            node.parent = self
            self.nlink += 1

    def remove(self, name: bytes) -> Node:
        node = self.entries.pop(name)
        del self.seqs[name]
        if isinstance(node, DirNode):
            self.nlink -= 1
        return node


class MemoryFS:
    """The state one MemoryDir shares with every guest that has it open."""

    def __init__(self, *, max_bytes: int | None = None, max_files: int | None = None):
        self.lock = threading.RLock()
        self.dev = next(_devices)
        self._inodes = itertools.count(1)
        self.max_bytes = default_max_bytes() if max_bytes is None else max_bytes
        self.max_files = max_files
        self.used_bytes = 0
        self.files = 0  # nodes but the root
        self.root = DirNode(self.new_ino(), time.time_ns(), None)

    def new_ino(self) -> int:
        return next(self._inodes)

    # Quotas --------------------------------------------------------------------

    def count_new_node(self) -> None:
        if self.max_files is not None and self.files >= self.max_files:
            raise WasiError(Errno.DQUOT)
        self.files += 1

    def room(self) -> int:
        """Bytes of file data that may still be added."""
        return max(0, self.max_bytes - self.used_bytes)

    def resize(self, node: FileNode, size: int) -> None:
        """Set a file's size, zero-filling; ENOSPC (and no change) past the quota."""
        grow = size - len(node.data)
        if grow > 0:
            if grow > self.room():
                raise WasiError(Errno.NOSPC)
            zero_fill(node.data, grow)
        else:
            del node.data[size:]
        self.used_bytes += grow

    def release(self, node: Node) -> None:
        """A node left the tree: forget it unless a descriptor still holds it."""
        if isinstance(node, FileNode) and node.nlink == 0 and node.opens == 0 and node.loaded:
            self.used_bytes -= len(node.data)
            node.data = bytearray()

    # Trees of Python objects -------------------------------------------------------

    def fill(self, directory: DirNode, tree) -> None:
        """Add `tree` (names to bytes, str, dict or Symlink) to `directory`."""
        if not isinstance(tree, dict):
            raise TypeError(f"a MemoryDir tree is a dict of names, not {type(tree).__name__}")
        now = time.time_ns()
        for name, value in tree.items():
            raw = _entry_name(name)
            if raw in directory.entries:
                raise ValueError(f"{name!r} is in the tree twice")
            self.count_new_node_or_fail(name)
            if isinstance(value, str):
                value = value.encode("utf-8")
            if isinstance(value, (bytes, bytearray, memoryview)):
                node = FileNode(self.new_ino(), now, data=value)
                self._charge_or_fail(len(node.data), name)
            elif isinstance(value, Symlink):
                target = value.target
                if not isinstance(target, str) or not target or "\0" in target:
                    raise ValueError(f"the symlink {name!r} needs a target: a non-empty str without NUL")
                node = LinkNode(self.new_ino(), now, target.encode("utf-8"))
            elif isinstance(value, dict):
                node = DirNode(self.new_ino(), now, directory)
                directory.add(raw, node)
                self.fill(node, value)
                continue
            else:
                raise TypeError(
                    f"{name!r} in a MemoryDir tree must be bytes or str (a file), a dict (a directory) "
                    f"or a pywasi.Symlink, not {type(value).__name__}"
                )
            directory.add(raw, node)

    def count_new_node_or_fail(self, name) -> None:
        try:
            self.count_new_node()
        except WasiError:
            raise ValueError(f"the tree has more than max_files={self.max_files} entries (at {name!r})") from None

    def _charge_or_fail(self, size: int, name) -> None:
        if size > self.room():
            raise ValueError(f"the tree holds more than max_bytes={self.max_bytes} bytes (at {name!r})")
        self.used_bytes += size

    def snapshot(self, directory: DirNode) -> dict:
        """`directory`'s contents as a tree of Python objects (files as bytes)."""
        out = {}
        for raw, node in directory.entries.items():
            name = raw.decode("utf-8", "surrogateescape")
            if isinstance(node, DirNode):
                out[name] = self.snapshot(node)
            elif isinstance(node, LinkNode):
                out[name] = Symlink(node.target.decode("utf-8", "surrogateescape"))
            else:
                out[name] = node.contents()
        return out

    def copy_host(self, directory: DirNode, path, seen: dict | None = None) -> None:
        """Copy the host tree at `path` into `directory`: files (hard links
        stay one file), directories and symlinks, with their modes and times
        (anything else is left out)."""
        seen = {} if seen is None else seen  # (st_dev, st_ino) -> the file copied for it
        with os.scandir(path) as listing:
            entries = sorted(listing, key=lambda e: e.name)
        for entry in entries:
            st = entry.stat(follow_symlinks=False)
            raw = os.fsencode(entry.name)
            known = seen.get((st.st_dev, st.st_ino)) if stat.S_ISREG(st.st_mode) else None
            if known is not None:
                directory.add(raw, known)
                known.nlink += 1
                continue
            self.count_new_node_or_fail(entry.path)
            ino = self.new_ino()
            if stat.S_ISDIR(st.st_mode):
                node = DirNode(ino, 0, directory, stat.S_IMODE(st.st_mode))
                directory.add(raw, node)
                self.copy_host(node, entry.path, seen)
            elif stat.S_ISLNK(st.st_mode):
                node = LinkNode(ino, 0, os.fsencode(os.readlink(entry.path)), stat.S_IMODE(st.st_mode))
                directory.add(raw, node)
            elif stat.S_ISREG(st.st_mode):
                with open(entry.path, "rb") as f:
                    node = FileNode(ino, 0, stat.S_IMODE(st.st_mode), f.read())
                self._charge_or_fail(len(node.data), entry.path)
                directory.add(raw, node)
                seen[st.st_dev, st.st_ino] = node
            else:
                self.files -= 1
                continue
            node.atim, node.mtim, node.ctim = st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns

    # Resolution ------------------------------------------------------------------

    def walk(self, stack: list[DirNode], path: bytes, budget: Budget) -> None:
        """Go down `path` from the top of `stack` (whose bottom is the
        directory the guest's path starts from), every component a directory."""
        todo = path.split(b"/")
        todo.reverse()
        while todo:
            component = todo.pop()
            if component in (b"", b"."):
                continue
            if component == b"..":
                if len(stack) == 1:
                    raise WasiError(Errno.NOTCAPABLE)
                stack.pop()
                continue
            if len(component) > NAME_MAX:
                raise WasiError(Errno.NAMETOOLONG)
            node = stack[-1].entries.get(component)
            if node is None:
                raise WasiError(Errno.NOENT)
            if isinstance(node, DirNode):
                stack.append(node)
            elif isinstance(node, LinkNode):
                budget.spend()
                if node.target.startswith(b"/"):
                    raise WasiError(Errno.NOTCAPABLE)
                parts = node.target.split(b"/")
                parts.reverse()
                todo.extend(parts)
            else:
                raise WasiError(Errno.NOTDIR)

    def parent(self, base: DirNode, path: str, follow: bool) -> tuple[DirNode, bytes]:
        """(directory, name): where the last component of `path` lives beneath
        `base`, as the host resolver's `parent` answers. With `follow` (or a
        trailing slash) a symlink at the end is expanded."""
        raw = checked_path(path)
        budget = Budget()
        stack = [base]
        while True:
            must_be_dir = raw.endswith(b"/")
            head, _, name = raw.rstrip(b"/").rpartition(b"/")
            if name == b"..":  # acts on the directory `..` leads to, if it is inside
                self.walk(stack, raw, budget)
                return stack[-1], b"."
            self.walk(stack, head, budget)
            directory = stack[-1]
            if not (follow or must_be_dir) or name in (b".", b""):
                return directory, name
            node = self.get(directory, name)
            if not isinstance(node, LinkNode):
                if must_be_dir and node is not None and not isinstance(node, DirNode):
                    raise WasiError(Errno.NOTDIR)
                return directory, name
            budget.spend()
            if node.target.startswith(b"/"):
                raise WasiError(Errno.NOTCAPABLE)
            raw = node.target + (b"/" if must_be_dir else b"")

    def directory(self, base: DirNode, path: str) -> DirNode:
        """The directory `path` names beneath `base` (every link expanded)."""
        stack = [base]
        self.walk(stack, checked_path(path), Budget())
        return stack[-1]

    @staticmethod
    def get(directory: DirNode, name: bytes) -> Node | None:
        """The node `name` in `directory`: a lookup, which is where a name too
        long is found out (as the kernel finds it: when it looks)."""
        if len(name) > NAME_MAX:
            raise WasiError(Errno.NAMETOOLONG)
        return directory if name == b"." else directory.entries.get(name)

    def lookup(self, base: DirNode, path: str, follow: bool) -> Node:
        directory, name = self.parent(base, path, follow)
        node = self.get(directory, name)
        if node is None:
            raise WasiError(Errno.NOENT)
        return node


def _entry_name(name) -> bytes:
    if not isinstance(name, str):
        raise TypeError(f"names in a MemoryDir tree are str, not {type(name).__name__}")
    raw = name.encode("utf-8", "surrogateescape")
    if not raw or b"/" in raw or b"\0" in raw or raw in (b".", b".."):
        raise ValueError(f"{name!r} is not a name for a MemoryDir entry (empty, '.', '..', or with '/' or NUL)")
    if len(raw) > NAME_MAX:
        raise ValueError(f"{name!r} is longer than {NAME_MAX} bytes")
    return raw


def filestat(fs: MemoryFS, node: Node) -> Filestat:
    return Filestat(dev=fs.dev, ino=node.ino, filetype=node.filetype, nlink=node.nlink, size=node.size,
                    atim=node.atim, mtim=node.mtim, ctim=node.ctim)

