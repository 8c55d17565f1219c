"""Preopen values beyond a plain host path."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .options import Tree


@dataclass(frozen=True)
class ReadOnly:
    """A directory preopened so that nothing under it can be written,
    created, renamed or deleted: a host path, or a MemoryDir.

        WASI(preopens={"/data": ReadOnly("/srv/data"), "/in": ReadOnly(MemoryDir(...))})

    The guest's descriptors under it never get the rights that write (so
    such calls fail with ENOTCAPABLE), and its files are opened read-only.
    """

    path: str | bytes | os.PathLike[str] | os.PathLike[bytes] | Tree
