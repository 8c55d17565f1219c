"""WASI(...) checks its options in Node's order, each bad one raising the
matching error with Node's code."""

from __future__ import annotations

import io
import os

import pytest

from pywasi import WASI, InvalidArgType, InvalidArgValue, OutOfRange


def code_of(excinfo) -> str:
    return excinfo.value.code


@pytest.mark.parametrize(
    "options, error, kind",
    [
        (dict(version=5), InvalidArgType, TypeError),
        (dict(version="preview9"), InvalidArgValue, ValueError),
        (dict(args="abc"), InvalidArgType, TypeError),
        (dict(args=b"abc"), InvalidArgType, TypeError),
        (dict(args=[1]), InvalidArgType, TypeError),
        (dict(args=["a\0b"]), InvalidArgValue, ValueError),
        (dict(env=5), InvalidArgType, TypeError),
        (dict(env=["A=b"]), InvalidArgType, TypeError),
        (dict(env={"A": 5}), InvalidArgType, TypeError),
        (dict(env={"A=B": "c"}), InvalidArgValue, ValueError),
        (dict(env={"": "c"}), InvalidArgValue, ValueError),
        (dict(preopens=5), InvalidArgType, TypeError),
        (dict(preopens={1: "/tmp"}), InvalidArgType, TypeError),
        (dict(preopens={"/x": 5}), InvalidArgType, TypeError),
        (dict(stdin=-1), OutOfRange, ValueError),
        (dict(stdout=2**31), OutOfRange, ValueError),
        (dict(stderr=1.5), OutOfRange, ValueError),
        (dict(stdin="0"), InvalidArgType, TypeError),
        (dict(stdin=True), InvalidArgType, TypeError),
        (dict(stdout=b"x"), InvalidArgType, TypeError),
        (dict(stdout=io.StringIO()), InvalidArgType, TypeError),
        (dict(return_on_exit=1), InvalidArgType, TypeError),
        (dict(trace=5), InvalidArgType, TypeError),
        (dict(trace="trace.log"), InvalidArgType, TypeError),
        (dict(stats=True), InvalidArgType, TypeError),
    ],
)
def test_bad_option(options, error, kind):
    with pytest.raises(error) as info:
        WASI(**options)
    assert isinstance(info.value, kind)
    assert code_of(info) == {InvalidArgType: "ERR_INVALID_ARG_TYPE", InvalidArgValue: "ERR_INVALID_ARG_VALUE",
                             OutOfRange: "ERR_OUT_OF_RANGE"}[error]


@pytest.mark.parametrize(
    "options, fix",
    [
        (dict(stdout=io.StringIO()), "pass an io.BytesIO, and decode its getvalue()"),
        (dict(stderr=io.StringIO()), "pass an io.BytesIO, and decode its getvalue()"),
        (dict(stdin=io.StringIO("input")), "pass the text encoded, as bytes, or an io.BytesIO"),
        (dict(stdout=io.TextIOWrapper(io.BytesIO())), "pass its .buffer"),
    ],
)
def test_a_text_stream_for_stdio_says_what_to_pass_instead(options, fix):
    # A StringIO has no .buffer: the way out is a BytesIO (or bytes for stdin).
    (name,) = options
    with pytest.raises(InvalidArgType) as info:
        WASI(**options)
    assert str(info.value) == f"{name} must be a binary file object, not a text stream ({fix})"


def test_options_are_checked_in_nodes_order(tmp_path):
    # Each option is wrong, and the error names the first in Node's order.
    # pywasi's own options come after Node's.
    bad = dict(version=1, args=1, env=1, preopens=1, stdin=-1, return_on_exit=1, trace=1, stats=1)
    order = ["version", "args", "env", "preopens", "stdin", "return_on_exit", "trace", "stats"]
    for name in order:
        with pytest.raises((TypeError, ValueError)) as info:
            WASI(**bad)
        assert str(info.value).startswith(name)
        bad.pop(name)
    WASI()  # nothing left wrong


def test_host_setup_comes_before_return_on_exit(tmp_path):
    with pytest.raises(FileNotFoundError):
        WASI(preopens={"/x": str(tmp_path / "missing")}, return_on_exit=1)


def test_missing_preopen_raises_at_construction(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileNotFoundError) as info:
        WASI(preopens={"/x": str(tmp_path / "missing")})
    assert info.value.filename == str(tmp_path / "missing")
    with pytest.raises(NotADirectoryError):
        WASI(preopens={"/x": str(tmp_path / "file")})


def test_failed_setup_leaks_no_fd(tmp_path):
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        with pytest.raises(FileNotFoundError):
            WASI(preopens={"/a": str(tmp_path), "/b": str(tmp_path / "missing")})
        with pytest.raises(InvalidArgType):
            WASI(preopens={"/a": str(tmp_path)}, return_on_exit="yes")
        with pytest.raises(InvalidArgType):
            WASI(preopens={"/a": str(tmp_path)}, trace=1)
    assert len(os.listdir("/proc/self/fd")) == before


def test_version_names():
    assert WASI().get_import_object().keys() == {"wasi_snapshot_preview1"}
    assert WASI(version="unstable").get_import_object().keys() == {"wasi_unstable"}
    assert WASI(version="preview0").get_import_object().keys() == {"wasi_unstable"}
    assert len(WASI().wasi_import) == 46
    assert len(WASI(version="unstable").wasi_import) == 45


def test_env_none_values_are_skipped_and_args_may_be_bytes_or_paths(tmp_path):
    w = WASI(args=["a", b"\xff", tmp_path], env={"A": "1", "B": None, b"C": b"\xfe"})
    assert w._host.args == [b"a", b"\xff", str(tmp_path).encode()]
    assert w._host.env == [b"A=1", b"C=\xfe"]
