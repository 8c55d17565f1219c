"""Descriptors on a filesystem made of Python objects (filesystems/memory.py):
MemoryFile and MemoryDirectory, with the errnos Linux gives on a real one.

Every operation holds the filesystem's lock, so that one MemoryDir may be
shared by guests in several threads. Reads copy straight from the file's
bytearray into the guest's memory (one memcpy per iovec); writes straight
from it.
"""

from __future__ import annotations

import bisect
import os
import time
from itertools import islice
from operator import itemgetter

from pywasi.generated.preview1 import Dirent, Errno, Filetype
from pywasi.runtime.errors import WasiError

from ..bits import FDFLAGS, FST, OFLAGS, RIGHTS
from ..filesystems.host import refuse_too_long
from ..filesystems.memory import DirNode, FileNode, LinkNode, MemoryFS, Node, filestat, zero_fill
from .base import Descriptor
from .directory import DIRECTORY_RIGHTS, Directory
from .file import FILE_RIGHTS, MAX_OFFSET

_APPEND = FDFLAGS.APPEND
_CREAT, _DIRECTORY, _EXCL, _TRUNC = OFLAGS.CREAT, OFLAGS.DIRECTORY, OFLAGS.EXCL, OFLAGS.TRUNC
_FD_WRITE = RIGHTS.FD_WRITE
_WRITES = RIGHTS.FD_WRITE | RIGHTS.FD_ALLOCATE | RIGHTS.FD_FILESTAT_SET_SIZE  # what a host opens for writing
_seq = itemgetter(1)


def _times(node: Node, atim: int, mtim: int, fst_flags: int) -> None:
    """Set a node's times as utimensat would: a time, now, or unchanged; a
    time and its NOW flag together are EINVAL, as the spec says."""
    if fst_flags & FST.ATIM and fst_flags & FST.ATIM_NOW or fst_flags & FST.MTIM and fst_flags & FST.MTIM_NOW:
        raise WasiError(Errno.INVAL)
    now = time.time_ns()
    if fst_flags & FST.ATIM_NOW:
        node.atim = now
    elif fst_flags & FST.ATIM:
        node.atim = atim
    if fst_flags & FST.MTIM_NOW:
        node.mtim = now
    elif fst_flags & FST.MTIM:
        node.mtim = mtim
    node.ctim = now


def _changed(*nodes: Node) -> None:
    now = time.time_ns()
    for node in nodes:
        node.mtim = node.ctim = now


class MemoryFile(Descriptor):
    filetype = Filetype.REGULAR_FILE
    settable_flags = FDFLAGS.APPEND | FDFLAGS.NONBLOCK  # memory never blocks: recorded

    def __init__(self, fs: MemoryFS, node: FileNode, rights_base: int, rights_inheriting: int = 0, flags: int = 0):
        super().__init__(rights_base, rights_inheriting, flags)
        self.fs = fs
        self.node = node
        self.pos = 0
        self.host_fd = -1  # an Overlay's file not yet changed is read from the host, through this
        node.opens += 1

    def close(self):
        node, self.node = self.node, None
        if node is not None:
            with self.fs.lock:
                node.opens -= 1
                self.fs.release(node)
        if self.host_fd >= 0:
            fd, self.host_fd = self.host_fd, -1
            os.close(fd)

    # I/O -----------------------------------------------------------------------

    def read(self, iovs):
        with self.fs.lock:
            n = self._read_at(self.pos, iovs)
            self.pos += n
            return n

    def pread(self, iovs, offset):
        if offset > MAX_OFFSET:
            raise WasiError(Errno.INVAL)
        with self.fs.lock:
            return self._read_at(offset, iovs)

    def write(self, iovs):
        with self.fs.lock:
            if self.flags & _APPEND:
                self.pos = self.node.size
            n = self._write_at(self.pos, iovs)
            self.pos += n
            return n

    def pwrite(self, iovs, offset):
        if offset > MAX_OFFSET:
            raise WasiError(Errno.INVAL)
        with self.fs.lock:
            if self.flags & _APPEND:  # Linux appends, whatever the offset (pwrite(2), BUGS)
                offset = self.node.size
            return self._write_at(offset, iovs)

    def _read_at(self, pos: int, iovs) -> int:
        node = self.node
        if not node.loaded:  # straight from the host file, until something changes it
            if self.host_fd < 0:
                self.host_fd = node.open_host()
            return os.preadv(self.host_fd, iovs, pos)
        data = node.data
        size = len(data)
        total = 0
        with memoryview(data) as source:
            for view in iovs:
                n = min(len(view), size - pos)
                if n <= 0:
                    break
                view[:n] = source[pos : pos + n]
                pos += n
                total += n
                if n < len(view):
                    break
        return total

    def _write_at(self, pos: int, iovs) -> int:
        """Write at `pos`, zero-filling a hole before it; past the quota,
        what fits (ENOSPC if nothing does), as a full disk takes it."""
        total = sum(len(view) for view in iovs)
        if not total:
            return 0
        data = self.node.data
        size = len(data)
        end = pos + total
        if end > MAX_OFFSET:
            raise WasiError(Errno.FBIG)
        if end > size:
            room = self.fs.room()
            if end - size > room:
                total = size + room - pos
                if total <= 0:
                    raise WasiError(Errno.NOSPC)
                end = pos + total
            if pos > size:
                zero_fill(data, pos - size)
            self.fs.used_bytes += end - size
        left = total
        for view in iovs:
            n = min(len(view), left)
            data[pos : pos + n] = view[:n]
            pos += n
            left -= n
            if not left:
                break
        _changed(self.node)
        return total

    def seek(self, offset, whence):
        with self.fs.lock:
            start = (0, self.pos, self.node.size)[whence]
            new = start + offset
            if new < 0 or new > MAX_OFFSET:
                raise WasiError(Errno.INVAL)
            self.pos = new
            return new

    def tell(self):
        return self.pos

    # Status --------------------------------------------------------------------

    def filestat(self):
        return filestat(self.fs, self.node)

    def set_size(self, size):
        if size > MAX_OFFSET:
            raise WasiError(Errno.INVAL)
        with self.fs.lock:
            self.fs.resize(self.node, size)
            _changed(self.node)

    def allocate(self, offset, length):
        if offset > MAX_OFFSET or length > MAX_OFFSET:
            raise WasiError(Errno.INVAL)
        if length == 0:  # posix_fallocate(3) on Linux
            raise WasiError(Errno.INVAL)
        with self.fs.lock:
            if offset + length > self.node.size:
                self.fs.resize(self.node, offset + length)
                self.node.ctim = time.time_ns()

    def advise(self, offset, length, advice):
        if offset > MAX_OFFSET or length > MAX_OFFSET:
            raise WasiError(Errno.INVAL)

    def sync(self):
        pass

    def datasync(self):
        pass

    def set_times(self, atim, mtim, fst_flags):
        with self.fs.lock:
            _times(self.node, atim, mtim, fst_flags)

    def poll_now(self, write):
        # Always ready, as a host file is; a read has what is left.
        return (0, False) if write else (max(0, self.node.size - self.pos), False)


class MemoryDirectory(Directory):
    """A directory of a MemoryFS. Paths resolve beneath `node` in the tree."""

    def __init__(self, fs: MemoryFS, node: DirNode, rights_base: int = DIRECTORY_RIGHTS,
                 rights_inheriting: int = RIGHTS.ALL, flags: int = 0):
        super().__init__(rights_base, rights_inheriting, flags)
        self.fs = fs
        self.node = node

    def same_filesystem(self, other):
        return isinstance(other, MemoryDirectory) and other.fs is self.fs

    def filestat(self):
        return filestat(self.fs, self.node)

    def set_times(self, atim, mtim, fst_flags):
        with self.fs.lock:
            _times(self.node, atim, mtim, fst_flags)

    def sync(self):
        pass

    def datasync(self):
        pass

    # fd_readdir ------------------------------------------------------------------

    def readdir(self, cookie: int):
        """(dirent, name) from `cookie` on: `.`, `..`, then the entries, each
        with its sequence number as its cookie. The names are taken under
        the lock (a list of references); dirents are made only for what the
        guest's buffer takes, and an entry removed since is skipped."""
        node = self.node
        with self.fs.lock:
            names = list(node.seqs.items())  # in insertion order: sequence numbers ascending
            # `..` of the filesystem's root is out of reach: the root
            # itself, as on the host (and POSIX's `/..`), never inode 0.
            up = node.parent.ino if node.parent is not None else node.ino
        start = bisect.bisect_right(names, cookie, key=_seq)
        return self._listing(cookie, up, names, start)

    def _listing(self, cookie: int, up: int, names: list, start: int):
        node = self.node
        if cookie < 1:
            yield Dirent(1, node.ino, 1, Filetype.DIRECTORY), b"."
        if cookie < 2:
            yield Dirent(2, up, 2, Filetype.DIRECTORY), b".."
        entries, seqs = node.entries, node.seqs
        for name, seq in islice(names, start, None):
            child = entries.get(name)
            if child is not None and seqs.get(name) == seq:  # still there, and still the same entry
                yield Dirent(seq, child.ino, len(name), child.filetype), name

    # Path operations ---------------------------------------------------------------

    def _open(self, path, follow, oflags, base, inheriting, fdflags) -> Descriptor:
        fs = self.fs
        if oflags & _CREAT and oflags & _EXCL:
            follow = False  # O_CREAT | O_EXCL never follows a symlink at the end (POSIX)
        slash = path.endswith("/")
        refuse_too_long(path)
        with fs.lock:
            if slash and oflags & _CREAT:
                self._refuse_creating_at_a_slash(path, oflags)
            directory, name = fs.parent(self.node, path, follow)
            node = fs.get(directory, name)
            if node is None:
                if not oflags & _CREAT or not name:
                    raise WasiError(Errno.NOENT)
                if slash:
                    raise WasiError(Errno.ISDIR)
                node = self._create(directory, name, lambda ino, now: FileNode(ino, now))
            elif oflags & _CREAT and oflags & _EXCL:
                raise WasiError(Errno.EXIST)
            elif isinstance(node, LinkNode):  # O_NOFOLLOW at a symlink
                raise WasiError(Errno.NOTDIR if oflags & _DIRECTORY else Errno.LOOP)
            elif isinstance(node, DirNode):
                # Writing a directory is EISDIR, as open(2) answers; with
                # O_DIRECTORY, asking for FD_WRITE is (path_open_preopen).
                if oflags & _TRUNC or oflags & _CREAT or base & (_FD_WRITE if oflags & _DIRECTORY else _WRITES):
                    raise WasiError(Errno.ISDIR)
            elif oflags & _DIRECTORY or slash:
                raise WasiError(Errno.NOTDIR)
            elif oflags & _TRUNC and node.size:
                fs.resize(node, 0)
                _changed(node)
            if isinstance(node, DirNode):
                return MemoryDirectory(fs, node, base & DIRECTORY_RIGHTS, inheriting, fdflags)
            return MemoryFile(fs, node, base & FILE_RIGHTS, inheriting & FILE_RIGHTS, fdflags)

    def _refuse_creating_at_a_slash(self, path: str, oflags: int) -> None:
        """What open(2) answers for O_CREAT and a trailing slash, once the
        directory that would hold the name is found (Linux): EISDIR for a
        name, without looking at it; for `.` or `..`, EEXIST with O_EXCL."""
        bare = path.rstrip("/")
        head, _, name = bare.rpartition("/")
        dots = name in (".", "..")
        if dots or head:
            self.fs.directory(self.node, bare if dots else head)
        raise WasiError(Errno.EXIST if dots and oflags & _EXCL else Errno.ISDIR)

    def _create(self, directory: DirNode, name: bytes, make) -> Node:
        """A new node `name` in `directory` (which must still be in the tree)."""
        if directory.nlink == 0:
            raise WasiError(Errno.NOENT)
        self.fs.count_new_node()
        node = make(self.fs.new_ino(), time.time_ns())
        directory.add(name, node)
        _changed(directory)
        return node

    def _named(self, path: str) -> tuple[DirNode, bytes, bool]:
        """(directory, name, trailing slash) for a call that names its last
        component without following it."""
        refuse_too_long(path)  # the slash counts, as the kernel counts it
        bare = path.rstrip("/") or path
        directory, name = self.fs.parent(self.node, bare, False)
        return directory, name, bare != path

    def _new_name(self, path: str) -> tuple[DirNode, bytes]:
        """Where symlink and link create: EEXIST if taken, ENOENT for a
        missing name with a trailing slash (Linux's filename_create)."""
        return self._free(*self._named(path))

    def _free(self, directory: DirNode, name: bytes, slash: bool) -> tuple[DirNode, bytes]:
        if self.fs.get(directory, name) is not None:
            raise WasiError(Errno.EXIST)
        if slash or not name:
            raise WasiError(Errno.NOENT)
        return directory, name

    def mkdir(self, path):
        with self.fs.lock:
            directory, name, _ = self._named(path)
            if self.fs.get(directory, name) is not None:
                raise WasiError(Errno.EXIST)
            if not name:
                raise WasiError(Errno.NOENT)
            self._create(directory, name, lambda ino, now: DirNode(ino, now, directory))

    def stat(self, path, follow):
        with self.fs.lock:
            return filestat(self.fs, self.fs.lookup(self.node, path, follow))

    def set_times_at(self, path, follow, atim, mtim, fst_flags):
        with self.fs.lock:
            _times(self.fs.lookup(self.node, path, follow), atim, mtim, fst_flags)

    def _readlink(self, path) -> bytes:
        with self.fs.lock:
            node = self.fs.lookup(self.node, path, False)
            if not isinstance(node, LinkNode):
                raise WasiError(Errno.INVAL)
            return node.target

    def rmdir(self, path):
        with self.fs.lock:
            directory, name, _ = self._named(path)
            if name == b".":
                raise WasiError(Errno.INVAL)
            node = self.fs.get(directory, name)
            if node is None:
                raise WasiError(Errno.NOENT)
            if not isinstance(node, DirNode):
                raise WasiError(Errno.NOTDIR)
            if node.entries:
                raise WasiError(Errno.NOTEMPTY)
            directory.remove(name)
            node.nlink = 0
            self.fs.files -= 1
            _changed(directory)

    def unlink(self, path):
        with self.fs.lock:
            directory, name, slash = self._named(path)
            node = self.fs.get(directory, name)
            if node is None:
                raise WasiError(Errno.NOENT)
            if isinstance(node, DirNode):
                raise WasiError(Errno.ISDIR)
            if slash:
                raise WasiError(Errno.NOTDIR)
            self._unlinked(directory, name)
            _changed(directory)

    def _unlinked(self, directory: DirNode, name: bytes) -> None:
        node = directory.remove(name)
        node.nlink -= 1
        node.ctim = time.time_ns()
        if node.nlink == 0:
            self.fs.files -= 1
            self.fs.release(node)

    def _symlink(self, target: bytes, path):
        with self.fs.lock:
            directory, name = self._new_name(path)
            self._create(directory, name, lambda ino, now: LinkNode(ino, now, target))

    def _link(self, follow, path, to: MemoryDirectory, new_path):
        fs = self.fs
        with fs.lock:
            # Both parents first, then the names, as the host's linkat meets them.
            source_dir, source_name = fs.parent(self.node, path, follow)
            named = to._named(new_path)
            node = fs.get(source_dir, source_name)
            if node is None:
                raise WasiError(Errno.NOENT)
            directory, name = to._free(*named)
            if isinstance(node, DirNode):
                raise WasiError(Errno.PERM)  # link(2): no hard links to directories
            if directory.nlink == 0:
                raise WasiError(Errno.NOENT)
            directory.add(name, node)
            node.nlink += 1
            node.ctim = time.time_ns()
            _changed(directory)

    def _rename(self, path, to: MemoryDirectory, new_path):
        """rename(2), in the order Linux checks (do_renameat2, vfs_rename)."""
        fs = self.fs
        with fs.lock:
            old_dir, old_name, old_slash = self._named(path)
            new_dir, new_name, new_slash = to._named(new_path)
            if not old_name or not new_name:
                raise WasiError(Errno.NOENT)
            if old_name == b"." or new_name == b".":
                raise WasiError(Errno.BUSY)
            node = fs.get(old_dir, old_name)
            if node is None:
                raise WasiError(Errno.NOENT)
            target = fs.get(new_dir, new_name)
            is_dir = isinstance(node, DirNode)
            if not is_dir and (old_slash or new_slash):
                raise WasiError(Errno.NOTDIR)
            if is_dir and _within(new_dir, node):
                raise WasiError(Errno.INVAL)  # into itself or a descendant
            if target is not None and isinstance(target, DirNode) and _within(old_dir, target):
                raise WasiError(Errno.NOTEMPTY)  # over an ancestor of the source
            if target is node:
                return
            if target is not None:
                if is_dir and not isinstance(target, DirNode):
                    raise WasiError(Errno.NOTDIR)
                if not is_dir and isinstance(target, DirNode):
                    raise WasiError(Errno.ISDIR)
                if isinstance(target, DirNode) and target.entries:
                    raise WasiError(Errno.NOTEMPTY)
            if new_dir.nlink == 0:
                raise WasiError(Errno.NOENT)
            old_dir.remove(old_name)
            if target is not None:
                if isinstance(target, DirNode):
                    new_dir.remove(new_name)
                    target.nlink = 0
                    fs.files -= 1
                else:
                    self._unlinked(new_dir, new_name)
            new_dir.add(new_name, node)
            node.ctim = time.time_ns()
            _changed(old_dir, new_dir)


def _within(directory: DirNode, ancestor: DirNode) -> bool:
    """Whether `directory` is `ancestor` or lies beneath it."""
    node: DirNode | None = directory
    while node is not None:
        if node is ancestor:
            return True
        node = node.parent
    return False
