import pytest

from pywasi.generated.preview1 import Signal
from pywasi.runtime.errors import ProcExit
from pywasi.handlers.calls.proc import Process


def test_exit():
    with pytest.raises(ProcExit) as info:
        Process(return_on_exit=True).proc_exit(42)
    assert info.value.code == 42
    with pytest.raises(SystemExit) as info:
        Process(return_on_exit=False).proc_exit(42)
    assert info.value.code == 42


@pytest.mark.parametrize("sig", [Signal.ABRT, Signal.KILL, Signal.TERM, Signal.SEGV, Signal.HUP, Signal.SYS])
def test_raise_of_a_signal_that_ends_a_process_ends_the_run(sig):
    # Never a signal to the host: this very process would end.
    with pytest.raises(ProcExit) as info:
        Process(return_on_exit=True).proc_raise(sig)
    assert (info.value.code, info.value.signal) == (128 + sig, sig.name)
    with pytest.raises(SystemExit) as info:
        Process(return_on_exit=False).proc_raise(sig)
    assert info.value.code == 128 + sig and info.value.__cause__.signal == sig.name


@pytest.mark.parametrize("sig", [Signal.NONE, Signal.CHLD, Signal.URG, Signal.WINCH, Signal.CONT, Signal.STOP,
                                 Signal.TSTP, Signal.TTIN, Signal.TTOU])
def test_raise_of_a_signal_whose_default_is_to_go_on_returns(sig):
    assert Process().proc_raise(sig) is None


def test_sched_yield():
    assert Process().sched_yield() is None
