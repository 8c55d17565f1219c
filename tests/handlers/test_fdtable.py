import pytest

from pywasi.generated.preview1 import Errno
from pywasi.handlers.descriptors.base import Descriptor
from pywasi.runtime.errors import WasiError
from pywasi.handlers.fdtable import FdTable


class Tracked(Descriptor):
    def __init__(self, rights=0b111):
        super().__init__(rights)
        self.closed = 0

    def close(self):
        self.closed += 1


def errno(call):
    with pytest.raises(WasiError) as info:
        call()
    return info.value.errno


def test_lowest_free_number():
    t = FdTable()
    a, b, c = Tracked(), Tracked(), Tracked()
    assert [t.add(a), t.add(b), t.add(c)] == [0, 1, 2]
    t.close(1)
    assert b.closed == 1
    assert t.add(Tracked()) == 1
    assert t.add(Tracked()) == 3


def test_rights_and_bad_fds():
    t = FdTable()
    t.add(Tracked(rights=0b011))
    assert t.get(0, 0b001) is t.get(0, 0b011)
    assert errno(lambda: t.get(0, 0b100)) == Errno.NOTCAPABLE
    assert errno(lambda: t.get(1)) == Errno.BADF
    assert errno(lambda: t.get(2**32 - 1)) == Errno.BADF
    t.close(0)
    assert errno(lambda: t.get(0)) == Errno.BADF
    assert errno(lambda: t.close(0)) == Errno.BADF


def test_renumber_closes_the_target():
    t = FdTable()
    a, b = Tracked(), Tracked()
    t.add(a), t.add(b)
    t.renumber(0, 1)
    assert t.get(1) is a and b.closed == 1
    assert errno(lambda: t.get(0)) == Errno.BADF
    assert errno(lambda: t.renumber(0, 1)) == Errno.BADF
    assert errno(lambda: t.renumber(1, 7)) == Errno.BADF
    t.renumber(1, 1)
    assert t.get(1) is a and a.closed == 0


def test_limit_and_close_all():
    t = FdTable(max_fds=2)
    ds = [Tracked(), Tracked()]
    for d in ds:
        t.add(d)
    assert errno(lambda: t.add(Tracked())) == Errno.MFILE
    t.close_all()
    assert [d.closed for d in ds] == [1, 1]
    assert t.items() == []
