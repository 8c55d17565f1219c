"""fd_* calls through the Host: every one with a bad fd, rights, and the
descriptor table operations."""

from __future__ import annotations

import io
import os

import pytest

from pywasi.generated.interface import Handlers
from pywasi.generated.preview1 import Advice, Errno, Whence
from pywasi.handlers.bits import LOOKUP, RIGHTS
from pywasi.handlers.descriptors.base import STREAM_READ, STREAM_WRITE
from pywasi.handlers.descriptors.directory import HostDirectory
from pywasi.handlers.fdtable import FdTable
from pywasi.handlers.host import Host
from pywasi.handlers.descriptors.stdio import MemoryInput, MemoryOutput
from tests.support import wasi_errno

BAD = 99


def make_host(path, *, read_only=False, max_fds=1 << 20) -> Host:
    fds = FdTable(max_fds)
    fds.add(MemoryInput(io.BytesIO(b""), STREAM_READ))
    fds.add(MemoryOutput(io.BytesIO(), STREAM_WRITE))
    fds.add(MemoryOutput(io.BytesIO(), STREAM_WRITE))
    fds.add(HostDirectory(os.open(path, os.O_RDONLY | os.O_DIRECTORY)).preopened("/box", read_only))
    return Host(args=[], env=[], fds=fds, return_on_exit=True)


@pytest.fixture
def host(tmp_path):
    (tmp_path / "f").write_bytes(b"0123456789")
    h = make_host(tmp_path)
    yield h
    h.close()



def open_file(host, path="f", rights=RIGHTS.ALL) -> int:
    return host.path_open(3, LOOKUP.SYMLINK_FOLLOW, path, 0, rights, 0, 0)


def bad_fd_calls():
    buf = memoryview(bytearray(8))
    return {
        "fd_advise": (BAD, 0, 0, Advice.NORMAL),
        "fd_allocate": (BAD, 0, 1),
        "fd_close": (BAD,),
        "fd_datasync": (BAD,),
        "fd_fdstat_get": (BAD,),
        "fd_fdstat_set_flags": (BAD, 0),
        "fd_fdstat_set_rights": (BAD, 0, 0),
        "fd_filestat_get": (BAD,),
        "fd_filestat_set_size": (BAD, 0),
        "fd_filestat_set_times": (BAD, 0, 0, 0),
        "fd_pread": (BAD, [buf], 0),
        "fd_prestat_get": (BAD,),
        "fd_prestat_dir_name": (BAD, buf),
        "fd_pwrite": (BAD, [buf], 0),
        "fd_read": (BAD, [buf]),
        "fd_readdir": (BAD, 0),
        "fd_renumber": (BAD, 3),
        "fd_seek": (BAD, 0, Whence.SET),
        "fd_sync": (BAD,),
        "fd_tell": (BAD,),
        "fd_write": (BAD, [buf]),
    }


def test_every_fd_call_with_a_bad_fd_is_ebadf(host):
    calls = bad_fd_calls()
    assert set(calls) == {name for name in vars(Handlers) if name.startswith("fd_")}
    for name, args in calls.items():
        assert wasi_errno(lambda: getattr(host, name)(*args)) == Errno.BADF, name
    assert wasi_errno(lambda: host.fd_renumber(3, BAD)) == Errno.BADF
    assert wasi_errno(lambda: host.fd_read(2**32 - 1, [])) == Errno.BADF
    host.fd_fdstat_get(3)  # the preopen survived fd_renumber's failure


def test_rights_can_only_be_dropped(host):
    fd = open_file(host)
    host.fd_fdstat_set_rights(fd, RIGHTS.FD_READ | RIGHTS.FD_TELL, 0)
    stat = host.fd_fdstat_get(fd)
    assert (stat.fs_rights_base, stat.fs_rights_inheriting) == (RIGHTS.FD_READ | RIGHTS.FD_TELL, 0)
    assert wasi_errno(lambda: host.fd_fdstat_set_rights(fd, RIGHTS.FD_READ | RIGHTS.FD_WRITE, 0)) == Errno.NOTCAPABLE
    assert wasi_errno(lambda: host.fd_fdstat_set_rights(fd, RIGHTS.FD_READ, RIGHTS.FD_READ)) == Errno.NOTCAPABLE
    assert host.fd_fdstat_get(fd).fs_rights_base == RIGHTS.FD_READ | RIGHTS.FD_TELL
    buf = memoryview(bytearray(4))
    assert host.fd_read(fd, [buf]) == 4
    assert wasi_errno(lambda: host.fd_write(fd, [buf])) == Errno.NOTCAPABLE
    assert wasi_errno(lambda: host.fd_filestat_get(fd)) == Errno.NOTCAPABLE
    # Without FD_SEEK a seek that only asks for the position still works (FD_TELL).
    assert host.fd_seek(fd, 0, Whence.CUR) == 4
    assert wasi_errno(lambda: host.fd_seek(fd, 1, Whence.SET)) == Errno.NOTCAPABLE
    assert wasi_errno(lambda: host.fd_pread(fd, [buf], 0)) == Errno.NOTCAPABLE
    host.fd_fdstat_set_rights(fd, 0, 0)
    assert wasi_errno(lambda: host.fd_tell(fd)) == Errno.NOTCAPABLE


@pytest.mark.parametrize(
    "right, call",
    [
        (RIGHTS.FD_READ, lambda h, fd, buf: h.fd_read(fd, [buf])),
        (RIGHTS.FD_WRITE, lambda h, fd, buf: h.fd_write(fd, [buf])),
        (RIGHTS.FD_SEEK, lambda h, fd, buf: h.fd_pread(fd, [buf], 0)),
        (RIGHTS.FD_SEEK, lambda h, fd, buf: h.fd_pwrite(fd, [buf], 0)),
        (RIGHTS.FD_TELL, lambda h, fd, buf: h.fd_tell(fd)),
        (RIGHTS.FD_ADVISE, lambda h, fd, buf: h.fd_advise(fd, 0, 0, Advice.RANDOM)),
        (RIGHTS.FD_ALLOCATE, lambda h, fd, buf: h.fd_allocate(fd, 0, 1)),
        (RIGHTS.FD_SYNC, lambda h, fd, buf: h.fd_sync(fd)),
        (RIGHTS.FD_DATASYNC, lambda h, fd, buf: h.fd_datasync(fd)),
        (RIGHTS.FD_FDSTAT_SET_FLAGS, lambda h, fd, buf: h.fd_fdstat_set_flags(fd, 0)),
        (RIGHTS.FD_FILESTAT_GET, lambda h, fd, buf: h.fd_filestat_get(fd)),
        (RIGHTS.FD_FILESTAT_SET_SIZE, lambda h, fd, buf: h.fd_filestat_set_size(fd, 0)),
        (RIGHTS.FD_FILESTAT_SET_TIMES, lambda h, fd, buf: h.fd_filestat_set_times(fd, 0, 0, 0)),
    ],
)
def test_each_fd_call_needs_its_right(host, tmp_path, right, call):
    fd = open_file(host)
    buf = memoryview(bytearray(2))
    call(host, fd, buf)  # with every right: fine
    host.fd_fdstat_set_rights(fd, RIGHTS.ALL & ~right & host.fd_fdstat_get(fd).fs_rights_base, 0)
    before = (tmp_path / "f").read_bytes()
    assert wasi_errno(lambda: call(host, fd, buf)) == Errno.NOTCAPABLE
    assert (tmp_path / "f").read_bytes() == before


def test_readdir_needs_a_directory(host):
    fd = open_file(host)
    assert wasi_errno(lambda: host.fd_readdir(fd, 0)) == Errno.NOTCAPABLE  # a file has no FD_READDIR
    assert [name for _, name in host.fd_readdir(3, 0)] == [b".", b"..", b"f"]


def test_prestat_and_closing_a_preopen(host):
    assert host.fd_prestat_get(3).value.pr_name_len == 4
    name = memoryview(bytearray(4))
    host.fd_prestat_dir_name(3, name)
    assert bytes(name) == b"/box"
    assert wasi_errno(lambda: host.fd_prestat_dir_name(3, name[:3])) == Errno.NAMETOOLONG
    fd = open_file(host)
    assert wasi_errno(lambda: host.fd_prestat_get(fd)) == Errno.BADF  # not a preopen
    host.fd_close(3)
    assert wasi_errno(lambda: host.fd_prestat_get(3)) == Errno.BADF
    assert wasi_errno(lambda: open_file(host)) == Errno.BADF


def test_renumber_moves_and_closes(host):
    a, b = open_file(host), open_file(host)
    assert (a, b) == (4, 5)
    host.fd_seek(a, 3, Whence.SET)
    host.fd_renumber(a, b)
    assert host.fd_tell(b) == 3
    assert wasi_errno(lambda: host.fd_tell(a)) == Errno.BADF
    assert open_file(host) == 4  # the lowest free number again
