"""What a preopen is: an object that gives the guest a directory under a
name. A host path becomes a HostDir; a filesystem of another kind (in
memory, an overlay) is such an object itself. The facade only calls
`preopen(name, read_only)`.
"""

from __future__ import annotations

import os

from .descriptors.directory import Directory, HostDirectory
from .descriptors.memory import MemoryDirectory
from .filesystems.memory import MemoryFS, Symlink
from .filesystems.overlay import OverlayFS

__all__ = ["HostDir", "MemoryDir", "Overlay", "Symlink"]

_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


class HostDir:
    """A host directory, opened when the guest's fd table is set up (a
    missing one fails there with ENOENT, a file with ENOTDIR, as in Node)."""

    def __init__(self, path: str | bytes | os.PathLike):
        self.path = os.fsdecode(path)

    def preopen(self, name: str, read_only: bool) -> Directory:
        return HostDirectory(os.open(self.path, _OPEN_DIR)).preopened(name, read_only)

    def __repr__(self) -> str:
        return f"HostDir({self.path!r})"


class MemoryDir:
    """A directory held in memory, made of Python objects:

        MemoryDir({"in.txt": b"data", "conf": {"a.ini": "x=1"}, "latest": Symlink("in.txt")})

    `tree` maps names to bytes or str (a file; str is UTF-8), a dict (a
    directory) or a Symlink. Past `max_bytes` of file data a write fails with
    ENOSPC (writing what fits first; by default, half the host's RAM, as a
    tmpfs has it), past `max_files` entries a create fails with EDQUOT. One
    MemoryDir may be preopened by several WASI objects, in several threads,
    as a tmpfs may be mounted in several places.
    """

    def __init__(self, tree: dict | None = None, *, max_bytes: int | None = None, max_files: int | None = None):
        self._fs = MemoryFS(max_bytes=_quota("max_bytes", max_bytes), max_files=_quota("max_files", max_files))
        if tree is not None:
            self._fs.fill(self._fs.root, tree)

    @classmethod
    def from_path(cls, path, *, max_bytes: int | None = None, max_files: int | None = None) -> MemoryDir:
        """A copy of the host tree at `path`: files, directories and symlinks,
        with their modes and times."""
        path = os.fspath(path)
        if not os.path.isdir(path):
            raise NotADirectoryError(f"{path!r} is not a directory")
        memdir = cls(max_bytes=max_bytes, max_files=max_files)
        memdir._fs.copy_host(memdir._fs.root, path)
        st = os.stat(path)
        root = memdir._fs.root
        root.atim, root.mtim, root.ctim = st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns
        return memdir

    def tree(self) -> dict:
        """Its contents now, as the tree it is made from (files as bytes)."""
        with self._fs.lock:
            return self._fs.snapshot(self._fs.root)

    def preopen(self, name: str, read_only: bool) -> Directory:
        return MemoryDirectory(self._fs, self._fs.root).preopened(name, read_only)

    def __repr__(self) -> str:
        return f"MemoryDir({self._fs.files} entries, {self._fs.used_bytes} bytes)"


class Overlay:
    """The host directory `host_path` seen through a copy-on-write layer:

        overlay = Overlay("/srv/project")
        WASI(preopens={"/work": overlay})
        ...
        overlay.changes()   # {"build/out.o": "created", "main.c": "modified", "old.txt": "deleted"}

    Reads come from the host; every change (write, create, rename, delete,
    set_times) stays in memory, and the host directory is never modified
    (nor its access times, where the host allows O_NOATIME). A file is
    copied into memory when first changed; past `max_bytes` of such data
    (by default half the host's RAM), ENOSPC. `tree()` is the merged view, in MemoryDir.tree()'s form.
    """

    def __init__(self, host_path, *, max_bytes: int | None = None):
        self._fs = OverlayFS(host_path, max_bytes=_quota("max_bytes", max_bytes))

    def tree(self) -> dict:
        """The merged view now (files as bytes)."""
        with self._fs.lock:
            return self._fs.snapshot(self._fs.root)

    def changes(self) -> dict[str, str]:
        """Each changed path, relative to the root: "created", "modified" or
        "deleted"."""
        with self._fs.lock:
            return self._fs.changes()

    def preopen(self, name: str, read_only: bool) -> Directory:
        return MemoryDirectory(self._fs, self._fs.root).preopened(name, read_only)

    def __repr__(self) -> str:
        return f"Overlay(root fd {self._fs.root_fd})"


def _quota(name: str, value) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int or None, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, not {value}")
    return value
