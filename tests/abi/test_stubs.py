"""The generated stubs on a plain bytearray memory: exactly the bytes the ABI
says are written (canaries around every struct), pointers checked, values
validated and translated, handler errors turned into errnos."""

from __future__ import annotations

import errno as os_errno
import struct

import pytest
from hypothesis import given, settings, strategies as st

from pywasi.generated import preview0, preview1
from pywasi.generated.interface import Handlers
from pywasi.generated.preview1 import (
    Clockid, Dirent, Errno, Event, EventFdReadwrite, Eventtype, Fdstat, Filestat, Filetype, Prestat,
    PrestatDir, Preopentype, Whence,
)
from pywasi.runtime.errors import WasiError
from pywasi.runtime.memory import IOV_MAX, MAX_RECORDS, GuestMemory, GuestTrap, bytes_source

CANARY = 0xA5
SIZE = 65536


class Recorder(Handlers):
    """Answers with fixed values and remembers what it was called with."""

    def __init__(self):
        self.calls = []

    def args_sizes_get(self):
        return 3, 17

    def args_get(self):
        return [b"prog", b"", b"\xc3\xa9t\xc3\xa9"]

    def clock_time_get(self, id_, precision):
        self.calls.append(("clock_time_get", id_, precision))
        return 0x1122334455667788

    def fd_seek(self, fd, offset, whence):
        self.calls.append(("fd_seek", fd, offset, whence))
        return 42

    def fd_filestat_get(self, fd):
        nlink = 7 if fd != 9 else 1 << 32
        return Filestat(dev=1, ino=2, filetype=Filetype.REGULAR_FILE, nlink=nlink, size=5, atim=6, mtim=7, ctim=8)

    def fd_fdstat_get(self, fd):
        return Fdstat(fs_filetype=Filetype.DIRECTORY, fs_flags=1, fs_rights_base=(1 << 30) - 1, fs_rights_inheriting=1 << 29)

    def fd_prestat_get(self, fd):
        return Prestat(tag=Preopentype.DIR, value=PrestatDir(pr_name_len=8))

    def fd_write(self, fd, iovs):
        self.calls.append(("fd_write", fd, [bytes(v) for v in iovs]))
        return sum(len(v) for v in iovs)

    def fd_read(self, fd, iovs):
        data = b"0123456789"
        n = 0
        for v in iovs:
            chunk = data[n : n + len(v)]
            v[: len(chunk)] = chunk
            n += len(chunk)
        return n

    def path_open(self, fd, dirflags, path, oflags, fs_rights_base, fs_rights_inheriting, fdflags):
        self.calls.append(("path_open", fd, dirflags, path, oflags, fs_rights_base, fs_rights_inheriting, fdflags))
        if path == "missing":
            raise FileNotFoundError(os_errno.ENOENT, "missing")
        if path == "denied":
            raise WasiError(Errno.NOTCAPABLE)
        return 5

    def fd_readdir(self, fd, cookie):
        for i in range(cookie, 3):
            name = f"entry{i}".encode()
            yield Dirent(d_next=i + 1, d_ino=100 + i, d_namlen=len(name), d_type=Filetype.REGULAR_FILE), name

    def poll_oneoff(self, in_):
        self.calls.append(("poll_oneoff", in_))
        return [
            Event(userdata=s.userdata, error=Errno.SUCCESS, type=s.u.tag, fd_readwrite=EventFdReadwrite(nbytes=3, flags=1))
            for s in in_
        ]


def setup(module=preview1, handler=None):
    buf = bytearray([CANARY]) * SIZE
    handler = handler or Recorder()
    stubs = module.bind(handler, GuestMemory(bytes_source(buf)))
    return buf, stubs, handler


def untouched(buf, start, end):
    """Every byte outside [start, end) is still the canary."""
    return buf[:start].count(CANARY) == start and buf[end:].count(CANARY) == len(buf) - end


def test_tuple_results_through_two_out_pointers():
    buf, stubs, _ = setup()
    assert stubs["args_sizes_get"](1000, 2000) == 0
    assert struct.unpack_from("<I", buf, 1000) == (3,) and struct.unpack_from("<I", buf, 2000) == (17,)
    assert buf[:1000].count(CANARY) == 1000
    assert buf[1004:2000].count(CANARY) == 996
    assert buf[2004:].count(CANARY) == SIZE - 2004


def test_string_table():
    buf, stubs, _ = setup()
    assert stubs["args_get"](64, 256) == 0
    pointers = struct.unpack_from("<3I", buf, 64)
    assert pointers == (256, 261, 262)
    assert bytes(buf[256:262 + 6]) == b"prog\x00\x00\xc3\xa9t\xc3\xa9\x00"
    assert buf[:64].count(CANARY) == 64 and buf[76:256].count(CANARY) == 180 and buf[268:].count(CANARY) == SIZE - 268


def test_string_table_out_of_bounds_traps():
    _, stubs, _ = setup()
    with pytest.raises(GuestTrap, match="args_get: out of bounds"):
        stubs["args_get"](64, SIZE - 5)


def test_u64_result_and_enum_argument():
    buf, stubs, handler = setup()
    assert stubs["clock_time_get"](1, 1000, 8) == 0
    assert struct.unpack_from("<Q", buf, 8) == (0x1122334455667788,)
    assert untouched(buf, 8, 16)
    assert handler.calls == [("clock_time_get", Clockid.MONOTONIC, 1000)]
    assert type(handler.calls[0][1]) is Clockid


def test_unknown_enum_value_is_inval_and_calls_nothing():
    buf, stubs, handler = setup()
    assert stubs["clock_time_get"](4, 0, 8) == Errno.INVAL
    assert handler.calls == [] and untouched(buf, 0, 0)


@pytest.mark.parametrize("module, raw, whence", [
    (preview1, 0, Whence.SET), (preview1, 1, Whence.CUR), (preview1, 2, Whence.END),
    (preview0, 0, Whence.CUR), (preview0, 1, Whence.END), (preview0, 2, Whence.SET),
])
def test_whence_is_translated_per_version(module, raw, whence):
    _, stubs, handler = setup(module)
    assert stubs["fd_seek"](3, -5, raw, 16) == 0
    assert handler.calls == [("fd_seek", 3, -5, whence)]


def test_signed_offset_from_either_representation():
    _, stubs, handler = setup()
    stubs["fd_seek"](3, (1 << 64) - 5, 0, 16)  # as an unsigned i64
    stubs["fd_seek"](3, -5, 0, 16)  # as a signed one
    assert [c[2] for c in handler.calls] == [-5, -5]
    assert stubs["fd_seek"](3, 0, 3, 16) == Errno.INVAL


def test_filestat_layouts_per_version():
    buf, stubs, _ = setup(preview1)
    assert stubs["fd_filestat_get"](3, 64) == 0
    assert struct.unpack_from("<QQB7xQQQQQ", buf, 64) == (1, 2, 4, 7, 5, 6, 7, 8)
    assert buf[:64].count(CANARY) == 64 and buf[128:].count(CANARY) == SIZE - 128
    buf, stubs, _ = setup(preview0)
    assert stubs["fd_filestat_get"](3, 64) == 0
    assert struct.unpack_from("<QQB3xIQQQQ", buf, 64) == (1, 2, 4, 7, 5, 6, 7, 8)
    assert buf[:64].count(CANARY) == 64 and buf[120:].count(CANARY) == SIZE - 120


def test_unstable_nlink_that_does_not_fit_is_overflow():
    buf, stubs, _ = setup(preview0)
    assert stubs["fd_filestat_get"](9, 64) == Errno.OVERFLOW
    assert untouched(buf, 0, 0)
    _, stubs, _ = setup(preview1)
    assert stubs["fd_filestat_get"](9, 64) == 0


def test_unstable_fdstat_drops_rights_it_does_not_have():
    buf, stubs, _ = setup(preview0)
    assert stubs["fd_fdstat_get"](3, 8) == 0
    assert struct.unpack_from("<BxH4xQQ", buf, 8) == (3, 1, (1 << 29) - 1, 0)
    buf, stubs, _ = setup(preview1)
    assert stubs["fd_fdstat_get"](3, 8) == 0
    assert struct.unpack_from("<BxH4xQQ", buf, 8) == (3, 1, (1 << 30) - 1, 1 << 29)
    assert untouched(buf, 8, 32)


def test_union_result():
    buf, stubs, _ = setup()
    assert stubs["fd_prestat_get"](3, 100) == 0
    assert buf[100] == 0 and struct.unpack_from("<I", buf, 104) == (8,)


def test_iovecs_are_views_of_guest_memory():
    buf, stubs, handler = setup()
    buf[300:305] = b"hello"
    buf[400:403] = b"abc"
    struct.pack_into("<IIII", buf, 200, 300, 5, 400, 3)
    assert stubs["fd_write"](1, 200, 2, 500) == 0
    assert handler.calls == [("fd_write", 1, [b"hello", b"abc"])]
    assert struct.unpack_from("<I", buf, 500) == (8,)
    struct.pack_into("<II", buf, 200, 300, 4)
    assert stubs["fd_read"](0, 200, 1, 500) == 0
    assert bytes(buf[300:305]) == b"0123o"  # written in place, no further


def test_iovec_pointing_outside_traps_with_the_function_name():
    buf, stubs, _ = setup()
    struct.pack_into("<II", buf, 200, SIZE - 2, 3)
    with pytest.raises(GuestTrap, match=r"^fd_write: out of bounds: 3 bytes at 0xfffe"):
        stubs["fd_write"](1, 200, 1, 500)


def growing(initial: int, full: int):
    """A memory of `full` bytes the guest has grown from `initial` (the
    stubs have seen only `initial`): `grow()` makes the rest visible."""
    buf = bytearray([CANARY]) * full
    size = [initial]
    memory = GuestMemory(lambda: (buf, size[0]))
    return buf, memory, lambda: size.__setitem__(0, full)


@pytest.mark.parametrize("module", [preview1, preview0])
@pytest.mark.parametrize("count", [1, 2, 3])
def test_buffers_in_memory_grown_since_the_last_refresh(module, count):
    # Each iovec of a gather or scatter list in turn lies in the new pages,
    # the others in the old: every buffer gets exactly its bytes.
    for grown in range(count):
        buf, memory, grow = growing(SIZE, 2 * SIZE)
        handler = Recorder()
        stubs = module.bind(handler, memory)
        places = [SIZE + 100 + 16 * i if i == grown else 300 + 16 * i for i in range(count)]
        for i, at in enumerate(places):
            struct.pack_into("<II", buf, 200 + 8 * i, at, 3)
            buf[at : at + 3] = b"%03d" % i
        grow()
        assert stubs["fd_write"](1, 200, count, 500) == 0
        assert handler.calls[-1] == ("fd_write", 1, [b"%03d" % i for i in range(count)])
        assert stubs["fd_read"](0, 200, count, 500) == 0
        data = b"0123456789"[: 3 * count]
        assert [bytes(buf[at : at + 3]) for at in places] == [data[3 * i : 3 * i + 3] for i in range(count)]
        assert struct.unpack_from("<I", buf, 500) == (len(data),)


def test_a_view_kept_across_a_refresh_fails_loudly():
    # A refresh that replaces the views releases the old ones: a stale view
    # still in use raises (a trap naming the function) rather than being
    # silently short; slices taken before stay good.
    buf, memory, grow = growing(SIZE, 2 * SIZE)
    stale, u32, kept = memory.u8, memory.u32, memory.u8[10:20]
    grow()
    memory.refresh()
    with pytest.raises(ValueError, match="released"):
        stale[SIZE + 4 : SIZE + 8]
    with pytest.raises(ValueError, match="released"):
        u32[0] = 1
    kept[0] = 7
    assert buf[10] == 7 and memory.size == 2 * SIZE and len(memory.u8) == 2 * SIZE


@pytest.mark.parametrize("module", [preview1, preview0])
def test_more_iovecs_than_iov_max_are_einval_before_any_view(module):
    buf, stubs, handler = setup(module)
    buf[: (IOV_MAX + 1) * 8] = bytes((IOV_MAX + 1) * 8)  # empty iovecs at 0
    assert stubs["fd_write"](1, 0, IOV_MAX, 60000) == 0
    assert len(handler.calls[-1][2]) == IOV_MAX
    assert stubs["fd_write"](1, 0, IOV_MAX + 1, 60000) == Errno.INVAL  # what writev(2) answers
    assert len(handler.calls) == 1


@pytest.mark.parametrize("module, size", [(preview1, 48), (preview0, 56)])
def test_more_subscriptions_than_max_records_are_einval_before_any_is_read(module, size):
    # Zeroed subscriptions are valid: realtime clocks, timeout 0.
    buf = bytearray((MAX_RECORDS + 1) * (size + 32) + 8)
    handler = Recorder()
    stubs = module.bind(handler, GuestMemory(bytes_source(buf)))
    events = (MAX_RECORDS + 1) * size
    assert stubs["poll_oneoff"](0, events, MAX_RECORDS, len(buf) - 8) == 0
    assert len(handler.calls[-1][1]) == MAX_RECORDS
    assert stubs["poll_oneoff"](0, events, MAX_RECORDS + 1, len(buf) - 8) == Errno.INVAL
    assert len(handler.calls) == 1


def test_path_decoding_and_validation():
    buf, stubs, handler = setup()
    path = "dír/ä".encode()
    buf[1000 : 1000 + len(path)] = path
    assert stubs["path_open"](3, 1, 1000, len(path), 1 | 8, 2, 0, 1, 2000) == 0
    assert handler.calls[-1] == ("path_open", 3, 1, "dír/ä", 9, 2, 0, 1)
    assert struct.unpack_from("<I", buf, 2000) == (5,)
    buf[1000:1002] = b"\xff\xfe"
    assert stubs["path_open"](3, 1, 1000, 2, 0, 0, 0, 0, 2000) == Errno.ILSEQ
    buf[1000:1007] = b"missing"
    assert stubs["path_open"](3, 1, 1000, 7, 0, 0, 0, 0, 2000) == Errno.NOENT
    buf[1000:1006] = b"denied"
    assert stubs["path_open"](3, 1, 1000, 6, 0, 0, 0, 0, 2000) == Errno.NOTCAPABLE
    calls = len(handler.calls)
    assert stubs["path_open"](3, 1, 1000, 6, 1 << 4, 0, 0, 0, 2000) == Errno.INVAL  # unknown oflag
    assert stubs["path_open"](3, 2, 1000, 6, 0, 0, 0, 0, 2000) == Errno.INVAL  # unknown lookupflag
    assert stubs["path_open"](3, 1, 1000, 6, 0, 1 << 30, 0, 0, 2000) == Errno.INVAL  # unknown right
    assert stubs["path_open"](3, 1, 1000, 6, 0, 0, 0, 1 << 5, 2000) == Errno.INVAL  # unknown fdflag
    assert len(handler.calls) == calls


def test_unstable_has_no_sock_accept_right():
    for module, expected in ((preview0, Errno.INVAL), (preview1, 0)):
        buf, stubs, _ = setup(module)
        buf[1000] = ord("f")
        assert stubs["path_open"](3, 1, 1000, 1, 0, 1 << 29, 0, 0, 2000) == expected


def test_readdir_fills_the_buffer_and_truncates_the_last_entry():
    buf, stubs, _ = setup()
    assert stubs["fd_readdir"](3, 4000, 200, 0, 8) == 0
    assert struct.unpack_from("<I", buf, 8) == (3 * (24 + 6),)
    assert struct.unpack_from("<QQIB", buf, 4000) == (1, 100, 6, 4) and bytes(buf[4024:4030]) == b"entry0"
    assert buf[4090:4200].count(CANARY) == 110
    # 40 bytes: one whole entry and 10 bytes of the next; the buffer is full.
    assert stubs["fd_readdir"](3, 5000, 40, 1, 8) == 0
    assert struct.unpack_from("<I", buf, 8) == (40,)
    assert struct.unpack_from("<QQIB", buf, 5000) == (2, 101, 6, 4) and bytes(buf[5024:5030]) == b"entry1"
    assert struct.unpack_from("<Q", buf, 5030) == (3,)  # d_next of the cut entry
    assert struct.unpack_from("<H", buf, 5038) == (102 & 0xFFFF,)  # the first 2 bytes of its d_ino
    assert buf[5040:5100].count(CANARY) == 60


@pytest.mark.parametrize("module, size", [(preview1, 48), (preview0, 56)])
def test_poll_subscriptions_both_layouts(module, size):
    buf, stubs, handler = setup(module)
    base = 1024
    extra = size - 48  # wasi_unstable's identifier comes first in the clock body
    struct.pack_into("<QB", buf, base, 0xAAA, 0)  # clock
    struct.pack_into("<I4xQQH", buf, base + 8 + 8 + extra, 1, 10_000_000, 0, 1)
    struct.pack_into("<QBxxxxxxxI", buf, base + size, 0xBBB, 1, 0)  # fd_read on fd 0
    assert stubs["poll_oneoff"](base, 4096, 2, 8) == 0
    (subs,) = [c[1] for c in handler.calls]
    assert [s.userdata for s in subs] == [0xAAA, 0xBBB]
    assert subs[0].u.tag == Eventtype.CLOCK and subs[0].u.value.id == Clockid.MONOTONIC
    assert subs[0].u.value.timeout == 10_000_000 and subs[0].u.value.flags == 1
    assert subs[1].u.tag == Eventtype.FD_READ and subs[1].u.value.file_descriptor == 0
    assert struct.unpack_from("<I", buf, 8) == (2,)
    assert struct.unpack_from("<QHB5xQH", buf, 4096) == (0xAAA, 0, 0, 3, 1)
    assert struct.unpack_from("<QHB5xQH", buf, 4128) == (0xBBB, 0, 1, 3, 1)
    buf[base + 8] = 3  # no such event type
    assert stubs["poll_oneoff"](base, 4096, 2, 8) == Errno.INVAL


def test_handler_that_does_not_implement_is_enosys():
    _, stubs, _ = setup()
    assert stubs["sock_accept"](3, 0, 8) == Errno.NOSYS
    assert stubs["sched_yield"]() == Errno.NOSYS


POINTER = st.one_of(
    st.integers(-(2**31), 2**32 - 1),
    st.integers(SIZE - 80, SIZE + 80),
    st.sampled_from([-1, -8, 2**31, 2**32 - 8, 0]),
)


@settings(max_examples=300, deadline=None)
@given(POINTER)
def test_any_pointer_either_traps_or_writes_only_its_struct(ptr):
    buf, stubs, _ = setup()
    u = ptr & 0xFFFFFFFF
    try:
        result = stubs["fd_filestat_get"](3, ptr)
    except GuestTrap as e:
        assert str(e).startswith("fd_filestat_get: ")
        assert u % 8 or u + 64 > SIZE
        assert untouched(buf, 0, 0)
        return
    assert result == 0 and u % 8 == 0 and u + 64 <= SIZE
    assert untouched(buf, u, u + 64)


@settings(max_examples=200, deadline=None)
@given(POINTER, st.integers(0, 2**32 - 1))
def test_any_string_either_traps_or_decodes_exactly_its_bytes(ptr, length):
    buf, stubs, handler = setup()
    u = ptr & 0xFFFFFFFF
    try:
        stubs["path_open"](3, 0, ptr, length, 0, 0, 0, 0, 16)
    except GuestTrap:
        assert u + length > SIZE
        return
    assert u + length <= SIZE
    if handler.calls:
        assert len(handler.calls[-1][3].encode()) == length
