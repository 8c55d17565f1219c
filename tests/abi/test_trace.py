"""The generated trace decoders, through the trace stubs on a plain bytearray
memory: every kind of value the spec passes or stores is decoded with its
spec name, in each version's own types, and the trace line is exact."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings, strategies as st

from pywasi.generated import preview0, preview1
from pywasi.generated.preview1 import Errno, Filetype, Lookupflags, Oflags, Rights
from pywasi.runtime.errors import ProcExit
from pywasi.runtime.memory import GuestMemory, GuestTrap, bytes_source
from pywasi.trace import OUT_OF_BOUNDS, Bytes, HostCall, Pointer, trace_stubs
from tests.abi.test_stubs import CANARY, SIZE, Recorder


class Handler(Recorder):
    def proc_exit(self, rval):
        raise ProcExit(rval)


def traced(module=preview1):
    buf = bytearray([CANARY]) * SIZE
    memory = GuestMemory(bytes_source(buf))
    calls: list[HostCall] = []
    stubs = trace_stubs(module, module.bind(Handler(), memory), memory, calls.append)
    return buf, stubs, calls


def line(calls) -> str:
    return str(calls[-1])


def test_every_function_of_both_versions_has_a_generated_decoder():
    for module in (preview1, preview0):
        memory = GuestMemory(bytes_source(bytearray(16)))
        assert list(module.decoders(memory)) == list(module.FUNCTIONS)


def test_the_path_open_line():
    buf, stubs, calls = traced()
    buf[1000:1011] = b"data/in.txt"
    rights = Rights.FD_READ | Rights.FD_WRITE
    assert stubs["path_open"](3, 1, 1000, 11, 1 | 8, rights, 0, 0, 2000) == 0
    assert line(calls) == (
        'path_open(fd=3, dirflags=SYMLINK_FOLLOW, path="data/in.txt", oflags=CREAT|TRUNC, '
        "fs_rights_base=FD_READ|FD_WRITE, fs_rights_inheriting=0, fdflags=0) -> success, fd=5"
    )
    call = calls[-1]
    assert call.function == "path_open" and call.errno is Errno.SUCCESS and call.exception is None
    assert call.args == {
        "fd": 3, "dirflags": Lookupflags.SYMLINK_FOLLOW, "path": "data/in.txt", "oflags": Oflags.CREAT | Oflags.TRUNC,
        "fs_rights_base": rights, "fs_rights_inheriting": 0, "fdflags": 0,
    }
    assert type(call.args["oflags"]) is Oflags and call.results == {"fd": 5}
    assert call.ns >= 0


def test_errors_by_name_and_what_the_guest_passed_when_it_is_bad():
    buf, stubs, calls = traced()
    buf[1000:1007] = b"missing"
    stubs["path_open"](3, 0, 1000, 7, 0, 0, 0, 0, 2000)
    assert line(calls).endswith('path="missing", oflags=0, fs_rights_base=0, fs_rights_inheriting=0, fdflags=0) -> NOENT')
    buf[1000:1006] = b"denied"
    stubs["path_open"](3, 0, 1000, 6, 0, 0, 0, 0, 2000)
    assert line(calls).endswith("-> NOTCAPABLE") and calls[-1].errno is Errno.NOTCAPABLE
    buf[1000:1004] = b'a"\xff\n'
    stubs["path_open"](3, 0, 1000, 4, 0, 0, 0, 0, 2000)
    assert 'path="a\\"\\xff\\n"' in line(calls) and line(calls).endswith("-> ILSEQ")
    stubs["path_open"](3, 3, 1000, 1, 1 | 1 << 4, 0, 0, 1 << 7, 2000)
    assert line(calls) == (
        'path_open(fd=3, dirflags=SYMLINK_FOLLOW|0x2, path="a", oflags=CREAT|0x10, fs_rights_base=0, '
        "fs_rights_inheriting=0, fdflags=0x80) -> INVAL"
    )
    assert stubs["clock_time_get"](9, 5, 8) == Errno.INVAL
    assert line(calls) == "clock_time_get(id=9, precision=5) -> INVAL"


def test_tuple_results_and_the_pointers_a_string_table_goes_to():
    _, stubs, calls = traced()
    stubs["args_sizes_get"](1000, 2000)
    assert line(calls) == "args_sizes_get() -> success, size0=3, size1=17"
    stubs["args_get"](64, 256)
    assert line(calls) == "args_get(argv=0x40, argv_buf=0x100) -> success"
    assert calls[-1].args == {"argv": 64, "argv_buf": 256} and type(calls[-1].args["argv"]) is Pointer


def test_iovecs_are_byte_counts_before_and_after():
    buf, stubs, calls = traced()
    struct.pack_into("<IIII", buf, 200, 300, 5, 400, 3)
    stubs["fd_write"](1, 200, 2, 500)
    assert line(calls) == "fd_write(fd=1, iovs=8 bytes) -> success, size=8"
    struct.pack_into("<II", buf, 200, 300, 1)
    stubs["fd_read"](0, 200, 1, 500)
    assert line(calls) == "fd_read(fd=0, iovs=1 byte) -> success, size=1"
    stubs["fd_write"](1, 200, 0, 500)
    assert line(calls) == "fd_write(fd=1, iovs=0 bytes) -> success, size=0"
    assert calls[-1].args["iovs"] == 0 and type(calls[-1].args["iovs"]) is Bytes


def test_records_stored_and_versions_own_layouts():
    _, stubs, calls = traced(preview1)
    stubs["fd_filestat_get"](3, 64)
    assert line(calls) == (
        "fd_filestat_get(fd=3) -> success, filestat={dev=1, ino=2, filetype=REGULAR_FILE, nlink=7, size=5, "
        "atim=6, mtim=7, ctim=8}"
    )
    assert calls[-1].results["filestat"].filetype is Filetype.REGULAR_FILE
    _, stubs, calls = traced(preview0)  # 56 bytes, a 32-bit nlink
    stubs["fd_filestat_get"](3, 64)
    assert line(calls) == (
        "fd_filestat_get(fd=3) -> success, filestat={dev=1, ino=2, filetype=REGULAR_FILE, nlink=7, size=5, "
        "atim=6, mtim=7, ctim=8}"
    )
    assert type(calls[-1].results["filestat"]) is preview0.Filestat
    stubs["fd_filestat_get"](9, 64)
    assert line(calls) == "fd_filestat_get(fd=9) -> OVERFLOW"


def test_flags_inside_records_per_version():
    # Every right the version has; wasi_unstable has no SOCK_ACCEPT, so it drops it.
    for module, inheriting in ((preview1, "SOCK_ACCEPT"), (preview0, "0")):
        _, stubs, calls = traced(module)
        stubs["fd_fdstat_get"](3, 8)
        rights = "|".join(r.name for r in module.Rights)
        assert line(calls) == (
            f"fd_fdstat_get(fd=3) -> success, fdstat={{fs_filetype=DIRECTORY, fs_flags=APPEND, "
            f"fs_rights_base={rights}, fs_rights_inheriting={inheriting}}}"
        )


def test_a_union_stored():
    _, stubs, calls = traced()
    stubs["fd_prestat_get"](3, 100)
    assert line(calls) == "fd_prestat_get(fd=3) -> success, prestat={tag=DIR, value={pr_name_len=8}}"


@pytest.mark.parametrize("module, raw, name", [
    (preview1, 0, "SET"), (preview1, 1, "CUR"), (preview0, 0, "CUR"), (preview0, 2, "SET"), (preview0, 3, "3"),
])
def test_enums_are_named_as_the_version_numbers_them(module, raw, name):
    _, stubs, calls = traced(module)
    stubs["fd_seek"](3, -5, raw, 16)
    outcome = "INVAL" if name == "3" else "success, filesize=42"
    assert line(calls) == f"fd_seek(fd=3, offset=-5, whence={name}) -> {outcome}"


def test_a_signed_offset_from_either_representation():
    _, stubs, calls = traced()
    stubs["fd_seek"](3, (1 << 64) - 5, 0, 16)
    assert calls[-1].args["offset"] == -5


def test_buffers_are_sizes():
    _, stubs, calls = traced()
    stubs["fd_prestat_dir_name"](3, 500, 8)
    assert line(calls) == "fd_prestat_dir_name(fd=3, path=8 bytes) -> NOSYS"
    stubs["fd_readdir"](3, 4000, 200, 0, 8)
    assert line(calls) == "fd_readdir(fd=3, buf=200 bytes, cookie=0) -> success, size=90"
    stubs["random_get"](128, 16)
    assert line(calls) == "random_get(buf=16 bytes) -> NOSYS"


@pytest.mark.parametrize("module, size", [(preview1, 48), (preview0, 56)])
def test_poll_subscriptions_in_and_events_out(module, size):
    buf, stubs, calls = traced(module)
    base, extra = 1024, size - 48
    struct.pack_into("<QB", buf, base, 0xAAA, 0)
    struct.pack_into("<I4xQQH", buf, base + 16 + extra, 1, 10_000_000, 0, 1)
    struct.pack_into("<QBxxxxxxxI", buf, base + size, 0xBBB, 1, 0)
    if extra:
        struct.pack_into("<Q", buf, base + 16, 77)  # wasi_unstable's clock identifier
    assert stubs["poll_oneoff"](base, 4096, 2, 8) == 0
    identifier = "identifier=77, " if extra else ""
    assert line(calls) == (
        f"poll_oneoff(in=[{{userdata=2730, u={{tag=CLOCK, value={{{identifier}id=MONOTONIC, timeout=10000000, "
        "precision=0, flags=SUBSCRIPTION_CLOCK_ABSTIME}}}, {userdata=3003, u={tag=FD_READ, value={file_descriptor=0}}}], "
        "nsubscriptions=2) -> success, size=2, out=[{userdata=2730, error=SUCCESS, type=CLOCK, "
        "fd_readwrite={nbytes=3, flags=FD_READWRITE_HANGUP}}, {userdata=3003, error=SUCCESS, type=FD_READ, "
        "fd_readwrite={nbytes=3, flags=FD_READWRITE_HANGUP}}]"
    )
    buf[base + 8] = 7  # no such event type: decoded as the number, and the stub answers EINVAL
    assert stubs["poll_oneoff"](base, 4096, 1, 8) == Errno.INVAL
    assert line(calls) == "poll_oneoff(in=[{userdata=2730, u={tag=7, value=?}}], nsubscriptions=1) -> INVAL"


def test_exit_and_traps_are_recorded_then_raised():
    buf, stubs, calls = traced()
    with pytest.raises(ProcExit):
        stubs["proc_exit"](3)
    assert line(calls) == "proc_exit(rval=3) -> exit 3"
    assert calls[-1].errno is None and isinstance(calls[-1].exception, ProcExit)
    struct.pack_into("<II", buf, 200, SIZE - 2, 3)
    with pytest.raises(GuestTrap):
        stubs["fd_write"](1, 200, 1, 500)
    assert line(calls) == "fd_write(fd=1, iovs=3 bytes) -> trap: fd_write: out of bounds: 3 bytes at 0xfffe, memory is 65536 bytes"
    with pytest.raises(GuestTrap):
        stubs["fd_write"](1, SIZE - 4, 1, 500)
    assert line(calls).startswith("fd_write(fd=1, iovs=<out of bounds>) -> trap: fd_write: out of bounds")
    assert calls[-1].args["iovs"] is OUT_OF_BOUNDS
    with pytest.raises(GuestTrap):
        stubs["path_open"](3, 0, SIZE - 2, 8, 0, 0, 0, 0, 16)
    assert 'path=<out of bounds>' in line(calls)


def test_functions_nobody_implements():
    _, stubs, calls = traced()
    stubs["sock_send"](3, 200, 0, 0, 8)
    assert line(calls) == "sock_send(fd=3, si_data=0 bytes, si_flags=0) -> NOSYS"
    stubs["sched_yield"]()
    assert line(calls) == "sched_yield() -> NOSYS"


POINTER = st.one_of(st.integers(-(2**31), 2**32 - 1), st.integers(SIZE - 64, SIZE + 64))


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_call_of_any_function_is_decoded_and_the_stub_decides(data):
    """Whatever the guest passes, decoding never fails: the stub's answer or
    trap is what happens, and the trace says so."""
    module = data.draw(st.sampled_from([preview1, preview0]))
    name = data.draw(st.sampled_from(list(module.FUNCTIONS)))
    info = module.FUNCTIONS[name]
    raw = [data.draw(POINTER if w == "i32" else st.integers(-(2**63), 2**64 - 1)) for w in info.core_params]
    buf, stubs, calls = traced(module)
    plain = module.bind(Handler(), GuestMemory(bytes_source(bytearray(buf))))
    try:
        expected = plain[name](*raw)
    except (GuestTrap, ProcExit) as e:
        expected = type(e)
    try:
        got = stubs[name](*raw)
    except (GuestTrap, ProcExit) as e:
        got = type(e)
    assert got == expected
    assert len(calls) == 1 and str(calls[0]).startswith(f"{name}(")
    assert (calls[0].errno is None) == (got in (GuestTrap, ProcExit))
