from pywasi.handlers.calls.args_env import ArgsEnv


def test_sizes_count_the_nuls():
    h = ArgsEnv([b"prog", b"", b"\xc3\xa9"], [b"A=1"])
    assert h.args_sizes_get() == (3, 5 + 1 + 3)
    assert h.environ_sizes_get() == (1, 4)
    assert h.args_get() == [b"prog", b"", b"\xc3\xa9"]


def test_empty():
    h = ArgsEnv([], [])
    assert h.args_sizes_get() == (0, 0) and h.args_get() == []
    assert h.environ_sizes_get() == (0, 0) and h.environ_get() == []
