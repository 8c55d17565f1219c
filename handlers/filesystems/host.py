"""The sandbox: every guest path is resolved beneath a directory fd, and may
not leave it. Nothing here joins host path strings.

Two strategies, with the same answers:
- "openat2": the kernel resolves the path under RESOLVE_BENEATH |
  RESOLVE_NO_MAGICLINKS (Linux >= 5.6) and refuses `..` above the base,
  absolute paths and symlinks that lead out (EXDEV, answered as ENOTCAPABLE).
- "walk" (cap-std's cap-primitives/src/fs/manually): a worklist of components
  and a stack of open directories, each opened with O_NOFOLLOW; `..` pops the
  stack, and popping past the base is an escape; a symlink's target goes back
  on the worklist (an absolute one is an escape), at most MAX_SYMLINKS times.

openat2 is used where the kernel has it (and a seccomp filter allows it);
`select` switches strategy, so that the tests run both.

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

from . import libc
from .errors import WasiError

MAX_SYMLINKS = 40  # Linux's MAXSYMLINKS: the kernel and the walk give up after as many

_DIR = os.O_DIRECTORY | os.O_CLOEXEC | getattr(os, "O_PATH", 0)
_RESOLVE = libc.RESOLVE_BENEATH | libc.RESOLVE_NO_MAGICLINKS
_AT_FDCWD = -100
_EAGAIN_RETRIES = 16
_CREATE_NEW = os.O_CREAT | os.O_EXCL


def open_at(base: int, path: str, flags: int, mode: int = 0) -> int:
    """os.open of `path` beneath the directory `base`: a new host fd.
    Symlinks are followed inside the sandbox; O_NOFOLLOW makes a symlink as
    the last component ELOOP, as open(2) does."""
    return _open(base, _checked(path), flags | os.O_CLOEXEC, mode)


def parent(base: int, path: str, follow: bool) -> tuple[int, bytes]:
    """(directory fd, name): where the last component of `path` lives beneath
    `base`. With `follow` (or a trailing slash), a symlink as the last
    component is expanded, so the name is never a symlink when this returns.
    Give the fd back with `release`."""
    return _parent(base, _checked(path), follow)


def release(base: int, dirfd: int) -> None:
    """Close a directory `parent` opened (not the base itself)."""
    if dirfd != base:
        os.close(dirfd)


def _checked(path: str) -> bytes:
    raw = path.encode("utf-8")
    if b"\0" in raw:
        raise WasiError(Errno.INVAL)
    if raw.startswith(b"/"):
        raise WasiError(Errno.NOTCAPABLE)
    return raw


def _parent(base: int, raw: bytes, follow: bool) -> tuple[int, bytes]:
    hops = 0
    while True:
        must_be_dir = raw.endswith(b"/")
        head, _, name = raw.rstrip(b"/").rpartition(b"/")
        if name == b"..":  # acts on the directory `..` leads to, if it is inside
            return _open_dir(base, raw), b"."
        dirfd = _open_dir(base, head) if head else base
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
            release(base, dirfd)
            raise
        release(base, dirfd)
        hops += 1
        if hops > MAX_SYMLINKS:
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP))
        if target.startswith(b"/"):
            raise WasiError(Errno.NOTCAPABLE)
        raw = head + b"/" + target if head else target
        if must_be_dir:
            raw += b"/"


# openat2 ------------------------------------------------------------------------


def _openat2_open(base: int, path: bytes, flags: int, mode: int) -> int:
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


def _openat2_dir(base: int, path: bytes) -> int:
    return _openat2_open(base, path, _DIR, 0)


# The walk -----------------------------------------------------------------------


def _walk_dir(base: int, path: bytes) -> int:
    """Open the directory `path` names beneath `base`, expanding symlinks here."""
    todo = path.split(b"/")
    todo.reverse()
    stack: list[int] = []  # directories opened so far; the top is the current one
    hops = 0
    try:
        while todo:
            component = todo.pop()
            if component in (b"", b"."):
                continue
            if component == b"..":
                if not stack:
                    raise WasiError(Errno.NOTCAPABLE)
                os.close(stack.pop())
                continue
            at = stack[-1] if stack else base
            try:
                stack.append(os.open(component, _DIR | os.O_NOFOLLOW, dir_fd=at))
                continue
            except OSError as e:
                if e.errno not in (errno.ENOTDIR, errno.ELOOP):
                    raise
                target = _link_target(at, component, e)
            hops += 1
            if hops > MAX_SYMLINKS:
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP))
            if target.startswith(b"/"):
                raise WasiError(Errno.NOTCAPABLE)
            parts = target.split(b"/")
            parts.reverse()
            todo.extend(parts)
        return stack.pop() if stack else os.open(b".", _DIR, dir_fd=base)
    finally:
        for fd in stack:
            os.close(fd)


def _link_target(at: int, name: bytes, error: OSError) -> bytes:
    """The target of the symlink `name` that refused to open as a directory;
    if it is no symlink, the open's error stands."""
    try:
        return os.readlink(name, dir_fd=at)
    except OSError as e:
        if e.errno == errno.EINVAL:
            raise error from None
        raise


def _walk_open(base: int, path: bytes, flags: int, mode: int) -> int:
    # O_CREAT | O_EXCL never follows a symlink at the end: it exists (POSIX).
    follow = not flags & os.O_NOFOLLOW and flags & _CREATE_NEW != _CREATE_NEW
    if path.endswith(b"/"):
        if flags & os.O_CREAT:
            _refuse_creating_at_a_slash(base, path, flags)
        flags |= os.O_DIRECTORY
    for _ in range(MAX_SYMLINKS):
        dirfd, name = _parent(base, path, follow)
        try:
            return os.open(name, flags | os.O_NOFOLLOW, mode, dir_fd=dirfd)
        except OSError as e:
            # ELOOP with `follow`: the name became a symlink after `parent`
            # looked at it; resolve again.
            if not follow or e.errno != errno.ELOOP:
                raise
        finally:
            release(base, dirfd)
    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP))


def _refuse_creating_at_a_slash(base: int, path: bytes, flags: int) -> None:
    """What open(2) answers for O_CREAT and a trailing slash, once the
    directory that would hold the name is found (Linux): EISDIR for a name,
    without looking at it; for `.` or `..`, which are directories, EEXIST
    with O_EXCL, else EISDIR."""
    bare = path.rstrip(b"/")
    head, _, name = bare.rpartition(b"/")
    dots = name in (b".", b"..")
    if dots or head:
        os.close(_walk_dir(base, bare if dots else head))
    code = errno.EEXIST if dots and flags & os.O_EXCL else errno.EISDIR
    raise OSError(code, os.strerror(code))


# Strategy -------------------------------------------------------------------------

STRATEGIES = {"openat2": (_openat2_open, _openat2_dir), "walk": (_walk_open, _walk_dir)}


def _openat2_works() -> bool:
    try:
        os.close(libc.openat2(_AT_FDCWD, b".", _DIR, 0, _RESOLVE))
    except OSError:  # ENOSYS (old kernel), EPERM (a seccomp filter), not Linux
        return False
    return True


def select(strategy: str) -> str:
    """Resolve with `strategy` ("openat2" or "walk") from now on; returns the
    one used so far."""
    global _open, _open_dir, _strategy
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}: use one of {', '.join(STRATEGIES)}")
    previous = _strategy
    _open, _open_dir = STRATEGIES[strategy]
    _strategy = strategy
    return previous


def strategy() -> str:
    return _strategy


OPENAT2_WORKS = _openat2_works()
_strategy = "openat2" if OPENAT2_WORKS else "walk"
_open, _open_dir = STRATEGIES[_strategy]
