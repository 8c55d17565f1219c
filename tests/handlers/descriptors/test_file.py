"""File descriptors on real files: zero-copy I/O, positions, sizes, flags, times."""

from __future__ import annotations

import fcntl
import os

import pytest

from pywasi.generated.preview1 import Advice, Errno, Filetype, Whence
from pywasi.handlers.bits import FDFLAGS, FST
from pywasi.handlers.descriptors.file import FILE_RIGHTS, File
from tests.support import wasi_errno


@pytest.fixture
def file(tmp_path):
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    f = File(fd, Filetype.REGULAR_FILE, FILE_RIGHTS)
    yield f
    f.close()



def test_scatter_gather_and_positions(file):
    assert file.write([memoryview(b"hello"), memoryview(b", "), memoryview(b"world")]) == 12
    assert file.tell() == 12
    assert file.seek(0, Whence.SET) == 0
    a, b = bytearray(5), bytearray(20)
    assert file.read([memoryview(a), memoryview(b)]) == 12
    assert (bytes(a), bytes(b[:7])) == (b"hello", b", world")
    assert file.read([memoryview(a)]) == 0  # end of file
    assert file.seek(-5, Whence.END) == 7
    assert file.seek(2, Whence.CUR) == 9


def test_pread_and_pwrite_leave_the_position(file):
    file.write([memoryview(b"0123456789")])
    file.seek(3, Whence.SET)
    buf = bytearray(4)
    assert file.pread([memoryview(buf)], 5) == 4 and buf == b"5678"
    assert file.pwrite([memoryview(b"ab"), memoryview(b"c")], 1) == 3
    assert file.tell() == 3
    assert os.pread(file.fd, 10, 0) == b"0abc456789"
    assert file.pread([memoryview(buf)], 100) == 0
    assert wasi_errno(lambda: file.pread([memoryview(buf)], 2**63)) == Errno.INVAL
    assert wasi_errno(lambda: file.pwrite([memoryview(buf)], 2**64 - 1)) == Errno.INVAL


def test_reads_land_in_the_views_given(file):
    # The views are guest memory: readv writes straight into them.
    file.write([memoryview(b"abcdefgh")])
    memory = bytearray(b"." * 16)
    view = memoryview(memory)
    assert file.pread([view[2:5], view[10:13]], 0) == 6
    assert memory == b"..abc.....def..."


def test_size_allocate_advise_sync(file):
    file.write([memoryview(b"0123456789")])
    file.set_size(4)
    assert file.filestat().size == 4
    file.set_size(100)
    assert file.filestat().size == 100
    file.allocate(0, 200)
    assert file.filestat().size == 200
    for advice in Advice:
        file.advise(0, 10, advice)
    file.sync()
    file.datasync()
    assert wasi_errno(lambda: file.set_size(2**63)) == Errno.INVAL
    assert wasi_errno(lambda: file.allocate(2**63, 1)) == Errno.INVAL


def test_append_and_nonblock_flags_reach_the_host_fd(file):
    file.write([memoryview(b"start")])
    file.set_flags(FDFLAGS.APPEND | FDFLAGS.NONBLOCK)
    assert file.fdstat().fs_flags == FDFLAGS.APPEND | FDFLAGS.NONBLOCK
    host = fcntl.fcntl(file.fd, fcntl.F_GETFL)
    assert host & os.O_APPEND and host & os.O_NONBLOCK
    file.seek(0, Whence.SET)
    file.write([memoryview(b"+end")])
    assert os.pread(file.fd, 20, 0) == b"start+end"
    file.set_flags(0)
    assert not fcntl.fcntl(file.fd, fcntl.F_GETFL) & (os.O_APPEND | os.O_NONBLOCK)
    assert wasi_errno(lambda: file.set_flags(FDFLAGS.SYNC)) == Errno.NOTSUP


def test_times_explicit_now_and_omitted(file):
    file.set_times(1_000_000_123, 2_000_000_456, FST.ATIM | FST.MTIM)
    st = file.filestat()
    assert (st.atim, st.mtim) == (1_000_000_123, 2_000_000_456)
    file.set_times(0, 5_000_000_000, FST.MTIM)  # atime omitted
    st = file.filestat()
    assert (st.atim, st.mtim) == (1_000_000_123, 5_000_000_000)
    file.set_times(0, 0, FST.ATIM_NOW)
    st = file.filestat()
    assert st.atim > 1_600_000_000 * 10**9 and st.mtim == 5_000_000_000
    file.set_times(0, 0, 0)  # nothing asked: nothing changes
    assert file.filestat().mtim == 5_000_000_000
    assert wasi_errno(lambda: file.set_times(1, 1, FST.ATIM | FST.ATIM_NOW)) == Errno.INVAL
    assert wasi_errno(lambda: file.set_times(1, 1, FST.MTIM | FST.MTIM_NOW)) == Errno.INVAL
    assert file.filestat().mtim == 5_000_000_000


def test_filestat_and_close(tmp_path):
    fd = os.open(tmp_path / "g", os.O_RDWR | os.O_CREAT)
    f = File(fd, Filetype.REGULAR_FILE, FILE_RIGHTS)
    f.write([memoryview(b"xyz")])
    st = f.filestat()
    assert (st.filetype, st.size, st.nlink, st.ino) == (Filetype.REGULAR_FILE, 3, 1, os.stat(tmp_path / "g").st_ino)
    f.close()
    f.close()  # idempotent
    with pytest.raises(OSError):
        os.fstat(fd)
