"""The host filesystem's resolver (the sandbox): every guest path is resolved
beneath a directory fd, and may not leave it. Nothing here joins host path
strings.

Two strategies, with the same answers:
- "openat2": the kernel resolves the path under RESOLVE_BENEATH |
  RESOLVE_NO_MAGICLINKS (Linux >= 5.6) and refuses `..` above the base,
  absolute paths and symlinks that lead out (EXDEV, answered as ENOTCAPABLE).
- "walk" (cap-std's cap-primitives/src/fs/manually): a worklist of components
  and a stack of open directories, each opened with O_NOFOLLOW; `..` pops the
  stack, and popping past the base is an escape; a symlink's target goes back
  on the worklist (an absolute one is an escape).

Either way one path expands at most MAX_SYMLINKS symlinks in all, wherever
they sit in it (one budget for the whole resolution, as the kernel keeps).

A Resolver is one strategy; each host directory holds the one it resolves
with (and hands it to the directories opened beneath it). openat2 is the
default where the kernel has it (and a seccomp filter allows it); `select`
changes the default for directories made from then on, so that the tests run
both.

`open_at` opens a path. Every other path operation goes through `parent`:
the directory holding the last component, opened safely, and that
component's name; the operation is then one *at call on that name without
following symlinks, so a symlink swapped in after resolution is acted on,
never followed.
"""

from __future__ import annotations

import errno
import os
import stat

from pywasi.generated.preview1 import Errno

from .. import libc
from pywasi.runtime.errors import WasiError

MAX_SYMLINKS = 40  # Linux's MAXSYMLINKS: the kernel and the walk give up after as many
PATH_MAX = 4096  # Linux's, counting the NUL: a path of as many bytes is ENAMETOOLONG

_DIR = os.O_DIRECTORY | os.O_CLOEXEC | getattr(os, "O_PATH", 0)
_LOOKUP = os.O_CLOEXEC | getattr(os, "O_PATH", 0)
_RESOLVE = libc.RESOLVE_BENEATH | libc.RESOLVE_NO_MAGICLINKS
_AT_FDCWD = -100
_EAGAIN_RETRIES = 16
_CREATE_NEW = os.O_CREAT | os.O_EXCL


def _eloop() -> OSError:
    return OSError(errno.ELOOP, os.strerror(errno.ELOOP))


class Budget:
    """The symlinks one path may still expand: one count for the whole
    resolution, whichever loop meets them."""

    __slots__ = ("left",)

    def __init__(self):
        self.left = MAX_SYMLINKS

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise _eloop()


class Resolver:
    """One way of resolving guest paths beneath a host directory fd.
    Subclasses give `_open(base, path, flags, mode, budget)` and
    `_open_dir(base, path, budget)`."""

    name = ""

    def open_at(self, base: int, path: str, flags: int, mode: int = 0) -> int:
        """os.open of `path` beneath the directory `base`: a new host fd.
        Symlinks are followed inside the sandbox; O_NOFOLLOW makes a symlink
        as the last component ELOOP, as open(2) does."""
        return self._open(base, checked_path(path), flags | os.O_CLOEXEC, mode, Budget())

    def parent(self, base: int, path: str, follow: bool) -> tuple[int, bytes]:
        """(directory fd, name): where the last component of `path` lives
        beneath `base`. With `follow` (or a trailing slash), a symlink as the
        last component is expanded, so the name is never a symlink when this
        returns. Give the fd back with `release`."""
        return self._parent(base, checked_path(path), follow, Budget())

    @staticmethod
    def release(base: int, dirfd: int) -> None:
        """Close a directory `parent` opened (not the base itself)."""
        if dirfd != base:
            os.close(dirfd)

    def _parent(self, base: int, raw: bytes, follow: bool, budget: Budget) -> tuple[int, bytes]:
        while True:
            must_be_dir = raw.endswith(b"/")
            head, _, name = raw.rstrip(b"/").rpartition(b"/")
            if name == b"..":  # acts on the directory `..` leads to, if it is inside
                return self._open_dir(base, raw, budget), b"."
            # The head comes back with its links expanded, so that a link at
            # the end sends the loop round again without paying for them twice.
            dirfd, head = self._resolved_dir(base, head, budget) if head else (base, head)
            if not (follow or must_be_dir) or name == b".":
                return dirfd, name
            try:
                st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
                if not stat.S_ISLNK(st.st_mode):
                    if must_be_dir and not stat.S_ISDIR(st.st_mode):
                        raise WasiError(Errno.NOTDIR)
                    return dirfd, name
                target = os.readlink(name, dir_fd=dirfd)
            except FileNotFoundError:
                return dirfd, name  # to be created
            except BaseException:
                self.release(base, dirfd)
                raise
            self.release(base, dirfd)
            budget.spend()
            if target.startswith(b"/"):
                raise WasiError(Errno.NOTCAPABLE)
            raw = head + b"/" + target if head else target
            if must_be_dir:
                raw += b"/"

    def _open(self, base: int, path: bytes, flags: int, mode: int, budget: Budget) -> int:
        raise NotImplementedError

    def _open_dir(self, base: int, path: bytes, budget: Budget) -> int:
        return self._resolved_dir(base, path, budget)[0]

    def _resolved_dir(self, base: int, path: bytes, budget: Budget) -> tuple[int, bytes]:
        """The directory `path` names, and a path to it beneath `base` with
        no link left to expand (or `path` itself, where the kernel counts)."""
        raise NotImplementedError


def refuse_too_long(path: str) -> None:
    """ENAMETOOLONG for a path of PATH_MAX bytes or more, before any work on
    it, as the kernel refuses one before resolving it (the walk would split
    it into components; every copy costs its size). A character is 1 to 4
    bytes, so only a path near the limit is encoded to count."""
    n = len(path)
    if n >= PATH_MAX or (4 * n >= PATH_MAX and len(path.encode("utf-8", "surrogatepass")) >= PATH_MAX):
        raise WasiError(Errno.NAMETOOLONG)


def checked_path(path: str) -> bytes:
    """A guest path as bytes: ENAMETOOLONG from PATH_MAX bytes on, EINVAL
    with a NUL, ENOTCAPABLE if absolute."""
    refuse_too_long(path)
    raw = path.encode("utf-8")
    if b"\0" in raw:
        raise WasiError(Errno.INVAL)
    if raw.startswith(b"/"):
        raise WasiError(Errno.NOTCAPABLE)
    return raw


# openat2 ------------------------------------------------------------------------


class Openat2(Resolver):
    """The kernel resolves, beneath the base (Linux >= 5.6). It keeps its own
    count of the links in one call; the links `parent` expands at the end of
    a path are counted here, and the whole path is then checked against the
    kernel's count in one more call, so that the budget is the path's."""

    name = "openat2"

    def _open(self, base, path, flags, mode, budget):
        if not flags & os.O_CREAT:
            mode = 0  # openat2 refuses a mode it would not use
        for _ in range(_EAGAIN_RETRIES):
            try:
                return libc.openat2(base, path, flags, mode, _RESOLVE)
            except OSError as e:
                if e.errno == errno.EXDEV:
                    raise WasiError(Errno.NOTCAPABLE) from None
                # EAGAIN: a concurrent rename kept the kernel from proving that
                # a `..` stayed beneath; openat2(2) says to try again.
                if e.errno != errno.EAGAIN:
                    raise
        raise WasiError(Errno.AGAIN)

    def _resolved_dir(self, base, path, budget):
        return self._open(base, path, _DIR, 0, budget), path

    def _parent(self, base, raw, follow, budget):
        dirfd, name = super()._parent(base, raw, follow, budget)
        if budget.left < MAX_SYMLINKS:
            # Links were expanded at the end: the kernel counts the whole path.
            try:
                os.close(self._open(base, raw, _LOOKUP, 0, budget))
            except OSError as e:
                if e.errno == errno.ELOOP:
                    self.release(base, dirfd)
                    raise
            except BaseException:
                self.release(base, dirfd)
                raise
        return dirfd, name


# The walk -----------------------------------------------------------------------


class Walk(Resolver):
    """cap-std's walk: component by component, each opened with O_NOFOLLOW."""

    name = "walk"

    def _resolved_dir(self, base, path, budget):
        """Open the directory `path` names beneath `base`, expanding symlinks here."""
        todo = path.split(b"/")
        todo.reverse()
        stack: list[int] = []  # directories opened so far; the top is the current one
        names: list[bytes] = []  # their names: the path with its links expanded
        try:
            while todo:
                component = todo.pop()
                if component in (b"", b"."):
                    continue
                if component == b"..":
                    if not stack:
                        raise WasiError(Errno.NOTCAPABLE)
                    os.close(stack.pop())
                    names.pop()
                    continue
                at = stack[-1] if stack else base
                try:
                    stack.append(os.open(component, _DIR | os.O_NOFOLLOW, dir_fd=at))
                    names.append(component)
                    continue
                except OSError as e:
                    if e.errno not in (errno.ENOTDIR, errno.ELOOP):
                        raise
                    target = _link_target(at, component, e)
                budget.spend()
                if target.startswith(b"/"):
                    raise WasiError(Errno.NOTCAPABLE)
                parts = target.split(b"/")
                parts.reverse()
                todo.extend(parts)
            return (stack.pop() if stack else os.open(b".", _DIR, dir_fd=base)), b"/".join(names) or b"."
        finally:
            for fd in stack:
                os.close(fd)

    def _open(self, base, path, flags, mode, budget):
        # O_CREAT | O_EXCL never follows a symlink at the end: it exists (POSIX).
        follow = not flags & os.O_NOFOLLOW and flags & _CREATE_NEW != _CREATE_NEW
        if path.endswith(b"/"):
            if flags & os.O_CREAT:
                self._refuse_creating_at_a_slash(base, path, flags, budget)
            flags |= os.O_DIRECTORY
        while True:
            dirfd, name = self._parent(base, path, follow, budget)
            try:
                return os.open(name, flags | os.O_NOFOLLOW, mode, dir_fd=dirfd)
            except OSError as e:
                # ELOOP with `follow`: the name became a symlink after `parent`
                # looked at it; resolve again, on the same budget.
                if not follow or e.errno != errno.ELOOP:
                    raise
            finally:
                self.release(base, dirfd)
            budget.spend()

    def _refuse_creating_at_a_slash(self, base: int, path: bytes, flags: int, budget: Budget) -> None:
        """What open(2) answers for O_CREAT and a trailing slash, once the
        directory that would hold the name is found (Linux): EISDIR for a name,
        without looking at it; for `.` or `..`, which are directories, EEXIST
        with O_EXCL, else EISDIR."""
        bare = path.rstrip(b"/")
        head, _, name = bare.rpartition(b"/")
        dots = name in (b".", b"..")
        if dots or head:
            os.close(self._open_dir(base, bare if dots else head, budget))
        code = errno.EEXIST if dots and flags & os.O_EXCL else errno.EISDIR
        raise OSError(code, os.strerror(code))


def _link_target(at: int, name: bytes, error: OSError) -> bytes:
    """The target of the symlink `name` that refused to open as a directory;
    if it is no symlink, the open's error stands."""
    try:
        return os.readlink(name, dir_fd=at)
    except OSError as e:
        if e.errno == errno.EINVAL:
            raise error from None
        raise


# Strategy -------------------------------------------------------------------------

RESOLVERS: dict[str, Resolver] = {"openat2": Openat2(), "walk": Walk()}


def _openat2_works() -> bool:
    try:
        os.close(libc.openat2(_AT_FDCWD, b".", _DIR, 0, _RESOLVE))
    except OSError:  # ENOSYS (old kernel), EPERM (a seccomp filter), not Linux
        return False
    return True


OPENAT2_WORKS = _openat2_works()
_default = RESOLVERS["openat2" if OPENAT2_WORKS else "walk"]


def default() -> Resolver:
    """The resolver a new host preopen gets."""
    return _default


def select(strategy: str) -> str:
    """Give host directories made from now on `strategy` ("openat2" or
    "walk"); returns the name of the previous default."""
    global _default
    if strategy not in RESOLVERS:
        raise ValueError(f"unknown strategy {strategy!r}: use one of {', '.join(RESOLVERS)}")
    previous = _default.name
    _default = RESOLVERS[strategy]
    return previous


def strategy() -> str:
    return _default.name


# The default resolver's operations, for callers that hold no directory.


def open_at(base: int, path: str, flags: int, mode: int = 0) -> int:
    return _default.open_at(base, path, flags, mode)


def parent(base: int, path: str, follow: bool) -> tuple[int, bytes]:
    return _default.parent(base, path, follow)


release = Resolver.release
