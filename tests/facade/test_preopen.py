"""Preopens in the WASI options: host paths, MemoryDir, Overlay and ReadOnly
of any of them, checked like any option; a read-only one is seen by the
guest as a directory without the rights that write."""

from __future__ import annotations

import pytest

from pywasi import WASI, InvalidArgType, MemoryDir, Overlay, ReadOnly
from pywasi.handlers.bits import RIGHTS
from pywasi.handlers.descriptors.directory import WRITE_RIGHTS


def test_read_only_and_writable_preopens_side_by_side(tmp_path):
    (tmp_path / "ro").mkdir()
    with WASI(preopens={"/rw": tmp_path, "/ro": ReadOnly(tmp_path / "ro"), "/b": ReadOnly(bytes(tmp_path))}) as w:
        rw, ro, b = (w._host.fd_fdstat_get(fd) for fd in (3, 4, 5))
        assert rw.fs_rights_base & WRITE_RIGHTS and rw.fs_rights_inheriting & RIGHTS.FD_WRITE
        for stat in (ro, b):
            assert stat.fs_rights_base & WRITE_RIGHTS == 0 and stat.fs_rights_inheriting & WRITE_RIGHTS == 0
            assert stat.fs_rights_base & RIGHTS.PATH_OPEN and stat.fs_rights_inheriting & RIGHTS.FD_READ


def test_read_only_paths_are_checked_like_any_preopen(tmp_path):
    (tmp_path / "file").write_text("x")
    for bad in (ReadOnly(5), 5, {"a": b""}):
        with pytest.raises(InvalidArgType, match=r"preopens\['/x'\] must be a host path .*, a MemoryDir, an Overlay"):
            WASI(preopens={"/x": bad})
    with pytest.raises(FileNotFoundError):
        WASI(preopens={"/x": ReadOnly(tmp_path / "missing")})
    with pytest.raises(NotADirectoryError):
        WASI(preopens={"/x": ReadOnly(str(tmp_path / "file"))})


def test_read_only_is_a_value():
    assert ReadOnly("/a") == ReadOnly("/a") and ReadOnly("/a") != ReadOnly("/b")
    with pytest.raises(AttributeError):
        ReadOnly("/a").path = "/b"


def test_memory_dirs_and_overlays_are_preopens_like_host_directories(tmp_path):
    shared = MemoryDir({"f": b"x"})
    preopens = {"/m": shared, "/ro": ReadOnly(shared), "/o": Overlay(tmp_path), "/oro": ReadOnly(Overlay(tmp_path))}
    with WASI(preopens=preopens) as w:
        stats = [w._host.fd_fdstat_get(fd) for fd in (3, 4, 5, 6)]
        names = [w._host.fd_prestat_get(fd).value.pr_name_len for fd in (3, 4, 5, 6)]
    assert names == [2, 3, 2, 4]
    for writable, stat in zip((True, False, True, False), stats):
        assert bool(stat.fs_rights_base & WRITE_RIGHTS) == writable
        assert bool(stat.fs_rights_inheriting & RIGHTS.FD_WRITE) == writable

