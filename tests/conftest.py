"""Shared fixtures."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from pywasi.handlers.filesystems import host as sandbox, listing
from tests.support import UPSTREAM_WITX, Filesystem


@pytest.fixture(scope="session")
def upstream_witx() -> Path:
    if not UPSTREAM_WITX.is_dir():
        pytest.skip("the upstream witx files (../shared/witx) are not beside the checkout")
    return UPSTREAM_WITX


@pytest.fixture(params=["openat2", "walk"])
def strategy(request):
    """Run the test under each way the sandbox resolves paths."""
    if request.param == "openat2" and not sandbox.OPENAT2_WORKS:
        pytest.skip("this kernel (or its seccomp filter) has no openat2")
    previous = sandbox.select(request.param)
    yield request.param
    sandbox.select(previous)


FILESYSTEMS = ["openat2", "walk", "memory", "overlay"]


@pytest.fixture(params=FILESYSTEMS)
def filesystem(request):
    """Run the test on each kind of preopen: a host directory under each
    resolver strategy, a MemoryDir and an Overlay (tests.support.Filesystem)."""
    kind = request.param
    if kind in ("openat2", "walk"):
        if kind == "openat2" and not sandbox.OPENAT2_WORKS:
            pytest.skip("this kernel (or its seccomp filter) has no openat2")
        previous = sandbox.select(kind)
        yield Filesystem(kind)
        sandbox.select(previous)
    else:
        yield Filesystem(kind)


@pytest.fixture(params=["getdents", "scandir"])
def lister(request, monkeypatch):
    """Run the test under each way fd_readdir reads a host directory."""
    if request.param == "getdents" and listing.entries is not listing.getdents_entries:
        pytest.skip("this host has no getdents64")
    monkeypatch.setattr(listing, "entries", getattr(listing, f"{request.param}_entries"))
    return request.param


@pytest.fixture
def world(tmp_path: Path) -> Path:
    """A sandbox `box` beside things it must never reach: `secret` next to
    it, and `outside/` with a file and a directory."""
    (tmp_path / "box").mkdir()
    (tmp_path / "secret").write_bytes(b"ROOT SECRET\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_bytes(b"OUTSIDE SECRET\n")
    (tmp_path / "outside" / "dir").mkdir()
    return tmp_path


# Compiled modules go to a cache of the test run's own, not the user's (and
# the subprocesses the tests start inherit it).
os.environ["PYWASI_CACHE"] = tempfile.mkdtemp(prefix="pywasi-test-cache-")
