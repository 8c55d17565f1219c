"""C programs compiled with wasi-libc use files and directories through the
libc a real program uses; exact outputs, under both sandbox strategies, and
(for the programs whose structs both ABIs share) under wasi_unstable too."""

from __future__ import annotations

import os

import pytest

from pywasi.handlers.descriptors.directory import HostDirectory
from tests.support import C_SOURCES, compile_c, pywasi_cli, rename_import_module, run_captured

EXPECTED = {
    "fs_stdio.c": """\
ftell after writes: 23
fread 4 at 6: line
fread from end-5: line
ftell after SEEK_CUR -3: 20
ftruncate to 5: ok
size after ftruncate: 5
content: [first]
ftruncate to 8: ok
grown to 8, tail zero: 1
appended: abcd
pwrite: 2
pread: aXYd, position still 0
big fwrite: 200000
big fread: 200000, same: 1
open O_CREAT|O_EXCL existing: EEXIST
open O_DIRECTORY on a file: ENOTDIR
open a missing file: ENOENT
fopen w on a directory: EISDIR
write to a read-only fd: EBADF
close it twice: EBADF
""",
    "fs_dirs.c": """\
mkdir many: ok
mkdir many again: EEXIST
mkdir many/sub: ok
mkdir in a missing dir: ENOENT
entries: 303 (files 300, directories 3)
first two: . ..
every file listed once: 1, last: sub
seekdir back to the same entry: 1
after rewinddir: .
rmdir a full directory: ENOTEMPTY
rmdir a file: ENOTDIR
rmdir many/sub/: ok
rmdir many: ok
opendir a removed dir: ENOENT
""",
    "fs_meta.c": """\
stat file: size=10 type=file nlink=1
lstat link: size=5 type=link nlink=1
stat link: size=10 type=file nlink=1
fstat: size=10 type=file nlink=1
stat /box: type=dir
nlink after link: 2
stat missing: ENOENT
stat file/: ENOTDIR
utimensat: ok
atime 1000.000000005 mtime 2000.000000007
utimensat UTIME_OMIT atime: ok
atime 1000 mtime 3000
futimens UTIME_NOW atime: ok
atime is now: 1, mtime 3000
utimensat a link, nofollow: ok
link mtime 5000, file mtime 3000
utimensat a link, following: ok
file mtime 5000
utimensat bad nanoseconds: EINVAL
futimens on a closed fd: EBADF
access F_OK: ok
access R_OK|W_OK: ok
access missing: ENOENT
""",
    "fs_links.c": """\
link orig hard: ok
link onto an existing name: EEXIST
unlink orig: ok
read /box/hard: payload
rename hard renamed: ok
read /box/hard: ENOENT
read /box/renamed: payload
rename other over renamed: ok
read /box/renamed: other
rename into a missing dir: ENOENT
rename d1 d2: ok
read /box/d2/inner: inner
rename a dir over a file: ENOTDIR
symlink renamed sl: ok
symlink onto an existing name: EEXIST
readlink: 7 renamed
readlink into 3 bytes: 3 ren
readlink a file: EINVAL
read /box/sl: other
symlink into d2: ok
read /box/d2/up: other
unlink sl: ok
read /box/renamed: other
unlink a dir: EISDIR
unlink missing: ENOENT
rmdir d2 (full): ENOTEMPTY
unlink d2/up: ok
unlink d2/inner: ok
rmdir d2: ok
""",
}

# What each program leaves in the sandbox.
LEFT = {
    "fs_stdio.c": {"big.bin": None, "log.txt": b"aXYd", "notes.txt": b"first\0\0\0"},
    "fs_dirs.c": {},
    "fs_meta.c": {"m.hard": b"0123456789", "m.link": None, "m.txt": b"0123456789"},
    "fs_links.c": {"renamed": b"other"},
}
# Programs that read no filestat and never seek: their bytes mean the same
# under wasi_unstable, whose filestat and whence differ from preview1's.
SHARED_ABI = ["fs_dirs.c", "fs_links.c"]


def fs_program(name: str):
    return compile_c((C_SOURCES / "fs_common.h").read_text() + (C_SOURCES / name).read_text())


def assert_left(tree: dict, expected: dict) -> None:
    """The sandbox holds these names, with this content where it is not None."""
    assert sorted(tree) == sorted(expected)
    for name, content in expected.items():
        if content is not None:
            assert tree[name] == content, name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_c_program(tmp_path, filesystem, name):
    code, out, err = run_captured(fs_program(name), args=[name], preopens={"/box": filesystem.preopen(tmp_path)})
    assert (code, err) == (0, b"")
    assert out.decode() == EXPECTED[name]
    assert_left(filesystem.tree(), LEFT[name])


@pytest.mark.parametrize("name", SHARED_ABI)
def test_the_same_programs_under_wasi_unstable(tmp_path, filesystem, name):
    unstable = rename_import_module(fs_program(name).read_bytes(), "wasi_snapshot_preview1", "wasi_unstable")
    code, out, err = run_captured(unstable, args=[name], preopens={"/box": filesystem.preopen(tmp_path)})
    assert (code, out.decode(), err) == (0, EXPECTED[name], b"")


def test_readdir_takes_several_calls(tmp_path, monkeypatch):
    # wasi-libc reads entries 4 KiB at a time; 300 entries of 24 + 29 bytes
    # need at least four fd_readdir calls, each resuming at a cookie.
    calls = []
    original = HostDirectory.readdir

    def counting(self, cookie):
        calls.append(cookie)
        return original(self, cookie)

    monkeypatch.setattr(HostDirectory, "readdir", counting)
    code, out, _ = run_captured(fs_program("fs_dirs.c"), args=["x"], preopens={"/box": tmp_path})
    assert (code, out.decode()) == (0, EXPECTED["fs_dirs.c"])
    first_pass = calls[: calls.index(0, 1)]
    assert len(first_pass) >= 4 and first_pass == sorted(first_pass)


def probe(*args: str) -> list[str]:
    return ["probe", *args]


def test_read_only_preopen_in_the_api(tmp_path, filesystem):
    (tmp_path / "f").write_bytes(b"inside\n")
    (tmp_path / "d").mkdir()
    calls = probe("open", "f", "creat", "f", "creat", "new", "mkdir", "x", "rmdir", "d", "unlink", "f",
                  "rename", "f", "g", "link", "f", "g", "symlink", "f", "g", "utimes", "f", "stat", "f",
                  "opendir", "d")
    ro = filesystem.preopen(tmp_path, read_only=True)
    code, out, _ = run_captured(compile_c("fs_probe.c"), args=calls, preopens={"/box": ro})
    assert code == 0
    assert out.decode().splitlines() == [
        "open f -> 0 inside", "creat f -> 76", "creat new -> 76", "mkdir x -> 76", "rmdir d -> 76",
        "unlink f -> 76", "rename f g -> 76", "link f g -> 76", "symlink f g -> 76", "utimes f -> 76",
        "stat f -> 0", "opendir d -> 0 51 bytes",
    ]
    assert_left(filesystem.tree(), {"d": None, "f": b"inside\n"})


def test_read_only_preopen_on_the_command_line(tmp_path):
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / "f").write_bytes(b"read me\n")
    (tmp_path / "rw").mkdir()
    wasm = str(compile_c("fs_probe.c"))
    out = pywasi_cli("run", "--dir", f"{tmp_path / 'ro'}::/data:ro", wasm, "open", "f", "creat", "f", "unlink", "f")
    assert out.stdout.decode().splitlines() == ["open f -> 0 read me", "creat f -> 76", "unlink f -> 76"]
    out = pywasi_cli("run", "--dir", f"{tmp_path / 'rw'}::/data", wasm, "creat", "f")
    assert out.stdout.decode().splitlines() == ["creat f -> 0"]
    assert (tmp_path / "rw" / "f").read_bytes() == b"WRITTEN"
    assert (tmp_path / "ro" / "f").read_bytes() == b"read me\n"
    out = pywasi_cli("run", "--dir", f"{tmp_path / 'ro'}:::ro", wasm)
    message = f"pywasi run: --dir '{tmp_path / 'ro'}:::ro': expected HOST, HOST::GUEST or HOST::GUEST:ro\n"
    assert (out.returncode, out.stderr.decode()) == (2, message)


SCRATCH_PROGRAM = """
#include <stdio.h>
int main(void) {
    FILE *f = fopen("/scratch/x", "w");
    if (!f) { perror("fopen"); return 1; }
    fputs("in memory", f);
    fclose(f);
    char buf[16] = {0};
    f = fopen("/scratch/x", "r");
    fread(buf, 1, sizeof buf - 1, f);
    printf("read back: %s\\n", buf);
    return 0;
}
"""


def test_mount_memory_on_the_command_line(tmp_path):
    wasm = str(compile_c(SCRATCH_PROGRAM))
    out = pywasi_cli("run", "--mount-memory", "/scratch", wasm, cwd=tmp_path)
    assert (out.returncode, out.stdout, out.stderr) == (0, b"read back: in memory\n", b"")
    assert os.listdir(tmp_path) == []
    out = pywasi_cli("run", "--mount-memory", "", wasm)
    assert (out.returncode, out.stderr) == (2, b"pywasi run: --mount-memory '': expected GUEST, the guest's path\n")
    out = pywasi_cli("run", "--dir", f"{tmp_path}::/scratch", "--mount-memory", "/scratch", wasm)
    assert (out.returncode, out.stderr) == (2, b"pywasi run: --mount-memory '/scratch': '/scratch' is already preopened\n")


# What older wasi-libc's readdir does (and Yosys, built with it, relies on):
# list with fd_readdir, and for an entry whose inode is 0 ask fstatat for it.
OLD_READDIR = r"""
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <wasi/api.h>

int main(void) {
    static char buf[4096];
    __wasi_size_t used;
    if (__wasi_fd_readdir(3, (uint8_t *)buf, sizeof buf, 0, &used) != 0) return 1;
    for (size_t at = 0; at + sizeof(__wasi_dirent_t) <= used;) {
        __wasi_dirent_t e;
        memcpy(&e, buf + at, sizeof e);
        char name[256] = {0};
        memcpy(name, buf + at + sizeof e, e.d_namlen);
        at += sizeof e + e.d_namlen;
        unsigned long long ino = e.d_ino;
        if (ino == 0) {
            struct stat st;
            if (fstatat(3, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
                perror(name);
                return 2;
            }
            ino = st.st_ino;
        }
        printf("%s %d\n", name, ino == 0);
    }
    return 0;
}
"""


def test_older_wasi_libc_readdir_at_a_capability_root(tmp_path, strategy):
    (tmp_path / "f").touch()
    code, out, err = run_captured(compile_c(OLD_READDIR), args=["x"], preopens={"/box": tmp_path})
    assert (code, err) == (0, b"")
    assert sorted(out.decode().splitlines()) == [". 0", ".. 0", "f 0"]


def test_overlay_on_the_command_line(tmp_path):
    (tmp_path / "scratch").mkdir()
    (tmp_path / "scratch" / "x").write_bytes(b"on the host")
    wasm = str(compile_c(SCRATCH_PROGRAM))
    out = pywasi_cli("run", "--overlay", f"{tmp_path / 'scratch'}::/scratch", wasm)
    assert (out.returncode, out.stdout, out.stderr) == (0, b"read back: in memory\n", b"")
    assert (tmp_path / "scratch" / "x").read_bytes() == b"on the host"
    for spec, message in [
        (f"{tmp_path}", f"--overlay '{tmp_path}': expected HOST::GUEST"),
        (f"{tmp_path}::", f"--overlay '{tmp_path}::': expected HOST::GUEST"),
    ]:
        out = pywasi_cli("run", "--overlay", spec, wasm)
        assert (out.returncode, out.stderr.decode()) == (2, f"pywasi run: {message}\n")
    out = pywasi_cli("run", "--overlay", f"{tmp_path / 'missing'}::/scratch", wasm)
    assert (out.returncode, out.stderr.decode()) == (2, f"pywasi: {tmp_path / 'missing'}: No such file or directory\n")
