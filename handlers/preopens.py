"""What a preopen is: an object that gives the guest a directory under a
name. A host path becomes a HostDir; a filesystem of another kind (in
memory, an overlay) is such an object itself. The facade only calls
`preopen(name, read_only)`.
"""

from __future__ import annotations

import os

from .descriptors.directory import Directory, HostDirectory

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
