"""The OSError -> errno table."""

from __future__ import annotations

import errno

import pytest

from pywasi.generated.preview1 import Errno
from pywasi.runtime.errors import ProcExit, WasiError, errno_of


@pytest.mark.parametrize(
    "host, wasi",
    [
        (errno.ENOENT, Errno.NOENT), (errno.EACCES, Errno.ACCES), (errno.E2BIG, Errno.TOOBIG),
        (errno.EAGAIN, Errno.AGAIN), (errno.EWOULDBLOCK, Errno.AGAIN), (errno.ENOTEMPTY, Errno.NOTEMPTY),
        (errno.EXDEV, Errno.XDEV), (errno.ELOOP, Errno.LOOP), (errno.ENAMETOOLONG, Errno.NAMETOOLONG),
        (errno.EPIPE, Errno.PIPE), (errno.ECONNRESET, Errno.CONNRESET), (errno.ENOTSUP, Errno.NOTSUP),
        (errno.EOPNOTSUPP, Errno.NOTSUP), (errno.EISDIR, Errno.ISDIR), (errno.ENOTDIR, Errno.NOTDIR),
    ],
)
def test_host_errno_maps_by_name(host, wasi):
    assert errno_of(OSError(host, "x")) == wasi


def test_every_errno_that_the_host_names_is_mapped():
    for member in Errno:
        code = getattr(errno, "E" + member.name, None)
        if code is not None:
            assert errno_of(OSError(code, "x")) in (member, Errno.NOTSUP, Errno.AGAIN), member


def test_unknown_host_errno_is_io():
    assert errno_of(OSError(99999, "x")) == Errno.IO
    assert errno_of(OSError("no errno")) == Errno.IO


def test_the_exceptions():
    assert WasiError(Errno.BADF).errno == 8 and str(WasiError(Errno.BADF)) == "BADF"
    assert ProcExit(3).code == 3
