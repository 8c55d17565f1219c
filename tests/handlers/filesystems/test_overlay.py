"""Overlay: a host directory behind a copy-on-write layer. It answers as the
host directory would had the guest changed it (the same oracle as
MemoryDir's, on a copy), reports what changed, and never changes the host:
not a byte, not a timestamp."""

from __future__ import annotations

import gc
import os
import random
import shutil

import pytest

from pywasi import Overlay, Symlink
from pywasi.generated.preview1 import Errno
from pywasi.handlers.bits import FST, OFLAGS, RIGHTS
from pywasi.handlers.preopens import HostDir
from pywasi.runtime.errors import WasiError
from tests.handlers.descriptors.test_memory import make_tree, operations, outcome
from tests.support import compile_c, host_tree, run_captured

ALL = RIGHTS.ALL


@pytest.fixture(autouse=True)
def _let_go_of_host_fds():
    """An error a test caught keeps its frames, and through them an Overlay,
    until a collection: collect here, so that its host fd closes now and not
    in the middle of a later test that counts fds."""
    yield
    gc.collect()


def host_state(root) -> dict:
    """Every path under `root` with its bytes, type, mode, inode and times
    (the root's own included), read without touching an access time."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames, "."]:
            path = os.path.join(dirpath, name)
            content = None
            if os.path.islink(path):
                content = os.readlink(path)  # before lstat: reading a link sets its atime, this once
            elif os.path.isfile(path):
                fd = os.open(path, os.O_RDONLY | os.O_NOATIME)
                content = os.read(fd, 1 << 20)
                os.close(fd)
            st = os.lstat(path)
            out[os.path.relpath(path, root)] = (content, st.st_mode, st.st_ino, st.st_nlink, st.st_size,
                                                st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns)
    return out


@pytest.mark.parametrize("seed", range(int(os.environ.get("PYWASI_FS_SEEDS", "6"))))
def test_the_same_answers_as_the_host_directory_changed(tmp_path, seed):
    make_tree(tmp_path / "changed")
    shutil.copytree(tmp_path / "changed", tmp_path / "base", symlinks=True)
    before = host_state(tmp_path / "base")
    overlay = Overlay(tmp_path / "base")
    host_d = HostDir(tmp_path / "changed").preopen("/h", False)
    over_d = overlay.preopen("/o", False)
    ops = operations(random.Random(seed))
    try:
        for step in range(300):
            label, op = next(ops)
            on_host, overlaid = outcome(lambda: op(host_d)), outcome(lambda: op(over_d))
            assert overlaid == on_host, f"step {step}: {label}"
            assert overlay.tree() == host_tree(tmp_path / "changed"), f"step {step}: {label}"
    finally:
        host_d.close()
    assert host_state(tmp_path / "base") == before


REWRITE_EVERYTHING = r"""
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

/* Rewrite, retime, rename and then delete everything under a directory. */
static void wreck(const char *dir, int top) {
    char names[64][256];
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d)) && n < 64)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) strcpy(names[n++], e->d_name);
    closedir(d);
    for (int i = 0; i < n; i++) {
        char path[600], moved[700];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        snprintf(moved, sizeof moved, "%s.moved", path);
        struct stat st;
        lstat(path, &st);
        if (S_ISDIR(st.st_mode)) {
            wreck(path, 0);
        } else if (S_ISREG(st.st_mode)) {
            int fd = open(path, O_RDWR | O_APPEND);
            write(fd, "appended", 8);
            ftruncate(fd, 3);
            close(fd);
            struct timeval tv[2] = {{1, 0}, {2, 0}};
            utimes(path, tv);
        }
        if (rename(path, moved)) perror("rename");
        if (S_ISDIR(st.st_mode) ? rmdir(moved) : unlink(moved)) perror("remove");
    }
    if (top) {
        FILE *f = fopen("/box/fresh", "w");
        fputs("new", f);
        fclose(f);
    }
}

int main(void) {
    wreck("/box", 1);
    printf("done\n");
    return 0;
}
"""


def test_a_guest_that_rewrites_renames_and_deletes_everything_changes_nothing_on_the_host(tmp_path):
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    for name, content in {"a.txt": b"alpha", "sub/b.bin": bytes(range(256)) * 64, "sub/deeper/c": b"c"}.items():
        (tmp_path / name).write_bytes(content)
    os.link(tmp_path / "a.txt", tmp_path / "sub" / "hard")
    os.symlink("a.txt", tmp_path / "link")
    for i, path in enumerate(sorted(tmp_path.rglob("*"))):
        os.utime(path, ns=(1_000_000_000 * i, 2_000_000_000 * i), follow_symlinks=False)
    before = host_state(tmp_path)
    overlay = Overlay(tmp_path)
    code, out, err = run_captured(compile_c(REWRITE_EVERYTHING), preopens={"/box": overlay})
    assert (code, out, err) == (0, b"done\n", b"")
    assert overlay.tree() == {"fresh": b"new"}
    assert host_state(tmp_path) == before
    assert overlay.changes() == {"a.txt": "deleted", "fresh": "created", "link": "deleted", "sub": "deleted"}


def test_changes_name_what_was_created_modified_and_deleted(tmp_path):
    (tmp_path / "d").mkdir()
    for name in ("keep", "edit", "gone", "old", "times", "d/inner"):
        (tmp_path / name).write_bytes(name.encode())
    overlay = Overlay(tmp_path)
    d = overlay.preopen("/o", False)
    f = d.open("edit", 1, 0, ALL, 0, 0)
    f.write([memoryview(b"EDIT")])
    f.close()
    d.unlink("gone")
    d.rename("old", d, "new")
    d.set_times_at("times", 0, 5, 6, FST.ATIM | FST.MTIM)
    d.open("made", 1, OFLAGS.CREAT, ALL, 0, 0).close()
    d.mkdir("newdir")
    d.symlink("keep", "ln")
    buf = bytearray(4)
    g = d.open("keep", 1, 0, ALL, 0, 0)
    assert g.read([memoryview(buf)]) == 4 and buf == b"keep"  # reading changes nothing
    g.close()
    assert overlay.changes() == {
        "edit": "modified", "gone": "deleted", "old": "deleted", "new": "created", "times": "modified",
        "made": "created", "newdir": "created", "ln": "created",
    }
    assert overlay.tree() == {"d": {"inner": b"d/inner"}, "edit": b"EDIT", "keep": b"keep", "made": b"",
                              "new": b"old", "newdir": {}, "ln": Symlink("keep"), "times": b"times"}
    assert sorted(os.listdir(tmp_path)) == ["d", "edit", "gone", "keep", "old", "times"]


def test_max_bytes_counts_what_is_copied_and_written(tmp_path):
    (tmp_path / "big").write_bytes(b"x" * 100)
    overlay = Overlay(tmp_path, max_bytes=50)
    d = overlay.preopen("/o", False)
    buf = bytearray(100)
    f = d.open("big", 1, 0, ALL, 0, 0)
    assert f.read([memoryview(buf)]) == 100  # reading copies nothing
    with pytest.raises(WasiError) as info:
        f.pwrite([memoryview(b"y")], 0)  # copying it up would take 100 bytes
    assert info.value.errno == Errno.NOSPC
    f.close()
    g = d.open("small", 1, OFLAGS.CREAT, ALL, 0, 0)
    assert g.write([memoryview(b"z" * 80)]) == 50
    g.close()


def test_the_host_directory_is_let_go_with_the_last_descriptor(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"f")
    before = set(os.listdir("/proc/self/fd"))
    overlay = Overlay(tmp_path)
    d = overlay.preopen("/o", False)
    f = d.open("d/f", 1, 0, ALL, 0, 0)
    f.read([memoryview(bytearray(1))])  # from the host, through an fd of its own
    assert overlay.tree() == {"d": {"f": b"f"}}
    del overlay, d
    assert set(os.listdir("/proc/self/fd")) != before  # the open file still holds the tree
    f.close()
    del f
    assert set(os.listdir("/proc/self/fd")) == before  # no collection needed: nothing cycles through it
