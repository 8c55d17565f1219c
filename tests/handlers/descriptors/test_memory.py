"""MemoryDir's descriptors: the same answers as a host directory (an
oracle: the same calls on both, compared call by call), and what only a
filesystem in memory has (quotas, trees of Python objects, sharing)."""

from __future__ import annotations

import os
import random
import threading
from itertools import islice

import pytest

from pywasi import MemoryDir, Overlay, ReadOnly, Symlink
from pywasi.generated.preview1 import Errno, Filetype
from pywasi.handlers.bits import FDFLAGS, FST, OFLAGS, RIGHTS
from pywasi.runtime.errors import WasiError, errno_of
from pywasi.handlers.preopens import HostDir
from tests.support import host_tree

ALL = RIGHTS.ALL


def outcome(call):
    try:
        result = call()
    except WasiError as e:
        return Errno(e.errno).name
    except OSError as e:
        return Errno(errno_of(e)).name
    return result


def describe(d) -> tuple:
    """What an opened descriptor is, comparably across filesystems."""
    st = d.filestat()
    d.close()
    return ("opened", Filetype(st.filetype).name, st.size if st.filetype == Filetype.REGULAR_FILE else None)


def stat_of(st) -> tuple:
    return Filetype(st.filetype).name, st.nlink, st.size if st.filetype != Filetype.DIRECTORY else None


NAMES = ["f", "g", "d", "d/x", "d/e", "d/e/y", "ld", "lf", "dangling", "loop", "up", "new", "d/new", "ld/new",
         ".", "..", "d/..", "", "x" * 256, "d/e/../x", "/".join(["d"] * 2048)]  # 4095 bytes: a slash makes PATH_MAX
PATHS = NAMES + [n + "/" for n in NAMES if n]
OFLAG_CHOICES = [0, OFLAGS.CREAT, OFLAGS.CREAT | OFLAGS.EXCL, OFLAGS.DIRECTORY, OFLAGS.TRUNC,
                 OFLAGS.CREAT | OFLAGS.TRUNC, OFLAGS.CREAT | OFLAGS.DIRECTORY]
RIGHT_CHOICES = [RIGHTS.FD_READ, RIGHTS.FD_READ | RIGHTS.FD_WRITE, RIGHTS.FD_READDIR | RIGHTS.PATH_OPEN]


def operations(rng: random.Random):
    """Calls on a directory descriptor, each a (label, function of it)."""
    p = lambda: rng.choice(PATHS)  # noqa: E731
    while True:
        kind = rng.randrange(10)
        if kind == 0:
            path, follow, oflags, rights = p(), rng.random() < 0.7, rng.choice(OFLAG_CHOICES), rng.choice(RIGHT_CHOICES)
            yield (f"open {path!r} follow={follow} oflags={oflags} rights={rights}",
                   lambda d: describe(d.open(path, follow, oflags, rights, 0, 0)))
        elif kind == 1:
            path = p()
            yield f"mkdir {path!r}", lambda d: d.mkdir(path)
        elif kind == 2:
            path = p()
            yield f"rmdir {path!r}", lambda d: d.rmdir(path)
        elif kind == 3:
            path = p()
            yield f"unlink {path!r}", lambda d: d.unlink(path)
        elif kind == 4:
            target, path = rng.choice(["f", "d", "../x", "nowhere", "d/x"]), p()
            yield f"symlink {target!r} {path!r}", lambda d: d.symlink(target, path)
        elif kind == 5:
            a, b = p(), p()
            yield f"rename {a!r} {b!r}", lambda d: d.rename(a, d, b)
        elif kind == 6:
            a, b, follow = p(), p(), rng.random() < 0.5
            yield f"link {a!r} {b!r} follow={follow}", lambda d: d.link(follow, a, d, b)
        elif kind == 7:
            path, follow = p(), rng.random() < 0.5
            yield f"stat {path!r} follow={follow}", lambda d: stat_of(d.stat(path, follow))
        elif kind == 8:
            path = p()
            buf = bytearray(64)
            yield f"readlink {path!r}", lambda d: bytes(buf[: d.readlink(path, memoryview(buf))])
        else:
            path, follow = p(), rng.random() < 0.5
            yield (f"set_times {path!r} follow={follow}",
                   lambda d: d.set_times_at(path, follow, 10**18, 0, FST.ATIM | FST.MTIM_NOW))


def make_tree(root):
    (root / "d" / "e").mkdir(parents=True)
    (root / "f").write_bytes(b"0123456789")
    (root / "d" / "x").write_bytes(b"x")
    for name, target in {"ld": "d", "lf": "f", "dangling": "nowhere", "loop": "loop", "up": ".."}.items():
        os.symlink(target, root / name)


@pytest.mark.parametrize("seed", range(int(os.environ.get("PYWASI_FS_SEEDS", "6"))))
def test_the_same_answers_as_a_host_directory(tmp_path, seed):
    make_tree(tmp_path)
    memory = MemoryDir.from_path(tmp_path)
    host_d = HostDir(tmp_path).preopen("/h", False)
    mem_d = memory.preopen("/m", False)
    rng = random.Random(seed)
    ops = operations(rng)
    try:
        for step in range(300):
            label, op = next(ops)
            on_host, in_memory = outcome(lambda: op(host_d)), outcome(lambda: op(mem_d))
            assert in_memory == on_host, f"step {step}: {label}"
            assert memory.tree() == host_tree(tmp_path), f"step {step}: {label}"
    finally:
        host_d.close()


def test_files_read_write_seek_and_holes():
    m = MemoryDir({"f": b"hello"})
    d = m.preopen("/m", False)
    f = d.open("f", True, 0, ALL, 0, 0)
    buf = bytearray(3)
    assert f.read([memoryview(buf)]) == 3 and buf == b"hel"
    assert f.tell() == 3
    assert f.pwrite([memoryview(b"XY")], 8) == 2  # past the end: a hole of zeros
    assert m.tree()["f"] == b"hello\0\0\0XY"
    assert f.seek(-2, 2) == 8 and f.read([memoryview(buf)]) == 2 and buf[:2] == b"XY"
    assert f.read([memoryview(buf)]) == 0
    with pytest.raises(WasiError) as info:
        f.seek(-100, 1)
    assert info.value.errno == Errno.INVAL
    f.set_size(2)
    assert m.tree()["f"] == b"he" and f.filestat().size == 2
    f.allocate(0, 6)
    assert m.tree()["f"] == b"he\0\0\0\0"
    f.set_flags(FDFLAGS.APPEND)
    assert f.pwrite([memoryview(b"!")], 0) == 1  # O_APPEND: Linux appends, whatever the offset
    assert m.tree()["f"] == b"he\0\0\0\0!"
    f.seek(3, 0)
    assert f.poll_now(False) == (4, False) and f.poll_now(True) == (0, False)  # always ready
    f.close()


def test_unlinked_while_open_stays_readable_and_hard_links_share_data():
    m = MemoryDir({"f": b"data"})
    d = m.preopen("/m", False)
    d.link(False, "f", d, "g")
    f = d.open("f", True, 0, ALL, 0, 0)
    f.write([memoryview(b"DA")])
    assert m.tree() == {"f": b"DAta", "g": b"DAta"}
    assert d.stat("g", False).nlink == 2 and d.stat("f", False).ino == d.stat("g", False).ino
    d.unlink("f")
    d.unlink("g")
    assert m.tree() == {}
    buf = bytearray(4)
    assert f.pread([memoryview(buf)], 0) == 4 and buf == b"DAta"
    assert f.filestat().nlink == 0
    f.close()


def test_readdir_makes_dirents_only_for_what_is_taken():
    m = MemoryDir({f"n{i:05d}": b"" for i in range(10_000)})
    d = m.preopen("/m", False)
    first = list(islice(d.readdir(5000), 3))
    assert [name for _, name in first] == [b"n04998", b"n04999", b"n05000"]  # entry i has cookie i + 3
    listing = d.readdir(2)
    d.unlink("n00001")  # gone before the guest takes it: skipped
    d.unlink("n00002")
    d.open("n00002", True, OFLAGS.CREAT, ALL, 0, 0).close()  # back, as a new entry at the end
    names = [name for _, name in islice(listing, 3)]
    assert names == [b"n00000", b"n00003", b"n00004"]
    assert [name for _, name in d.readdir(10_002)] == [b"n00002"]


def test_readdir_cookies_stay_valid_while_entries_come_and_go():
    m = MemoryDir({f"n{i}": b"" for i in range(5)})
    d = m.preopen("/m", False)
    listing = list(d.readdir(0))
    assert [name for _, name in listing] == [b".", b"..", b"n0", b"n1", b"n2", b"n3", b"n4"]
    cookie = listing[3][0].d_next  # after n1
    d.unlink("n0")
    d.unlink("n3")
    d.open("new", True, OFLAGS.CREAT, ALL, 0, 0).close()
    assert [name for _, name in d.readdir(cookie)] == [b"n2", b"n4", b"new"]


def test_quotas_enospc_after_what_fits_and_edquot():
    m = MemoryDir({"a": b"12345"}, max_bytes=10, max_files=3)
    d = m.preopen("/m", False)
    f = d.open("b", True, OFLAGS.CREAT, ALL, 0, 0)
    assert f.write([memoryview(b"abcdefgh")]) == 5  # what fits
    with pytest.raises(WasiError) as info:
        f.write([memoryview(b"z")])
    assert info.value.errno == Errno.NOSPC
    for grow in (lambda: f.set_size(11), lambda: f.allocate(0, 11), lambda: f.pwrite([memoryview(b"z")], 20)):
        with pytest.raises(WasiError) as info:
            grow()
        assert info.value.errno == Errno.NOSPC
    assert m.tree() == {"a": b"12345", "b": b"abcde"}
    d.mkdir("c")
    with pytest.raises(WasiError) as info:
        d.symlink("a", "e")
    assert info.value.errno == Errno.DQUOT
    # Deleting gives room back (once no descriptor holds the data).
    d.unlink("b")
    with pytest.raises(WasiError) as info:
        f.write([memoryview(b"z")])  # still held: its bytes still count
    assert info.value.errno == Errno.NOSPC
    f.close()
    assert d.open("e", True, OFLAGS.CREAT, ALL, 0, 0).write([memoryview(b"0123456789")]) == 5
    assert m.tree()["e"] == b"01234"


@pytest.mark.parametrize("kind", ["memory", "overlay"])
def test_no_call_asks_the_host_for_more_memory_than_it_has(tmp_path, kind):
    # Without max_bytes the ceiling is half the host's RAM, as a tmpfs's: a
    # hole or an extension past it is ENOSPC at once, nothing allocated.
    (tmp_path / "f").write_bytes(b"x")
    d = (MemoryDir.from_path(tmp_path) if kind == "memory" else Overlay(tmp_path)).preopen("/m", False)
    f = d.open("f", True, 0, ALL, 0, 0)
    huge = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    for grow in (lambda: f.set_size(huge), lambda: f.allocate(huge, 1), lambda: f.pwrite([memoryview(b"y")], huge),
                 lambda: f.set_size(2**62)):
        with pytest.raises(WasiError) as info:
            grow()
        assert info.value.errno == Errno.NOSPC
    f.pwrite([memoryview(b"y")], 3 << 20)  # a hole of a few MiB is fine, filled a MiB at a time
    assert f.filestat().size == (3 << 20) + 1
    f.close()


def test_trees_in_and_out_and_from_a_host_path(tmp_path):
    m = MemoryDir({"text": "é", "bin": b"\0\1", "dir": {"sub": {}}, "link": Symlink("dir/sub")})
    assert m.tree() == {"text": "é".encode(), "bin": b"\0\1", "dir": {"sub": {}}, "link": Symlink("dir/sub")}
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"host")
    os.chmod(tmp_path / "d" / "f", 0o600)
    os.utime(tmp_path / "d" / "f", ns=(1_000_000_000, 2_000_000_000))
    os.symlink("d/f", tmp_path / "l")
    copy = MemoryDir.from_path(tmp_path)
    assert copy.tree() == {"d": {"f": b"host"}, "l": Symlink("d/f")}
    st = copy.preopen("/", False).stat("d/f", False)
    assert (st.atim, st.mtim) == (1_000_000_000, 2_000_000_000)
    (tmp_path / "d" / "f").write_bytes(b"changed")
    assert copy.tree()["d"]["f"] == b"host"  # a copy, not a view


@pytest.mark.parametrize(
    "args, error, message",
    [
        (([],), TypeError, "dict of names"),
        (({1: b""},), TypeError, "are str"),
        (({"a/b": b""},), ValueError, "not a name"),
        (({"..": b""},), ValueError, "not a name"),
        (({"a": 3},), TypeError, "must be bytes or str"),
        (({"a": Symlink("")},), ValueError, "needs a target"),
        (({"a": b"12"}, ), ValueError, "max_bytes=1"),
    ],
)
def test_bad_trees_are_clear_errors(args, error, message):
    with pytest.raises(error, match=message):
        MemoryDir(*args, max_bytes=1)


def test_bad_quotas():
    with pytest.raises(TypeError, match="max_files must be an int"):
        MemoryDir(max_files="3")
    with pytest.raises(ValueError, match="max_bytes must be >= 0"):
        MemoryDir(max_bytes=-1)


def test_read_only_withholds_every_right_that_changes():
    from pywasi.handlers.descriptors.directory import WRITE_RIGHTS

    d = MemoryDir({"f": b""}).preopen("/m", True)
    assert not d.rights_base & WRITE_RIGHTS and not d.rights_inheriting & WRITE_RIGHTS
    assert ReadOnly(MemoryDir()).path is not None


def test_one_memory_dir_shared_by_threads():
    m = MemoryDir()
    errors = []

    def worker(i):
        try:
            d = m.preopen("/m", False)
            d.mkdir(f"t{i}")
            for j in range(200):
                f = d.open(f"t{i}/{j}", True, OFLAGS.CREAT, ALL, 0, 0)
                f.write([memoryview(b"%d" % j)])
                f.close()
                d.rename(f"t{i}/{j}", d, f"t{i}/r{j}")
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    tree = m.tree()
    assert sorted(tree) == ["t0", "t1", "t2", "t3"]
    assert all(tree[t] == {f"r{j}": b"%d" % j for j in range(200)} for t in tree)
