"""What libc hides, from a WAT guest that hands each WASI function to the test
as an export (the calls go through the real bridge and stubs): fd_readdir's
cookies and truncation, bad pointers, bad flags, rights, every call with a
bad fd, and wasi_unstable's own whence and filestat."""

from __future__ import annotations

import os
import struct

import pytest
import wasmtime

from pywasi import WASI
from pywasi.generated import preview0, preview1
from pywasi.generated.preview1 import Errno
from pywasi.handlers.bits import FDFLAGS, FST, LOOKUP, OFLAGS, RIGHTS
from tests.support import wat

ABIS = {"preview1": preview1, "unstable": preview0}
PREOPEN = 3
SCRATCH = 4096  # where the tests put paths and buffers
OUT = 1024  # where results are stored (8-aligned)
TRAPS = (wasmtime.Trap, wasmtime.WasmtimeError)  # a trap in a host call arrives as the latter
SUCCESS, BADF, INVAL, ILSEQ, NOTCAPABLE = (int(e) for e in (Errno.SUCCESS, Errno.BADF, Errno.INVAL, Errno.ILSEQ,
                                                              Errno.NOTCAPABLE))


def passthrough_wat(abi) -> str:
    """A reactor that exports every function of `abi` under its own name."""
    imports, exports = [], []
    for name, info in abi.FUNCTIONS.items():
        params = " ".join(info.core_params)
        result = f"(result {' '.join(info.core_results)})" if info.core_results else ""
        imports.append(f'(import "{abi.MODULE}" "{name}" (func ${name} (param {params}) {result}))')
        args = " ".join(f"(local.get {i})" for i in range(len(info.core_params)))
        exports.append(f'(func (export "{name}") (param {params}) {result} (call ${name} {args}))')
    return "(module\n" + "\n".join(imports) + '\n(memory (export "memory") 1)\n' + "\n".join(exports) + ")"


class Guest:
    """A WASI instance whose functions the test calls with raw ABI values."""

    def __init__(self, version: str = "preview1", **options):
        engine = wasmtime.Engine()
        self.store = wasmtime.Store(engine)
        linker = wasmtime.Linker(engine)
        self.wasi = WASI(version=version, **options)
        self.wasi.define(linker)
        module = wasmtime.Module(engine, wat(passthrough_wat(ABIS[version])))
        instance = linker.instantiate(self.store, module)
        self.wasi.initialize(instance, self.store)
        self.exports = instance.exports(self.store)
        self.memory = self.exports["memory"]

    def __call__(self, name: str, *args) -> int:
        return self.exports[name](self.store, *args)

    def write(self, address: int, data: bytes) -> None:
        self.memory.write(self.store, data, address)

    def read(self, address: int, size: int) -> bytes:
        return bytes(self.memory.read(self.store, address, address + size))

    def u32(self, address: int) -> int:
        return struct.unpack("<I", self.read(address, 4))[0]

    def path(self, text: bytes, address: int = SCRATCH) -> tuple[int, int]:
        self.write(address, text)
        return address, len(text)

    def open(self, path: bytes, oflags=0, base=RIGHTS.ALL, inheriting=RIGHTS.ALL, fdflags=0, dirfd=PREOPEN):
        errno = self("path_open", dirfd, LOOKUP.SYMLINK_FOLLOW, *self.path(path), oflags, base, inheriting,
                     fdflags, OUT)
        assert errno == SUCCESS, (path, Errno(errno).name)
        return self.u32(OUT)

    def close(self):
        self.wasi.close()


@pytest.fixture
def box(tmp_path, filesystem):
    """The tree the guest starts from (on the host); the guest sees it as
    `filesystem` makes it (a host directory, or a MemoryDir copied from it)."""
    (tmp_path / "f").write_bytes(b"0123456789")
    return tmp_path


@pytest.fixture
def guest(box, filesystem):
    g = Guest(preopens={"/box": filesystem.preopen(box)})
    yield g
    g.close()


# fd_readdir --------------------------------------------------------------------

DIRENT = struct.Struct("<QQIB3x")


def entries(data: bytes) -> list[tuple[int, int, int, bytes]]:
    """(d_next, d_ino, d_type, name) of every whole entry in `data`."""
    out, pos = [], 0
    while pos + DIRENT.size <= len(data):
        d_next, d_ino, namlen, d_type = DIRENT.unpack_from(data, pos)
        if pos + DIRENT.size + namlen > len(data):
            break
        out.append((d_next, d_ino, d_type, data[pos + DIRENT.size : pos + DIRENT.size + namlen]))
        pos += DIRENT.size + namlen
    return out


def readdir(guest, fd, size, cookie) -> bytes:
    assert guest("fd_readdir", fd, SCRATCH, size, cookie, OUT) == SUCCESS
    used = guest.u32(OUT)
    assert used <= size
    return guest.read(SCRATCH, used)


@pytest.mark.parametrize("version", ["preview1", "unstable"])
def test_readdir_cookies_and_truncation(box, filesystem, version):
    for i in range(12):
        (box / f"name-{i:02d}").write_bytes(b"")
    g = Guest(version, preopens={"/box": filesystem.preopen(box)})
    everything = readdir(g, PREOPEN, 8192, 0)
    listing = entries(everything)
    assert len(everything) < 8192  # all of it: the buffer is not full
    assert [name for *_, name in listing][:2] == [b".", b".."]
    assert sorted(name for *_, name in listing[2:]) == [b"f"] + [f"name-{i:02d}".encode() for i in range(12)]
    assert [d_next for d_next, *_ in listing] == list(range(1, 16))
    # `..` of a capability root is the root itself, never inode 0.
    assert listing[0][1] == listing[1][1] == filesystem.stat(".").ino
    # A buffer too small for the next entry is filled to the last byte.
    for size in (1, 10, 24, 25, 30, 49, 50, 51, 100):
        assert readdir(g, PREOPEN, size, 0) == everything[:size]
    # Resuming at each cookie gives the rest, and chunks add up to the whole.
    for cookie in range(16):
        assert entries(readdir(g, PREOPEN, 8192, cookie)) == listing[cookie:]
    collected, cookie = [], 0
    while True:
        chunk = entries(readdir(g, PREOPEN, 40, cookie))
        if not chunk:
            break
        collected += chunk
        cookie = chunk[-1][0]
    assert collected == listing
    assert readdir(g, PREOPEN, 0, 0) == b""
    assert readdir(g, PREOPEN, 100, 2**64 - 1) == b""
    g.close()


# Bad pointers, bad flags, bad strings --------------------------------------------

@pytest.mark.parametrize(
    "call, function, message",
    [
        (lambda g: g("fd_read", 0, 0, 1, OUT), "fd_read", "out of bounds"),
        (lambda g: g("fd_filestat_get", PREOPEN, OUT + 4), "fd_filestat_get", "misaligned"),
        (lambda g: g("path_open", PREOPEN, 0, 65000, 1000, 0, 0, 0, 0, OUT), "path_open", "out of bounds"),
        (lambda g: g("path_open", PREOPEN, 0, SCRATCH, 1, 0, 0, 0, 0, -65536), "path_open", "out of bounds"),
        (lambda g: g("fd_readdir", PREOPEN, 65000, 1000, 0, OUT), "fd_readdir", "out of bounds"),
        (lambda g: g("path_readlink", PREOPEN, SCRATCH, 1, -1, 10, OUT), "path_readlink", "out of bounds"),
        (lambda g: g("path_filestat_get", PREOPEN, 0, SCRATCH, 1, 65534), "path_filestat_get", "misaligned"),
        (lambda g: g("fd_prestat_dir_name", PREOPEN, 65535, 4), "fd_prestat_dir_name", "out of bounds"),
    ],
)
def test_bad_pointers_trap_naming_the_function(guest, call, function, message):
    guest.write(SCRATCH, b"f")
    guest.write(0, struct.pack("<II", 65530, 100))  # an iovec reaching past the end
    with pytest.raises(TRAPS) as info:
        call(guest)
    assert f"{function}: {message}" in str(info.value)


def test_an_iovec_past_the_end_traps_after_nothing_was_read(guest):
    fd = guest.open(b"f")
    guest.write(0, struct.pack("<IIII", SCRATCH, 4, 65534, 100))
    with pytest.raises(TRAPS, match="fd_read: out of bounds"):
        guest("fd_read", fd, 0, 2, OUT)
    assert guest("fd_tell", fd, OUT) == SUCCESS and guest.u32(OUT) == 0


@pytest.mark.parametrize(
    "name, args",
    [
        ("path_open oflags", lambda g: ("path_open", PREOPEN, 0, *g.path(b"new"), OFLAGS.CREAT | 0x10, 0, 0, 0, OUT)),
        ("path_open dirflags", lambda g: ("path_open", PREOPEN, 2, *g.path(b"new"), OFLAGS.CREAT, 0, 0, 0, OUT)),
        ("path_open rights", lambda g: ("path_open", PREOPEN, 0, *g.path(b"new"), OFLAGS.CREAT, 1 << 30, 0, 0, OUT)),
        ("path_open inheriting", lambda g: ("path_open", PREOPEN, 0, *g.path(b"new"), OFLAGS.CREAT, 0, 1 << 40, 0,
                                            OUT)),
        ("path_open fdflags", lambda g: ("path_open", PREOPEN, 0, *g.path(b"new"), OFLAGS.CREAT, 0, 0, 0x20, OUT)),
        ("path_open NUL", lambda g: ("path_open", PREOPEN, 0, *g.path(b"new\0x"), OFLAGS.CREAT, 0, 0, 0, OUT)),
        ("path_create_directory NUL", lambda g: ("path_create_directory", PREOPEN, *g.path(b"new\0"))),
        ("path_symlink NUL target", lambda g: ("path_symlink", *g.path(b"f\0", SCRATCH + 64), PREOPEN,
                                               *g.path(b"new"))),
        ("path_filestat_get flags", lambda g: ("path_filestat_get", PREOPEN, 2, *g.path(b"f"), OUT)),
        ("path_filestat_set_times fst", lambda g: ("path_filestat_set_times", PREOPEN, 0, *g.path(b"f"), 0, 0, 0x10)),
        ("path_filestat_set_times ATIM|ATIM_NOW", lambda g: ("path_filestat_set_times", PREOPEN, 0, *g.path(b"f"),
                                                             1, 1, FST.ATIM | FST.ATIM_NOW)),
        ("fd_filestat_set_times MTIM|MTIM_NOW", lambda g: ("fd_filestat_set_times", PREOPEN, 1, 1,
                                                           FST.MTIM | FST.MTIM_NOW)),
        ("fd_fdstat_set_flags", lambda g: ("fd_fdstat_set_flags", PREOPEN, 0x100)),
        ("fd_fdstat_set_rights", lambda g: ("fd_fdstat_set_rights", PREOPEN, 1 << 31, 0)),
        ("fd_seek whence", lambda g: ("fd_seek", 0, 0, 3, OUT)),
        ("fd_advise advice", lambda g: ("fd_advise", PREOPEN, 0, 0, 6)),
        ("path_link flags", lambda g: ("path_link", PREOPEN, 2, *g.path(b"f"), PREOPEN, *g.path(b"new", 8000))),
    ],
)
def test_bad_flags_and_strings_are_einval_and_do_nothing(guest, filesystem, name, args):
    before = filesystem.tree(), filesystem.stat("f").mtim
    assert guest(*args(guest)) == INVAL
    assert (filesystem.tree(), filesystem.stat("f").mtim) == before


def test_invalid_utf8_is_eilseq(guest, filesystem):
    assert guest("path_create_directory", PREOPEN, *guest.path(b"bad\xff")) == ILSEQ
    assert guest("path_open", PREOPEN, 0, *guest.path(b"\xed\xa0\x80"), OFLAGS.CREAT, 0, 0, 0, OUT) == ILSEQ
    assert sorted(filesystem.tree()) == ["f"]


# Rights ---------------------------------------------------------------------------

def fdstat(guest, fd) -> tuple[int, int, int, int]:
    assert guest("fd_fdstat_get", fd, OUT) == SUCCESS
    return struct.unpack("<B1xH4xQQ", guest.read(OUT, 24))


def test_rights_through_the_abi(guest, filesystem):
    reading = RIGHTS.FD_READ | RIGHTS.FD_SEEK | RIGHTS.FD_TELL
    fd = guest.open(b"f", base=reading, inheriting=0)
    assert fdstat(guest, fd)[2:] == (reading, 0)
    guest.write(0, struct.pack("<II", SCRATCH, 4))
    assert guest("fd_write", fd, 0, 1, OUT) == NOTCAPABLE
    assert guest("fd_read", fd, 0, 1, OUT) == SUCCESS and guest.read(SCRATCH, 4) == b"0123"
    # Rights only drop.
    assert guest("fd_fdstat_set_rights", fd, RIGHTS.FD_READ, 0) == SUCCESS
    assert guest("fd_seek", fd, 0, 0, OUT) == NOTCAPABLE
    assert guest("fd_fdstat_set_rights", fd, reading, 0) == NOTCAPABLE
    assert fdstat(guest, fd)[2:] == (RIGHTS.FD_READ, 0)
    # A directory passes on only what it may.
    d = guest.open(b".", OFLAGS.DIRECTORY, base=RIGHTS.PATH_OPEN | RIGHTS.FD_READDIR, inheriting=RIGHTS.FD_READ)
    assert fdstat(guest, d)[2:] == (RIGHTS.PATH_OPEN | RIGHTS.FD_READDIR, RIGHTS.FD_READ)
    g = guest.open(b"f", base=RIGHTS.ALL, inheriting=RIGHTS.ALL, dirfd=d)
    assert fdstat(guest, g)[2:] == (RIGHTS.FD_READ, RIGHTS.FD_READ)
    assert guest("path_open", d, 0, *guest.path(b"new"), OFLAGS.CREAT, RIGHTS.FD_READ, 0, 0, OUT) == NOTCAPABLE
    assert guest("path_create_directory", d, *guest.path(b"sub")) == NOTCAPABLE
    assert sorted(filesystem.tree()) == ["f"]


@pytest.mark.parametrize("version", ["preview1", "unstable"])
def test_opening_a_directory_to_write_is_eisdir(box, filesystem, version):
    # The WASI test suite's path_open_preopen: O_DIRECTORY with FD_WRITE asked.
    (box / "d").mkdir()
    g = Guest(version, preopens={"/box": filesystem.preopen(box)})
    for path, errno in [(b".", Errno.ISDIR), (b"d", Errno.ISDIR), (b"f", Errno.NOTDIR), (b"none", Errno.NOENT)]:
        for rights in (RIGHTS.FD_WRITE, RIGHTS.FD_READ | RIGHTS.FD_WRITE | RIGHTS.FD_READDIR):
            assert g("path_open", PREOPEN, 0, *g.path(path), OFLAGS.DIRECTORY, rights, 0, 0, OUT) == errno, path
    assert g("path_open", PREOPEN, 0, *g.path(b"d"), OFLAGS.DIRECTORY, RIGHTS.FD_READDIR, 0, 0, OUT) == SUCCESS
    g.close()


def test_a_path_of_path_max_bytes_is_nametoolong(guest, filesystem):
    # As the kernel answers, on every kind of preopen; one byte less is an
    # ordinary missing path.
    for call in (
        lambda p: guest("path_open", PREOPEN, 0, *guest.path(p), 0, RIGHTS.FD_READ, 0, 0, OUT),
        lambda p: guest("path_create_directory", PREOPEN, *guest.path(p)),
        lambda p: guest("path_unlink_file", PREOPEN, *guest.path(p)),
        lambda p: guest("path_filestat_get", PREOPEN, 0, *guest.path(p), OUT),
    ):
        assert call(b"a/" * 2048) == Errno.NAMETOOLONG
        assert call(b"a/" * 2047 + b"b") == Errno.NOENT
    assert sorted(filesystem.tree()) == ["f"]


def test_append_and_fdflags_through_the_abi(guest, filesystem):
    fd = guest.open(b"f", fdflags=FDFLAGS.APPEND)
    assert fdstat(guest, fd)[:2] == (4, FDFLAGS.APPEND)  # a regular file, appending
    guest.write(0, struct.pack("<II", SCRATCH, 3))
    guest.write(SCRATCH, b"abc")
    assert guest("fd_write", fd, 0, 1, OUT) == SUCCESS
    assert guest("fd_fdstat_set_flags", fd, 0) == SUCCESS
    assert guest("fd_seek", fd, 0, 0, OUT) == SUCCESS  # whence SET
    assert guest("fd_write", fd, 0, 1, OUT) == SUCCESS
    assert filesystem.tree()["f"] == b"abc3456789abc"
    assert guest("fd_fdstat_set_flags", fd, FDFLAGS.SYNC) == int(Errno.NOTSUP)


# Every call with a bad fd -------------------------------------------------------

@pytest.mark.parametrize("version", ["preview1", "unstable"])
def test_every_fd_and_path_call_with_a_bad_fd_is_ebadf(box, filesystem, version):
    g = Guest(version, preopens={"/box": filesystem.preopen(box)})
    g.write(SCRATCH, b"f")
    g.write(0, struct.pack("<II", SCRATCH, 1))
    answers = {}
    for name, info in ABIS[version].FUNCTIONS.items():
        if not name.startswith(("fd_", "path_")):
            continue
        # Every pointer points at good memory; every length is 1; the fd is bad.
        args = []
        for param, kind in zip(info.core_param_names, info.core_params):
            if param in ("fd", "old_fd", "new_fd"):
                args.append(77)
            elif param.endswith(("_out", "used")) or param in ("bufused",):
                args.append(OUT)
            elif param.endswith("_len") or param in ("iovs_len", "path_len"):
                args.append(1)
            elif param == "to":
                args.append(PREOPEN)
            elif kind == "i32" and param in ("iovs", "iovs_ptr", "buf", "path", "path_ptr", "old_path_ptr",
                                             "new_path_ptr", "old_path", "new_path"):
                args.append(0 if param.startswith("iovs") else SCRATCH)
            else:
                args.append(0)
        answers[name] = g(name, *args)
    assert {name: Errno(e).name for name, e in answers.items() if e != BADF} == {}
    assert "fd_renumber" in answers and "path_open" in answers and len(answers) == 31
    g.close()


# wasi_unstable's own ABI --------------------------------------------------------

def test_unstable_whence_and_filestat(box, filesystem):
    os.link(box / "f", box / "g")
    g = Guest("unstable", preopens={"/box": filesystem.preopen(box)})
    fd = g.open(b"f", base=preview0.RIGHTS_MASK, inheriting=0)  # wasi_unstable has no SOCK_ACCEPT right
    # wasi_unstable orders whence cur, end, set.
    assert g("fd_seek", fd, -3, 1, OUT) == SUCCESS and struct.unpack("<Q", g.read(OUT, 8))[0] == 7  # END
    assert g("fd_seek", fd, 2, 2, OUT) == SUCCESS and struct.unpack("<Q", g.read(OUT, 8))[0] == 2  # SET
    assert g("fd_seek", fd, 1, 0, OUT) == SUCCESS and struct.unpack("<Q", g.read(OUT, 8))[0] == 3  # CUR
    assert g("fd_tell", fd, OUT) == SUCCESS and struct.unpack("<Q", g.read(OUT, 8))[0] == 3
    offsets = preview0.FILESTAT_OFFSETS
    for call in (("fd_filestat_get", fd, OUT), ("path_filestat_get", PREOPEN, 0, *g.path(b"f"), OUT)):
        g.write(OUT, b"\xee" * 64)
        assert g(*call) == SUCCESS
        raw = g.read(OUT, 64)
        assert struct.unpack_from("<I", raw, offsets["nlink"])[0] == 2  # u32 in wasi_unstable
        assert struct.unpack_from("<Q", raw, offsets["size"])[0] == 10
        assert struct.unpack_from("<Q", raw, offsets["ino"])[0] == filesystem.stat("f").ino
        assert raw[preview0.FILESTAT_SIZE :] == b"\xee" * (64 - preview0.FILESTAT_SIZE)  # 56 bytes, no more
    g.close()
