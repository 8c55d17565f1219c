import io
import os

import pytest

from pywasi.generated.preview1 import Errno, Filetype
from pywasi.handlers.bits import FDFLAGS, RIGHTS
from pywasi.handlers.descriptors.base import STREAM_READ, STREAM_WRITE
from pywasi.runtime.errors import WasiError
from pywasi.handlers.descriptors.stdio import HostStream, MemoryInput, MemoryOutput


def test_host_stream_on_a_pipe():
    r, w = os.pipe()
    try:
        out, inp = HostStream(w, STREAM_WRITE), HostStream(r, STREAM_READ)
        assert out.filetype == Filetype.UNKNOWN  # a FIFO has no WASI type
        assert out.write([memoryview(b"ab"), memoryview(b"cd")]) == 4
        assert out.write([memoryview(b"e")]) == 1
        buf = bytearray(8)
        assert inp.read([memoryview(buf)[:3], memoryview(buf)[3:]]) == 5
        assert bytes(buf[:5]) == b"abcde"
        inp.set_flags(FDFLAGS.NONBLOCK)
        with pytest.raises(WasiError) as info:
            inp.read([memoryview(buf)])
        assert info.value.errno == Errno.AGAIN
        assert os.get_blocking(r)  # the host fd itself was not changed
        with pytest.raises(WasiError):
            inp.set_flags(FDFLAGS.SYNC)
        out.close()  # not ours: stays open
        os.fstat(w)
    finally:
        os.close(r)
        os.close(w)


def test_host_stream_on_a_file_can_seek(tmp_path):
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    try:
        s = HostStream(fd, STREAM_WRITE)
        assert s.filetype == Filetype.REGULAR_FILE
        assert s.rights_base & RIGHTS.FD_SEEK
        s.write([memoryview(b"hello")])
        assert s.tell() == 5
        assert s.filestat().size == 5
    finally:
        os.close(fd)


def test_only_a_terminal_looks_like_one():
    # wasi-libc's isatty() takes a character device without seek and tell
    # for a terminal: /dev/null keeps them (as uvwasi gives them), a pty not.
    null = os.open(os.devnull, os.O_RDONLY)
    primary, secondary = os.openpty()
    try:
        for fd, terminal in ((null, False), (secondary, True)):
            s = HostStream(fd, STREAM_READ)
            assert s.filetype == Filetype.CHARACTER_DEVICE
            assert bool(s.rights_base & RIGHTS.FD_SEEK) == bool(s.rights_base & RIGHTS.FD_TELL) == (not terminal)
        assert HostStream(null, STREAM_READ).tell() == 0
    finally:
        for fd in (null, primary, secondary):
            os.close(fd)


def test_memory_streams():
    src = MemoryInput(io.BytesIO(b"abcdef"), STREAM_READ)
    a, b = bytearray(4), bytearray(4)
    assert src.read([memoryview(a), memoryview(b)]) == 6
    assert bytes(a) + bytes(b[:2]) == b"abcdef"
    assert src.read([memoryview(a)]) == 0
    sink = io.BytesIO()
    out = MemoryOutput(sink, STREAM_WRITE)
    assert out.write([memoryview(b"x"), memoryview(b"yz")]) == 3
    assert sink.getvalue() == b"xyz"
    with pytest.raises(WasiError) as info:
        out.read([memoryview(a)])
    assert info.value.errno == Errno.BADF
