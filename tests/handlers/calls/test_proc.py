import pytest

from pywasi.generated.preview1 import Errno, Signal
from pywasi.runtime.errors import ProcExit, WasiError
from pywasi.handlers.calls.proc import Process


def test_exit():
    with pytest.raises(ProcExit) as info:
        Process(return_on_exit=True).proc_exit(42)
    assert info.value.code == 42
    with pytest.raises(SystemExit) as info:
        Process(return_on_exit=False).proc_exit(42)
    assert info.value.code == 42


def test_raise_never_signals_the_host():
    with pytest.raises(WasiError) as info:
        Process().proc_raise(Signal.KILL)
    assert info.value.errno == Errno.NOSYS
    assert Process.proc_raise.enosys_reason


def test_sched_yield():
    assert Process().sched_yield() is None
