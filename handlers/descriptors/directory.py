"""Directory descriptors (preopens and the directories path_open opens) and
the path operations they carry.

Directory is what every path_* call goes through: it holds the rights rules
(what path_open may pass on, what a read-only preopen withholds) and the
checks every filesystem shares (a symlink's target, readlink's buffer, a
rename or link within one filesystem), and a kind of directory implements
the rest on its own filesystem. HostDirectory resolves every path beneath its
host fd with its resolver (filesystems/host.py): an operation gets the parent
directory of the last component, opened safely, and makes one *at call on
the name, never following a symlink there.
"""

from __future__ import annotations

import os
import stat
import threading
from itertools import chain

from pywasi.generated.preview1 import Dirent, Errno, Filetype

from .. import libc
from ..bits import FDFLAGS, LOOKUP, OFLAGS, RIGHTS
from pywasi.runtime.errors import WasiError
from ..filesystems import host as host_fs, listing
from .base import Descriptor
from .file import FILE_RIGHTS, File
from ..wait import READ, stoppable, wait_for
from .hostfd import HostFd, filestat_of, filetype_of, timespecs

# What a directory may do itself, and what it may pass on to what is opened
# under it (every right: path_open narrows them to what was asked).
DIRECTORY_RIGHTS = (
    RIGHTS.FD_FDSTAT_SET_FLAGS | RIGHTS.FD_SYNC | RIGHTS.FD_ADVISE | RIGHTS.PATH_CREATE_DIRECTORY
    | RIGHTS.PATH_CREATE_FILE | RIGHTS.PATH_LINK_SOURCE | RIGHTS.PATH_LINK_TARGET | RIGHTS.PATH_OPEN
    | RIGHTS.FD_READDIR | RIGHTS.PATH_READLINK | RIGHTS.PATH_RENAME_SOURCE | RIGHTS.PATH_RENAME_TARGET
    | RIGHTS.PATH_FILESTAT_GET | RIGHTS.PATH_FILESTAT_SET_SIZE | RIGHTS.PATH_FILESTAT_SET_TIMES
    | RIGHTS.FD_FILESTAT_GET | RIGHTS.FD_FILESTAT_SET_TIMES | RIGHTS.PATH_SYMLINK
    | RIGHTS.PATH_REMOVE_DIRECTORY | RIGHTS.PATH_UNLINK_FILE | RIGHTS.POLL_FD_READWRITE | RIGHTS.FD_DATASYNC
)
ALL_RIGHTS = RIGHTS.ALL

# What a read-only preopen withholds from itself and from everything opened
# beneath it: every right that writes, creates, renames or deletes. (Linking
# from it is writing too: a link elsewhere would be a writable name.)
WRITE_RIGHTS = (
    RIGHTS.FD_WRITE | RIGHTS.FD_ALLOCATE | RIGHTS.FD_FILESTAT_SET_SIZE | RIGHTS.FD_FILESTAT_SET_TIMES
    | RIGHTS.PATH_CREATE_DIRECTORY | RIGHTS.PATH_CREATE_FILE | RIGHTS.PATH_LINK_SOURCE
    | RIGHTS.PATH_LINK_TARGET | RIGHTS.PATH_RENAME_SOURCE | RIGHTS.PATH_RENAME_TARGET
    | RIGHTS.PATH_FILESTAT_SET_SIZE | RIGHTS.PATH_FILESTAT_SET_TIMES | RIGHTS.PATH_SYMLINK
    | RIGHTS.PATH_REMOVE_DIRECTORY | RIGHTS.PATH_UNLINK_FILE
)

# path_open: the host's open flags for every oflags and fdflags value.
_OFLAGS = tuple(
    (os.O_CREAT if o & OFLAGS.CREAT else 0) | (os.O_DIRECTORY if o & OFLAGS.DIRECTORY else 0)
    | (os.O_EXCL if o & OFLAGS.EXCL else 0) | (os.O_TRUNC if o & OFLAGS.TRUNC else 0)
    for o in range(OFLAGS.ALL + 1)
)
_FDFLAGS = tuple(
    (os.O_APPEND if f & FDFLAGS.APPEND else 0) | (os.O_DSYNC if f & FDFLAGS.DSYNC else 0)
    | (os.O_NONBLOCK if f & FDFLAGS.NONBLOCK else 0) | (getattr(os, "O_RSYNC", 0) if f & FDFLAGS.RSYNC else 0)
    | (os.O_SYNC if f & FDFLAGS.SYNC else 0)
    for f in range(FDFLAGS.ALL + 1)
)
_CREAT, _DIRECTORY = OFLAGS.CREAT, OFLAGS.DIRECTORY
_FOLLOW = LOOKUP.SYMLINK_FOLLOW
_FD_READ, _FD_WRITE = RIGHTS.FD_READ, RIGHTS.FD_WRITE
_WRITES = RIGHTS.FD_WRITE | RIGHTS.FD_ALLOCATE | RIGHTS.FD_FILESTAT_SET_SIZE  # need a writable host fd


class Directory(Descriptor):
    """A directory: the path operations, resolved beneath it. A kind gives
    `same_filesystem`, `_open`, `_readlink`, `_symlink`, `_rename`, `_link`
    and the operations on one name (mkdir, stat, set_times_at, rmdir, unlink),
    and fd_readdir."""

    filetype = Filetype.DIRECTORY
    settable_flags = FDFLAGS.APPEND | FDFLAGS.NONBLOCK  # nothing to append to or block on: recorded
    name: bytes | None = None  # the guest's name for it, if it is a preopen

    # A directory is no stream, whatever its kind stands on.
    read = Descriptor.read
    write = Descriptor.write
    seek = Descriptor.seek
    tell = Descriptor.tell
    poll_now = Descriptor.poll_now

    def preopened(self, name: str, read_only: bool = False) -> Directory:
        """Make this the preopen `name`; a read-only one withholds WRITE_RIGHTS
        from itself and from all that is opened under it."""
        withheld = WRITE_RIGHTS if read_only else 0
        self.rights_base = DIRECTORY_RIGHTS & ~withheld
        self.rights_inheriting = ALL_RIGHTS & ~withheld
        self.name = name.encode("utf-8", "surrogateescape")
        return self

    def prestat_name(self) -> bytes:
        if self.name is None:
            raise WasiError(Errno.BADF)
        return self.name

    def same_filesystem(self, other: Directory) -> bool:
        """Whether a rename or link may go from here to `other`."""
        raise NotImplementedError

    def open(self, path, dirflags, oflags, rights_base, rights_inheriting, fdflags) -> Descriptor:
        """path_open: a descriptor with the rights asked for that this
        directory may pass on."""
        if oflags & _DIRECTORY and oflags & _CREAT:  # Linux >= 6.4 says EINVAL too (older kernels created a file)
            raise WasiError(Errno.INVAL)
        base = rights_base & self.rights_inheriting
        inheriting = rights_inheriting & self.rights_inheriting
        return self._open(path, bool(dirflags & _FOLLOW), oflags, base, inheriting, fdflags)

    def readlink(self, path, buf: memoryview) -> int:
        """The link's target in `buf`, cut to its size (as readlink(2) does)."""
        target = self._readlink(path)
        n = min(len(target), len(buf))
        buf[:n] = target[:n]
        return n

    def symlink(self, target: str, path):
        raw = target.encode("utf-8")
        if b"\0" in raw:
            raise WasiError(Errno.INVAL)
        if raw.startswith(b"/"):  # wasmtime refuses absolute targets too: they could only lead out
            raise WasiError(Errno.NOTCAPABLE)
        self._symlink(raw, path)

    def rename(self, path, to: Descriptor, new_path):
        self._rename(path, self._peer(to), new_path)

    def link(self, follow, path, to: Descriptor, new_path):
        self._link(follow, path, self._peer(to), new_path)

    def _peer(self, to: Descriptor) -> Directory:
        """The directory a rename or link goes to: EXDEV on another
        filesystem, as rename(2) and link(2) answer across mounts."""
        if not isinstance(to, Directory):
            raise WasiError(Errno.NOTDIR)
        if not self.same_filesystem(to):
            raise WasiError(Errno.XDEV)
        return to


class HostDirectory(Directory, HostFd):
    """A directory on the host, over its fd; paths are resolved beneath it by
    `resolver`, which the directories opened under it inherit."""

    def __init__(
        self, fd: int, rights_base: int = DIRECTORY_RIGHTS, rights_inheriting: int = ALL_RIGHTS, flags: int = 0,
        resolver: host_fs.Resolver | None = None, root: tuple[int, int] | None = None,
    ):
        HostFd.__init__(self, fd, rights_base, rights_inheriting, flags)
        self.resolver = resolver or host_fs.default()
        # (st_dev, st_ino) of the preopen this directory was reached from:
        # its `..` is out of reach.
        self.root = root
        self._cursor = listing.Cursor()  # where the guest's last listing stopped

    def preopened(self, name, read_only=False):
        own = os.fstat(self.fd)
        self.root = (own.st_dev, own.st_ino)
        return super().preopened(name, read_only)

    def same_filesystem(self, other):
        return isinstance(other, HostDirectory)

    # fd_readdir ------------------------------------------------------------

    def readdir(self, cookie: int):
        """(dirent, name) from the entry `cookie` on: `.` and `..`, then the
        host's entries, streamed (listing.py keeps no listing, only where the
        last one stopped)."""
        host = listing.entries(self.fd, cookie, self._cursor)
        if cookie >= listing.FIRST:
            return host
        return chain(self._dots()[cookie:], host)

    def _dots(self) -> tuple[tuple[Dirent, bytes], ...]:
        own = os.fstat(self.fd)
        if (own.st_dev, own.st_ino) == self.root:
            # The parent is out of reach: `..` is the directory itself, as
            # POSIX has it for `/..`. Its inode must not be 0: older wasi-libc
            # readdir then asks fstatat(dirfd, "..") for it, which a capability
            # root refuses (wasmtime reports a nonzero inode too).
            parent = own.st_ino
        else:
            parent = os.stat("..", dir_fd=self.fd).st_ino
        return (
            (Dirent(1, own.st_ino, 1, Filetype.DIRECTORY), b"."),
            (Dirent(2, parent, 2, Filetype.DIRECTORY), b".."),
        )

    # Path operations -----------------------------------------------------

    def _open(self, path, follow, oflags, base, inheriting, fdflags) -> Descriptor:
        flags = _OFLAGS[oflags] | _FDFLAGS[fdflags] | os.O_NOCTTY
        if oflags & _DIRECTORY:
            if base & _FD_WRITE:
                # Asking to write a directory: open(2) with O_WRONLY answers
                # EISDIR for a directory, ENOTDIR for a file, ENOENT for
                # nothing (the WASI test suite's path_open_preopen, wasmtime).
                flags |= os.O_WRONLY
        elif base & _WRITES:
            flags |= os.O_RDWR if base & _FD_READ else os.O_WRONLY
        if not follow:
            flags |= os.O_NOFOLLOW
        if flags & (os.O_NONBLOCK | os.O_DIRECTORY) or flags & os.O_ACCMODE == os.O_RDWR or not stoppable():
            fd = self.resolver.open_at(self.fd, path, flags, 0o666)
        else:
            fd = _open_stoppably(self.resolver, self.fd, path, flags)
        try:
            mode = os.fstat(fd).st_mode
            if stat.S_ISDIR(mode):
                return HostDirectory(fd, base & DIRECTORY_RIGHTS, inheriting, fdflags, self.resolver, self.root)
            return File(fd, filetype_of(mode), base & FILE_RIGHTS, inheriting & FILE_RIGHTS, fdflags)
        except BaseException:
            os.close(fd)
            raise

    def mkdir(self, path):
        self._named(path, lambda d, name: os.mkdir(name, 0o777, dir_fd=d))

    def stat(self, path, follow):
        return filestat_of(self._at(path, follow, lambda d, name: os.stat(name, dir_fd=d, follow_symlinks=False)))

    def set_times_at(self, path, follow, atim, mtim, fst_flags):
        times = timespecs(atim, mtim, fst_flags)
        self._at(path, follow, lambda d, name: libc.utimensat(d, name, times))

    def _readlink(self, path) -> bytes:
        return self._at(path, False, lambda d, name: os.readlink(name, dir_fd=d))

    def rmdir(self, path):
        self._named(path, lambda d, name: os.rmdir(name, dir_fd=d))

    def unlink(self, path):
        self._named(path, lambda d, name: os.unlink(name, dir_fd=d))

    def _symlink(self, target: bytes, path):
        self._named(path, lambda d, name: os.symlink(target, name, dir_fd=d))

    def _rename(self, path, to: HostDirectory, new_path):
        self._named(path, lambda d, name: to._named(
            new_path, lambda d2, name2: os.rename(name, name2, src_dir_fd=d, dst_dir_fd=d2)))

    def _link(self, follow, path, to: HostDirectory, new_path):
        self._at(path, follow, lambda d, name: to._named(
            new_path, lambda d2, name2: os.link(name, name2, src_dir_fd=d, dst_dir_fd=d2, follow_symlinks=False)))

    def _at(self, path: str, follow: bool, action):
        """`action(dirfd, name)` on the last component of `path`, resolved
        (a trailing slash follows a symlink there, as a lookup does)."""
        base = self.fd
        dirfd, name = self.resolver.parent(base, path, follow)
        try:
            return action(dirfd, name)
        finally:
            self.resolver.release(base, dirfd)

    def _named(self, path: str, action):
        """`action(dirfd, name)` for a call that names its last component
        without looking it up (mkdir, rmdir, unlink, symlink, rename, a
        link's new name): the name keeps the path's trailing slash, so the
        kernel applies its own rules to it (renaming a file to `x/` is
        ENOTDIR, rmdir of `link/` ENOTDIR), and these calls never follow a
        symlink there, slash or not."""
        host_fs.refuse_too_long(path)  # the slash counts, as the kernel counts it
        bare = path.rstrip("/") or path
        slash = b"/" if bare != path else b""
        return self._at(bare, False, lambda d, name: action(d, name + slash))


def _open_stoppably(resolver: host_fs.Resolver, base: int, path: str, flags: int) -> int:
    """Open `path` beneath `base` as resolver.open_at does, in a way a stop
    (handlers/wait.py) can end: an open of a FIFO for reading or writing
    waits in open(2) until the other end opens, which no wait can watch.

    The last component is looked up first (O_PATH, through the resolver); a
    FIFO is then opened through its /proc/self/fd link (the same inode, not
    whatever the name holds by then) in a short-lived thread, while this one
    waits on the stop's wake fd and on a pipe the thread signals. On a stop,
    opening the FIFO O_RDWR | O_NONBLOCK ourselves (on Linux, both ends)
    lets the blocked open return; what it got is closed, and the thread is
    joined before the stop goes on."""
    try:
        probe = resolver.open_at(base, path, flags & os.O_NOFOLLOW | _LOOKUP, 0)
    except OSError:
        probe = -1  # the open itself gives the error
    try:
        if probe < 0 or not stat.S_ISFIFO(os.fstat(probe).st_mode) or not os.path.isdir("/proc/self/fd"):
            return resolver.open_at(base, path, flags, 0o666)
        link = f"/proc/self/fd/{probe}"
        flags = flags & ~(os.O_NOFOLLOW | os.O_CREAT | os.O_EXCL) | os.O_CLOEXEC
        opened: list[int | BaseException] = []
        done_read, done_write = os.pipe2(os.O_CLOEXEC)

        def opener():
            try:
                opened.append(os.open(link, flags))
            except BaseException as e:  # noqa: B036 - handed to the waiting thread
                opened.append(e)
            finally:
                os.write(done_write, b"\0")

        thread = threading.Thread(target=opener, name="pywasi FIFO open", daemon=True)
        try:
            thread.start()
            try:
                wait_for(done_read, READ)
            except BaseException:
                while thread.is_alive():  # until the opener has been let through
                    os.close(os.open(link, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC))
                    thread.join(0.01)
                if opened and isinstance(opened[0], int):
                    os.close(opened[0])
                raise
            thread.join()
        finally:
            os.close(done_read)
            os.close(done_write)
        if isinstance(opened[0], BaseException):
            raise opened[0]
        return opened[0]
    finally:
        if probe >= 0:
            os.close(probe)


_LOOKUP = os.O_CLOEXEC | getattr(os, "O_PATH", 0)
