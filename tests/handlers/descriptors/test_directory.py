"""Directory descriptors on real directories: path_open's rights and flags,
fd_readdir's listing and cookies, and the path operations."""

from __future__ import annotations

import os
import shutil
import tracemalloc
from itertools import islice

import pytest

from pywasi.generated.preview1 import Errno, Filetype
from pywasi.handlers.bits import FDFLAGS, FST, LOOKUP, OFLAGS, RIGHTS
from pywasi.handlers.descriptors.directory import DIRECTORY_RIGHTS, WRITE_RIGHTS, Directory, HostDirectory
from pywasi.handlers.descriptors.file import FILE_RIGHTS, File
from pywasi.runtime.errors import WasiError, errno_of
from tests.support import wasi_errno

FOLLOW = LOOKUP.SYMLINK_FOLLOW
READ = RIGHTS.FD_READ | RIGHTS.FD_SEEK | RIGHTS.FD_TELL | RIGHTS.FD_FILESTAT_GET
WRITE = RIGHTS.FD_WRITE | RIGHTS.FD_FILESTAT_SET_SIZE


@pytest.fixture
def root(tmp_path, strategy):
    (tmp_path / "f").write_bytes(b"content")
    (tmp_path / "d").mkdir()
    os.symlink("f", tmp_path / "link")
    d = HostDirectory(os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)).preopened("/root")
    yield d
    d.close()



def test_open_grants_what_was_asked_and_the_directory_passes_on(root):
    f = root.open("f", FOLLOW, 0, READ | RIGHTS.PATH_OPEN, RIGHTS.FD_READ, 0)
    assert isinstance(f, File) and f.filetype == Filetype.REGULAR_FILE
    assert f.rights_base == READ  # PATH_OPEN means nothing to a file
    assert f.rights_inheriting == RIGHTS.FD_READ
    assert os.read(f.fd, 100) == b"content"
    with pytest.raises(OSError):
        os.write(f.fd, b"x")  # opened read-only on the host too
    f.close()
    narrow = HostDirectory(os.dup(root.fd), DIRECTORY_RIGHTS, RIGHTS.FD_READ)
    f = narrow.open("f", FOLLOW, 0, READ | WRITE, READ, 0)
    assert (f.rights_base, f.rights_inheriting) == (RIGHTS.FD_READ, RIGHTS.FD_READ)
    f.close()
    narrow.close()


def test_open_a_directory(root):
    d = root.open("d", FOLLOW, OFLAGS.DIRECTORY, RIGHTS.ALL & ~RIGHTS.FD_WRITE, RIGHTS.ALL, 0)
    assert isinstance(d, Directory) and d.rights_base == DIRECTORY_RIGHTS and d.rights_inheriting == RIGHTS.ALL
    d.close()
    d = root.open(".", 0, 0, RIGHTS.FD_READDIR, 0, 0)  # a directory without asking for one
    assert isinstance(d, Directory) and d.rights_base == RIGHTS.FD_READDIR
    d.close()
    assert wasi_errno(lambda: root.open("f", FOLLOW, OFLAGS.DIRECTORY, READ, 0, 0)) == Errno.NOTDIR
    assert wasi_errno(lambda: root.open("new", FOLLOW, OFLAGS.DIRECTORY | OFLAGS.CREAT, READ, 0, 0)) == Errno.INVAL
    assert wasi_errno(lambda: root.open("d", FOLLOW, 0, READ | WRITE, 0, 0)) == Errno.ISDIR
    assert not os.path.exists(os.path.join(f"/proc/self/fd/{root.fd}", "new"))


@pytest.mark.parametrize("rights", [RIGHTS.FD_WRITE, RIGHTS.ALL, RIGHTS.FD_READ | RIGHTS.FD_WRITE])
def test_open_directory_to_write_is_eisdir(root, rights):
    # The WASI test suite's path_open_preopen: O_DIRECTORY with FD_WRITE asked.
    # As open(2) with O_WRONLY: a file is ENOTDIR, nothing ENOENT.
    for path in ("d", ".", "d/"):
        assert wasi_errno(lambda: root.open(path, FOLLOW, OFLAGS.DIRECTORY, rights, 0, 0)) == Errno.ISDIR
    assert wasi_errno(lambda: root.open("f", FOLLOW, OFLAGS.DIRECTORY, rights, 0, 0)) == Errno.NOTDIR
    assert wasi_errno(lambda: root.open("missing", FOLLOW, OFLAGS.DIRECTORY, rights, 0, 0)) == Errno.NOENT
    # Under a read-only preopen, asking for writing gets reading, as for a file.
    read_only = HostDirectory(os.dup(root.fd)).preopened("/ro", read_only=True)
    d = read_only.open(".", FOLLOW, OFLAGS.DIRECTORY, rights, 0, 0)
    assert not d.rights_base & RIGHTS.FD_WRITE
    d.close()
    read_only.close()


def test_open_creat_excl_trunc_append(root):
    f = root.open("new", FOLLOW, OFLAGS.CREAT | OFLAGS.EXCL, READ | WRITE, 0, FDFLAGS.APPEND)
    assert f.flags == FDFLAGS.APPEND
    f.write([memoryview(b"one")])
    f.seek(0, 0)
    f.write([memoryview(b"two")])
    f.close()
    assert root.stat("new", False).size == 6
    assert wasi_errno(lambda: root.open("new", FOLLOW, OFLAGS.CREAT | OFLAGS.EXCL, WRITE, 0, 0)) == Errno.EXIST
    f = root.open("new", FOLLOW, OFLAGS.TRUNC, WRITE, 0, 0)
    f.close()
    assert root.stat("new", False).size == 0
    assert wasi_errno(lambda: root.open("missing", FOLLOW, 0, READ, 0, 0)) == Errno.NOENT


def test_open_nofollow(root):
    assert wasi_errno(lambda: root.open("link", 0, 0, READ, 0, 0)) == Errno.LOOP
    f = root.open("link", FOLLOW, 0, READ, 0, 0)
    assert os.read(f.fd, 100) == b"content"
    f.close()


def names(entries) -> list[bytes]:
    return [name for _, name in entries]


def test_readdir_lists_dot_dotdot_and_resumes_at_cookies(root, tmp_path, lister):
    for i in range(5):
        (tmp_path / "d" / f"e{i}").write_bytes(b"x" * i)
    d = root.open("d", FOLLOW, OFLAGS.DIRECTORY, RIGHTS.FD_READDIR, 0, 0)
    entries = list(d.readdir(0))
    assert names(entries)[:2] == [b".", b".."]
    assert sorted(names(entries)[2:]) == [b"e0", b"e1", b"e2", b"e3", b"e4"]
    assert [dirent.d_next for dirent, _ in entries] == [1, 2, 3, 4, 5, 6, 7]  # small: telldir's long is 32-bit
    dot, dotdot = entries[0][0], entries[1][0]
    assert (dot.d_ino, dot.d_type, dotdot.d_ino, dotdot.d_type) == (
        os.stat(tmp_path / "d").st_ino, Filetype.DIRECTORY, os.stat(tmp_path).st_ino, Filetype.DIRECTORY)
    for dirent, name in entries[2:]:
        assert (dirent.d_ino, dirent.d_namlen, dirent.d_type) == (
            os.stat(tmp_path / "d" / name.decode()).st_ino, 2, Filetype.REGULAR_FILE)
    for cookie in range(8):
        assert list(d.readdir(cookie)) == entries[cookie:]
    assert list(d.readdir(2**64 - 1)) == []
    # Reading on from where a listing stopped resumes at the host's position,
    # as a DIR stream does: an entry removed before it shifts nothing.
    assert names(islice(d.readdir(0), 5)) == names(entries)[:5]
    os.unlink(tmp_path / "d" / names(entries)[3].decode())
    expected = names(entries)[5:] if lister == "getdents" else names(entries)[6:]
    assert names(d.readdir(5)) == expected
    d.close()


def test_dotdot_at_a_capability_root_is_the_directory_itself(root, tmp_path, lister):
    # POSIX's `/..`; never inode 0 (older wasi-libc readdir stats such an entry).
    (dot, _), (dotdot, name) = list(root.readdir(0))[:2]
    assert name == b".." and dotdot.d_ino == dot.d_ino == os.stat(tmp_path).st_ino
    again = root.open(".", FOLLOW, OFLAGS.DIRECTORY, RIGHTS.FD_READDIR, 0, 0)
    assert list(again.readdir(1))[0][0].d_ino == os.stat(tmp_path).st_ino
    again.close()


def test_readdir_keeps_nothing_per_descriptor(root, tmp_path, lister):
    """A listing is streamed: many descriptors, each read one entry into a
    large directory, hold no host memory for it (there used to be a whole
    listing kept per descriptor)."""
    big = tmp_path / "big"
    big.mkdir()
    for i in range(3000):
        (big / f"entry-with-a-longish-name-{i:05d}").touch()
    opened = [root.open("big", FOLLOW, OFLAGS.DIRECTORY, RIGHTS.FD_READDIR, 0, 0) for _ in range(40)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for d in opened:
            for cookie in (0, 2):
                next(iter(d.readdir(cookie)))
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 200_000, kept  # a whole listing is about 500 kB, per descriptor
    for d in opened:
        d.close()


def test_readdir_types(root, tmp_path, lister):
    entries = {name: dirent.d_type for dirent, name in root.readdir(0)}
    assert entries == {b".": Filetype.DIRECTORY, b"..": Filetype.DIRECTORY, b"f": Filetype.REGULAR_FILE,
                       b"d": Filetype.DIRECTORY, b"link": Filetype.SYMBOLIC_LINK}


def test_path_operations(root, tmp_path):
    root.mkdir("d/sub")
    assert (tmp_path / "d" / "sub").is_dir()
    assert wasi_errno(lambda: root.mkdir("d/sub")) == Errno.EXIST
    assert root.stat("link", False).filetype == Filetype.SYMBOLIC_LINK
    assert root.stat("link", True).filetype == Filetype.REGULAR_FILE
    assert root.stat("link", True).size == 7
    root.symlink("../f", "d/up")
    buf = bytearray(10)
    assert root.readlink("d/up", memoryview(buf)) == 4 and buf[:4] == b"../f"
    assert root.readlink("d/up", memoryview(buf)[:2]) == 2 and buf[:2] == b".."  # cut to the buffer
    assert wasi_errno(lambda: root.readlink("f", memoryview(buf))) == Errno.INVAL
    root.link(False, "f", root, "d/hard")
    assert os.stat(tmp_path / "d" / "hard").st_ino == os.stat(tmp_path / "f").st_ino
    root.link(False, "link", root, "link2")  # the symlink itself
    assert os.readlink(tmp_path / "link2") == "f"
    root.link(True, "link", root, "link3")  # what it points to
    assert os.stat(tmp_path / "link3", follow_symlinks=False).st_ino == os.stat(tmp_path / "f").st_ino
    root.rename("d/hard", root, "moved")
    assert (tmp_path / "moved").read_bytes() == b"content" and not (tmp_path / "d" / "hard").exists()
    root.unlink("moved")
    assert not (tmp_path / "moved").exists()
    assert wasi_errno(lambda: root.unlink("d")) == Errno.ISDIR
    assert wasi_errno(lambda: root.unlink("f/")) == Errno.NOTDIR
    assert wasi_errno(lambda: root.rmdir("d")) == Errno.NOTEMPTY
    root.rmdir("d/sub/")
    assert not (tmp_path / "d" / "sub").exists()
    assert wasi_errno(lambda: root.rmdir("f")) == Errno.NOTDIR


def test_set_times_at_follows_only_when_asked(root, tmp_path):
    root.set_times_at("f", False, 1_000_000_000, 2_000_000_000, FST.ATIM | FST.MTIM)
    assert os.stat(tmp_path / "f").st_mtime_ns == 2_000_000_000
    root.set_times_at("link", False, 0, 3_000_000_000, FST.MTIM)
    assert os.stat(tmp_path / "link", follow_symlinks=False).st_mtime_ns == 3_000_000_000
    assert os.stat(tmp_path / "f").st_mtime_ns == 2_000_000_000
    root.set_times_at("link", True, 0, 4_000_000_000, FST.MTIM)
    assert os.stat(tmp_path / "f").st_mtime_ns == 4_000_000_000
    assert os.stat(tmp_path / "f").st_atime_ns == 1_000_000_000
    assert wasi_errno(lambda: root.set_times_at("f", False, 0, 0, FST.MTIM | FST.MTIM_NOW)) == Errno.INVAL


def test_symlink_targets(root, tmp_path):
    assert wasi_errno(lambda: root.symlink("/etc/passwd", "abs")) == Errno.NOTCAPABLE
    assert wasi_errno(lambda: root.symlink("a\0b", "nul")) == Errno.INVAL
    assert not (tmp_path / "abs").exists() and not (tmp_path / "nul").exists()
    root.symlink("../../anything", "rel")  # only a string until followed
    assert os.readlink(tmp_path / "rel") == "../../anything"


def test_rename_and_link_need_a_directory_as_target(root, tmp_path):
    f = root.open("f", FOLLOW, 0, RIGHTS.ALL, RIGHTS.ALL, 0)
    assert wasi_errno(lambda: root.rename("f", f, "g")) == Errno.NOTDIR
    assert wasi_errno(lambda: root.link(False, "f", f, "g")) == Errno.NOTDIR
    assert wasi_errno(lambda: f.mkdir("x")) == Errno.NOTDIR
    assert wasi_errno(lambda: f.readdir(0)) == Errno.NOTDIR
    f.close()


def test_calls_that_name_a_path_answer_as_the_kernel_does(tmp_path, strategy):
    """mkdir, rmdir, unlink, rename, link and symlink on names with and
    without a trailing slash, over files, directories and symlinks: the
    errno and the tree the kernel gives for the same call on a twin tree (a
    file renamed or linked to `new/` is refused; rmdir of `to_d/` removes
    nothing)."""

    def tree(path):
        path.mkdir()
        for name in ("f", "g"):
            (path / name).write_bytes(name.encode())
        (path / "d" / "sub").mkdir(parents=True)
        (path / "e").mkdir()
        os.symlink("d", path / "to_d")
        os.symlink("e", path / "to_e")
        os.symlink("f", path / "to_f")
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY)

    def outcome(path, call):
        try:
            call()
            answer = "ok"
        except WasiError as e:
            answer = Errno(e.errno).name
        except OSError as e:
            answer = Errno(errno_of(e)).name
        return answer, sorted((str(p.relative_to(path)), p.is_symlink(), p.is_dir()) for p in path.rglob("*"))

    names = [n + slash for n in ("f", "d", "e", "to_d", "to_e", "to_f", "new") for slash in ("", "/")]
    ours = {
        "mkdir": lambda d, a, b: d.mkdir(a), "rmdir": lambda d, a, b: d.rmdir(a),
        "unlink": lambda d, a, b: d.unlink(a), "rename": lambda d, a, b: d.rename(a, d, b),
        "link": lambda d, a, b: d.link(False, a, d, b), "symlink": lambda d, a, b: d.symlink(a, b),
    }
    kernel = {
        "mkdir": lambda t, a, b: os.mkdir(a, dir_fd=t), "rmdir": lambda t, a, b: os.rmdir(a, dir_fd=t),
        "unlink": lambda t, a, b: os.unlink(a, dir_fd=t),
        "rename": lambda t, a, b: os.rename(a, b, src_dir_fd=t, dst_dir_fd=t),
        "link": lambda t, a, b: os.link(a, b, src_dir_fd=t, dst_dir_fd=t, follow_symlinks=False),
        "symlink": lambda t, a, b: os.symlink(a, b, dir_fd=t),
    }
    differ = {}
    for op in ours:
        for a in names:
            for b in names if op in ("rename", "link", "symlink") else [None]:
                box, twin = tmp_path / "box", tmp_path / "twin"
                d = HostDirectory(tree(box)).preopened("/box")
                got = outcome(box, lambda: ours[op](d, a, b))
                d.close()
                t = tree(twin)
                expected = outcome(twin, lambda: kernel[op](t, a, b))
                os.close(t)
                shutil.rmtree(box), shutil.rmtree(twin)
                if got != expected:
                    differ[op, a, b] = got[0], expected[0]
    assert differ == {}


def test_read_only_preopen_withholds_every_writing_right(tmp_path):
    ro = HostDirectory(os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)).preopened("/ro", read_only=True)
    assert ro.rights_base == DIRECTORY_RIGHTS & ~WRITE_RIGHTS
    assert ro.rights_inheriting & WRITE_RIGHTS == 0
    assert ro.rights_base & RIGHTS.PATH_OPEN and ro.rights_base & RIGHTS.FD_READDIR
    (tmp_path / "f").write_bytes(b"data")
    f = ro.open("f", FOLLOW, 0, READ | WRITE, READ | WRITE, 0)
    assert f.rights_base == READ  # asked for writing, got reading
    with pytest.raises(OSError):
        os.write(f.fd, b"x")
    f.close()
    sub = ro.open(".", FOLLOW, OFLAGS.DIRECTORY, RIGHTS.ALL, RIGHTS.ALL, 0)
    assert sub.rights_base & WRITE_RIGHTS == 0 and sub.rights_inheriting & WRITE_RIGHTS == 0
    sub.close()
    ro.close()
    assert FILE_RIGHTS & ~WRITE_RIGHTS & RIGHTS.FD_WRITE == 0


@pytest.mark.parametrize("call", [
    lambda d, p: d.open(p, FOLLOW, 0, READ, 0, 0),
    lambda d, p: d.open(p, FOLLOW, OFLAGS.CREAT, READ | WRITE, 0, 0),
    lambda d, p: d.stat(p, True),
    lambda d, p: d.mkdir(p),
    lambda d, p: d.unlink(p),
    lambda d, p: d.rename("f", d, p),
], ids=["open", "create", "stat", "mkdir", "unlink", "rename"])
def test_a_path_of_path_max_bytes_is_nametoolong_before_any_work(root, call):
    # As the kernel answers (PATH_MAX counts the NUL), under both strategies;
    # one byte less is an ordinary missing path.
    assert wasi_errno(lambda: call(root, "a/" * 2048)) == Errno.NAMETOOLONG
    assert wasi_errno(lambda: call(root, "é" * 2048)) == Errno.NAMETOOLONG  # 4096 bytes, 2048 characters
    assert wasi_errno(lambda: call(root, "a/" * 2047 + "b")) in (Errno.NOENT, Errno.NOTDIR)
    # A path of 8 MiB costs the host nothing beyond the string it is given
    # (the walk used to split it into millions of components).
    huge = "a/" * (4 << 20)
    tracemalloc.start()
    try:
        assert wasi_errno(lambda: call(root, huge)) == Errno.NAMETOOLONG
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, peak
    assert sorted(os.listdir(f"/proc/self/fd/{root.fd}")) == ["d", "f", "link"]
