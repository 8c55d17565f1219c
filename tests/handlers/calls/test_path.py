"""path_* calls through the Host: every one with a bad fd, on a file, without
its right, and under a read-only preopen."""

from __future__ import annotations

import os

import pytest

from pywasi.generated.interface import Handlers
from pywasi.generated.preview1 import Errno
from pywasi.handlers.bits import FST, LOOKUP, OFLAGS, RIGHTS
from tests.handlers.calls.test_fd import make_host
from tests.support import Untouched, wasi_errno

BAD = 99
FOLLOW = LOOKUP.SYMLINK_FOLLOW


@pytest.fixture
def tree(tmp_path):
    box = tmp_path / "box"
    box.mkdir()
    (box / "f").write_bytes(b"data")
    (box / "d").mkdir()
    (box / "empty").mkdir()
    os.symlink("f", box / "link")
    return tmp_path


@pytest.fixture
def host(tree, strategy):
    h = make_host(tree / "box")
    yield h
    h.close()



# Every path call that changes something, with the right it needs (for
# path_link and path_rename: the source's), and its success check.
WRITING = {
    "path_create_directory": (RIGHTS.PATH_CREATE_DIRECTORY, lambda h, fd: h.path_create_directory(fd, "new")),
    "path_open creat": (RIGHTS.PATH_CREATE_FILE,
                        lambda h, fd: h.path_open(fd, 0, "new", OFLAGS.CREAT, RIGHTS.FD_READ, 0, 0)),
    "path_open trunc": (RIGHTS.PATH_FILESTAT_SET_SIZE,
                        lambda h, fd: h.path_open(fd, 0, "f", OFLAGS.TRUNC, RIGHTS.FD_READ, 0, 0)),
    "path_filestat_set_times": (RIGHTS.PATH_FILESTAT_SET_TIMES,
                                lambda h, fd: h.path_filestat_set_times(fd, 0, "f", 0, 0, FST.MTIM)),
    "path_link source": (RIGHTS.PATH_LINK_SOURCE, lambda h, fd: h.path_link(fd, 0, "f", 3, "new")),
    "path_link target": (RIGHTS.PATH_LINK_TARGET, lambda h, fd: h.path_link(3, 0, "f", fd, "new")),
    "path_remove_directory": (RIGHTS.PATH_REMOVE_DIRECTORY, lambda h, fd: h.path_remove_directory(fd, "empty")),
    "path_rename source": (RIGHTS.PATH_RENAME_SOURCE, lambda h, fd: h.path_rename(fd, "f", 3, "new")),
    "path_rename target": (RIGHTS.PATH_RENAME_TARGET, lambda h, fd: h.path_rename(3, "f", fd, "new")),
    "path_symlink": (RIGHTS.PATH_SYMLINK, lambda h, fd: h.path_symlink("f", fd, "new")),
    "path_unlink_file": (RIGHTS.PATH_UNLINK_FILE, lambda h, fd: h.path_unlink_file(fd, "f")),
}
READING = {
    "path_open": (RIGHTS.PATH_OPEN, lambda h, fd: h.path_open(fd, 0, "f", 0, RIGHTS.FD_READ, 0, 0)),
    "path_filestat_get": (RIGHTS.PATH_FILESTAT_GET, lambda h, fd: h.path_filestat_get(fd, 0, "f")),
    "path_readlink": (RIGHTS.PATH_READLINK, lambda h, fd: h.path_readlink(fd, "link", memoryview(bytearray(8)))),
}
CALLS = {**WRITING, **READING}


def test_every_path_call_with_a_bad_fd_is_ebadf(host):
    names = {name.split()[0] for name in CALLS}
    assert names == {name for name in vars(Handlers) if name.startswith("path_")}
    for name, (_, call) in CALLS.items():
        assert wasi_errno(lambda: call(host, BAD)) == Errno.BADF, name


def test_path_calls_on_a_file_are_notcapable(host):
    fd = host.path_open(3, 0, "f", 0, RIGHTS.ALL, RIGHTS.ALL, 0)
    for name, (_, call) in CALLS.items():
        assert wasi_errno(lambda: call(host, fd)) == Errno.NOTCAPABLE, name


@pytest.mark.parametrize("name", sorted(CALLS))
def test_each_path_call_needs_its_right(host, tree, name):
    right, call = CALLS[name]
    fd = host.path_open(3, 0, ".", OFLAGS.DIRECTORY, RIGHTS.ALL & ~RIGHTS.FD_WRITE, RIGHTS.ALL, 0)
    host.fd_fdstat_set_rights(fd, host.fd_fdstat_get(fd).fs_rights_base & ~right, RIGHTS.ALL)
    with Untouched(tree, keep="outside-nothing"):
        assert wasi_errno(lambda: call(host, fd)) == Errno.NOTCAPABLE
    call(host, 3)  # the preopen has the right: the same call works


def test_path_open_gives_the_lowest_free_fd_and_closes_what_it_cannot_number(tree):
    h = make_host(tree / "box", max_fds=5)
    assert h.path_open(3, 0, "f", 0, RIGHTS.FD_READ, 0, 0) == 4
    before = set(os.listdir("/proc/self/fd"))
    assert wasi_errno(lambda: h.path_open(3, 0, "f", 0, RIGHTS.FD_READ, 0, 0)) == Errno.MFILE
    assert set(os.listdir("/proc/self/fd")) == before
    h.fd_close(4)
    assert h.path_open(3, 0, "d", OFLAGS.DIRECTORY, RIGHTS.FD_READDIR, 0, 0) == 4
    h.close()


def test_read_only_preopen_refuses_every_change_and_touches_nothing(tree, strategy):
    h = make_host(tree / "box", read_only=True)
    h.path_open(3, 0, "d", OFLAGS.DIRECTORY, RIGHTS.ALL & ~RIGHTS.FD_WRITE, RIGHTS.ALL, 0)  # fd 4: a directory under it
    with Untouched(tree, keep="nothing-is-kept"):
        for fd in (3, 4):
            for name, (_, call) in WRITING.items():
                assert wasi_errno(lambda: call(h, fd)) == Errno.NOTCAPABLE, name
    # Asking to write gets a descriptor that cannot.
    before = os.stat(tree / "box" / "f")
    f = h.path_open(3, FOLLOW, "f", 0, RIGHTS.FD_READ | RIGHTS.FD_WRITE, 0, 0)
    assert h.fd_fdstat_get(f).fs_rights_base == RIGHTS.FD_READ
    assert wasi_errno(lambda: h.fd_write(f, [memoryview(b"x")])) == Errno.NOTCAPABLE
    assert wasi_errno(lambda: h.fd_filestat_set_size(f, 0)) == Errno.NOTCAPABLE
    assert wasi_errno(lambda: h.fd_filestat_set_times(f, 0, 0, FST.MTIM_NOW)) == Errno.NOTCAPABLE
    assert wasi_errno(lambda: h.fd_fdstat_set_rights(f, RIGHTS.FD_WRITE, 0)) == Errno.NOTCAPABLE
    h.fd_close(f)
    after = os.stat(tree / "box" / "f")
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    for name, (_, call) in READING.items():
        call(h, 3)
    h.close()
