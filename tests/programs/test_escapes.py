"""Nobody leaves the sandbox: every path-taking call, fed every way out,
fails with ENOTCAPABLE (or ELOOP for loops) and touches nothing outside;
and a directory swapped for a symlink to the outside while the guest opens
through it, thousands of times, never lets the outside be read.

The guest is fs_probe.c, which calls WASI straight (no libc path handling
in between), on a host directory under both sandbox strategies, on a
MemoryDir and on an Overlay, and under both ABIs."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading

import pytest

from pywasi.generated.preview1 import Errno
from tests.support import Untouched, compile_c, host_tree, rename_import_module, run_captured

NOTCAPABLE, LOOP, NOTDIR = int(Errno.NOTCAPABLE), int(Errno.LOOP), int(Errno.NOTDIR)

# Ways out: (an outside file, an outside directory, a new name outside).
ESCAPES = {
    "dotdot": ("../secret", "../outside/dir", "../new"),
    "dotdot from a subdirectory": ("d/../../secret", "d/../../outside/dir", "d/../../outside/new"),
    "out and back in": ("../box/f", "../box/d", "../box/new"),
    "absolute": ("{root}/secret", "{root}/outside/dir", "{root}/outside/new"),
    "absolute symlink in the middle": ("abs_dir/secret", "abs_dir/dir", "abs_dir/new"),
    "relative symlink in the middle": ("rel_dir/secret", "rel_dir/dir", "rel_dir/new"),
    "relative symlink in a subdirectory": ("d/deep/secret", "d/deep/dir", "d/deep/new"),
    "a chain that leaves in two hops": ("hop1/secret", "hop1/dir", "hop1/new"),
}


def every_call(file: str, directory: str, new: str) -> list[list[str]]:
    """Each path-taking call with the way out in each of its path positions."""
    return [
        ["open", file], ["nofollow", file], ["creat", file], ["creat", new], ["opendir", directory],
        ["mkdir", new], ["rmdir", directory], ["unlink", file], ["readlink", file], ["stat", file],
        ["lstat", file], ["utimes", file], ["lutimes", file], ["symlink", "f", new], ["link", "f", new],
        ["link", file, "new"], ["linkf", file, "new"], ["rename", "f", new], ["rename", file, "new"],
        ["rename", directory, "new"], ["opendir", directory + "/"], ["stat", directory + "/"],
    ]


# Symlinks at the end of a path, which the calls that follow must not follow out.
FOLLOWED_AT_THE_END = [
    ["open", "abs_file"], ["open", "rel_file"], ["open", "hopf1"], ["creat", "abs_file"], ["creat", "rel_file"],
    ["stat", "abs_file"], ["stat", "rel_file"], ["stat", "hopf1"], ["utimes", "abs_file"], ["utimes", "rel_file"],
    ["linkf", "rel_file", "new"], ["linkf", "abs_file", "new"], ["opendir", "rel_dir"], ["opendir", "abs_dir"],
    ["opendir", "hop1"], ["lstat", "rel_dir/"], ["creat", "dangling"], ["creat", "dangling_abs"], ["open", "dangling"],
]
LOOPS = [["open", "loop"], ["open", "ping/x"], ["stat", "ping"], ["creat", "loop"], ["mkdir", "pong/new"],
         ["unlink", "loop/x"], ["opendir", "d/../ping"]]


@pytest.fixture
def sandbox(world):
    box = world / "box"
    (box / "f").write_bytes(b"inside\n")
    (box / "d").mkdir()
    links = {
        "abs_file": f"{world}/outside/secret", "abs_dir": f"{world}/outside",
        "rel_file": "../outside/secret", "rel_dir": "../outside", "d/deep": "../../outside",
        "hop1": "hop2", "hop2": "../outside", "hopf1": "d/hopf2", "d/hopf2": "../../secret",
        "loop": "loop", "ping": "pong", "pong": "ping",
        "dangling": "../outside/new", "dangling_abs": f"{world}/outside/new",
    }
    for name, target in links.items():
        os.symlink(target, box / name)
    return world


def run_probe(world, calls: list[list[str]], version: str, box=None) -> list[tuple[str, int]]:
    wasm = compile_c("fs_probe.c").read_bytes()
    if version == "unstable":
        wasm = rename_import_module(wasm, "wasi_snapshot_preview1", "wasi_unstable")
    argv = ["probe"] + [arg.format(root=world) for call in calls for arg in call]
    code, out, err = run_captured(wasm, args=argv, preopens={"/box": world / "box" if box is None else box})
    assert (code, err) == (0, b"")
    lines = out.decode().splitlines()
    assert len(lines) == len(calls)
    return [(line, int(re.search(r"-> (\d+)", line).group(1))) for line in lines]


@contextlib.contextmanager
def watched(world, filesystem):
    """Nothing outside the box may be touched; for a MemoryDir, nothing on
    the host at all, the box included; an Overlay may read the box, and
    must leave it as it was."""
    before = host_tree(world / "box")
    with Untouched(world, keep="" if filesystem.kind == "memory" else "box"):
        yield
    if filesystem.kind == "overlay":
        assert host_tree(world / "box") == before


@pytest.mark.parametrize("version", ["preview1", "unstable"])
@pytest.mark.parametrize("escape", sorted(ESCAPES))
def test_every_call_every_way_out(sandbox, filesystem, version, escape):
    box = filesystem.preopen(sandbox / "box")
    before = filesystem.tree()
    with watched(sandbox, filesystem):
        results = run_probe(sandbox, every_call(*ESCAPES[escape]), version, box)
    assert [line for line, errno in results if errno != NOTCAPABLE] == []
    assert filesystem.tree() == before  # and nothing inside changed either


@pytest.mark.parametrize("version", ["preview1", "unstable"])
def test_symlinks_followed_at_the_end_do_not_lead_out(sandbox, filesystem, version):
    box = filesystem.preopen(sandbox / "box")
    before = filesystem.tree()
    with watched(sandbox, filesystem):
        results = run_probe(sandbox, FOLLOWED_AT_THE_END, version, box)
    assert [line for line, errno in results if errno != NOTCAPABLE] == []
    assert filesystem.tree() == before
    assert not (sandbox / "outside" / "new").exists()


def test_the_links_themselves_are_the_guests(sandbox, filesystem):
    # Not following, a call acts on the link inside: reading its text is
    # fine, and so is removing it.
    box = filesystem.preopen(sandbox / "box")
    with watched(sandbox, filesystem):
        results = run_probe(sandbox, [["readlink", "rel_dir"], ["lstat", "abs_file"], ["nofollow", "rel_file"],
                                      ["unlink", "abs_file"], ["symlink", "../outside/secret", "mine"],
                                      ["open", "mine"], ["rename", "rel_dir", "renamed"]], "preview1", box)
    assert [line for line, _ in results] == [
        "readlink rel_dir -> 0 ../outside", "lstat abs_file -> 0", f"nofollow rel_file -> {LOOP}",
        "unlink abs_file -> 0", "symlink ../outside/secret mine -> 0", f"open mine -> {NOTCAPABLE}",
        "rename rel_dir renamed -> 0",
    ]


def test_rmdir_and_unlink_of_link_slash_follow_nothing(sandbox, filesystem):
    # A trailing slash makes a lookup follow a symlink at the end; rmdir and
    # unlink look nothing up there, so `link/` names a symlink, which is no
    # directory: ENOTDIR, as Linux answers.
    box = filesystem.preopen(sandbox / "box")
    before = filesystem.tree()
    with watched(sandbox, filesystem):
        results = run_probe(sandbox, [["rmdir", "rel_dir/"], ["rmdir", "abs_dir/"], ["unlink", "rel_file/"]],
                            "preview1", box)
    assert [errno for _, errno in results] == [NOTDIR] * 3
    assert filesystem.tree() == before


@pytest.mark.parametrize("version", ["preview1", "unstable"])
def test_loops_end_in_eloop(sandbox, filesystem, version):
    box = filesystem.preopen(sandbox / "box")
    with watched(sandbox, filesystem):
        results = run_probe(sandbox, LOOPS, version, box)
    assert [line for line, errno in results if errno != LOOP] == []


@pytest.mark.parametrize("link", ["relative", "absolute"])
def test_a_directory_swapped_for_a_symlink_never_leaks(world, strategy, link):
    box = world / "box"
    (box / "d").mkdir()
    (box / "d" / "f").write_bytes(b"inside\n")
    (world / "outside" / "f").write_bytes(b"OUTSIDE\n")
    os.symlink("../outside" if link == "relative" else str(world / "outside"), box / "swap")
    stop = threading.Event()
    swaps = [0]

    def swapper():
        # Each rename is atomic: d is the directory, then a symlink out, then
        # the directory again.
        while not stop.is_set():
            os.rename(box / "d", box / "d.real")
            os.rename(box / "swap", box / "d")
            os.rename(box / "d", box / "swap")
            os.rename(box / "d.real", box / "d")
            swaps[0] += 1

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # let the threads interleave finely
    thread = threading.Thread(target=swapper)
    try:
        with Untouched(world, keep="box"):
            thread.start()
            code, out, _ = run_captured(compile_c("fs_race.c"), args=["race", "5000"], preopens={"/box": box})
            stop.set()
            thread.join()
    finally:
        stop.set()
        if thread.is_alive():
            thread.join()
        sys.setswitchinterval(interval)
    counts = dict(part.split("=") for part in out.decode().split())
    inside, other, failed = int(counts["inside"]), int(counts["other"]), int(counts["failed"])
    assert code == 0 and inside + other + failed == 5000
    assert other == 0
    # The race really ran: the guest opened through the directory, and met
    # the swap (how many swaps that takes depends on how fast the guest's
    # opens are: a few dozen since they reach Python through the C trampoline).
    assert inside > 0 and failed > 0 and swaps[0] > 10
