"""Path resolution beneath a directory fd, under both strategies (openat2 and
the walk): what resolves, what is an escape, and that an escape touches
nothing outside."""

from __future__ import annotations

import errno
import os

import pytest

from pywasi.generated.preview1 import Errno
from pywasi.handlers.filesystems import host as sandbox
from pywasi.runtime.errors import WasiError
from pywasi.runtime.errors import errno_of as host_errno
from tests.support import Untouched, wasi_errno


@pytest.fixture
def box(world, strategy):
    """The sandbox's host fd, with a directory, a file and inside symlinks."""
    root = world / "box"
    (root / "d" / "e").mkdir(parents=True)
    (root / "d" / "f").write_bytes(b"inside\n")
    os.symlink("d", root / "to_d")
    os.symlink("../f", root / "d" / "e" / "up_f")
    os.symlink("to_d", root / "to_to_d")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    yield fd
    os.close(fd)


def read(base: int, path: str, flags: int = 0) -> bytes:
    fd = sandbox.open_at(base, path, os.O_RDONLY | flags)
    try:
        return os.read(fd, 100)
    finally:
        os.close(fd)



def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize(
    "path", ["d/f", "./d/f", "d//f", "to_d/f", "to_to_d/f", "d/e/../f", "d/e/up_f", "to_d/e/up_f", "d/../d/f"]
)
def test_paths_that_stay_inside_resolve(box, path):
    assert read(box, path) == b"inside\n"


def test_directories_and_trailing_slashes(box):
    fd = sandbox.open_at(box, "to_d/e/", os.O_RDONLY | os.O_DIRECTORY)
    assert os.path.samestat(os.fstat(fd), os.stat("e", dir_fd=sandbox.open_at(box, "d", os.O_RDONLY)))
    os.close(fd)
    assert wasi_errno(lambda: read(box, "d/f/")) == Errno.NOTDIR
    assert wasi_errno(lambda: read(box, "d/missing")) == Errno.NOENT
    assert wasi_errno(lambda: read(box, "")) == Errno.NOENT


@pytest.mark.parametrize(
    "path, links",
    [
        ("..", {}),
        ("../secret", {}),
        ("d/../../secret", {}),
        ("d/e/../../../outside/secret", {}),
        ("/etc/passwd", {}),
        ("/", {}),
        ("abs", {"abs": "{outside}/secret"}),  # an absolute symlink, at the end
        ("abs/secret", {"abs": "{outside}"}),  # ... and in the middle
        ("rel", {"rel": "../outside/secret"}),  # a relative one, at the end
        ("rel/secret", {"rel": "../outside"}),  # ... and in the middle
        ("d/deep/secret", {"d/deep": "../../outside"}),
        ("hop1/secret", {"hop1": "hop2", "hop2": "../outside"}),  # a chain that leaves in its second hop
        ("hop1", {"hop1": "d/hop2", "d/hop2": "../../secret"}),
    ],
)
def test_escapes_are_notcapable_and_touch_nothing(world, box, path, links):
    for name, target in links.items():
        os.symlink(target.format(outside=world / "outside"), world / "box" / name)
    with Untouched(world, keep="box"):
        assert wasi_errno(lambda: read(box, path)) == Errno.NOTCAPABLE
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        assert wasi_errno(lambda: sandbox.open_at(box, path, flags, 0o666)) == Errno.NOTCAPABLE
        assert wasi_errno(lambda: sandbox.parent(box, path + "/x", False)) == Errno.NOTCAPABLE
        assert wasi_errno(lambda: sandbox.parent(box, path, True)) == Errno.NOTCAPABLE


def test_creating_through_a_dangling_symlink_that_points_outside(world, box):
    os.symlink("../outside/new", world / "box" / "dangling")
    os.symlink(str(world / "outside" / "new"), world / "box" / "dangling_abs")
    with Untouched(world, keep="box"):
        for name in ("dangling", "dangling_abs"):
            flags = os.O_WRONLY | os.O_CREAT
            assert wasi_errno(lambda: sandbox.open_at(box, name, flags, 0o666)) == Errno.NOTCAPABLE
            assert wasi_errno(lambda: sandbox.parent(box, name, True)) == Errno.NOTCAPABLE
    assert not (world / "outside" / "new").exists()


def test_creating_through_a_dangling_symlink_inside(world, box):
    os.symlink("d/new", world / "box" / "dangling")
    # O_EXCL never follows (POSIX): the link itself exists, and nothing is created.
    exclusive = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    assert wasi_errno(lambda: sandbox.open_at(box, "dangling", exclusive, 0o666)) == Errno.EXIST
    assert not (world / "box" / "d" / "new").exists()
    os.close(sandbox.open_at(box, "dangling", os.O_WRONLY | os.O_CREAT, 0o666))
    assert (world / "box" / "d" / "new").is_file()
    assert wasi_errno(lambda: sandbox.open_at(box, "dangling", exclusive, 0o666)) == Errno.EXIST


def test_symlink_loops_end_in_eloop(world, box):
    os.symlink("loop", world / "box" / "loop")
    os.symlink("ping", world / "box" / "pong")
    os.symlink("pong", world / "box" / "ping")
    for path in ("loop", "loop/x", "ping", "ping/x", "d/../ping/x"):
        assert wasi_errno(lambda: read(box, path)) == Errno.LOOP
    assert wasi_errno(lambda: sandbox.parent(box, "ping", True)) == Errno.LOOP
    assert wasi_errno(lambda: sandbox.parent(box, "ping/x", False)) == Errno.LOOP


def test_forty_hops_resolve_and_forty_one_do_not(world, box):
    for i in range(41):
        os.symlink(f"l{i + 1}" if i < 40 else "d/f", world / "box" / f"l{i}")
    assert read(box, "l1") == b"inside\n"  # l1 -> ... -> l40 -> d/f: 40 hops
    assert wasi_errno(lambda: read(box, "l0")) == Errno.LOOP  # 41


def test_one_budget_for_the_whole_path(world, box):
    """Links in the directories of a path and at its end count together: 30
    and 30 are ELOOP, as the kernel answers for the same path, while 20 and
    20 resolve."""
    root = world / "box"
    for prefix, count in (("a", 30), ("b", 20)):
        for i in range(count):  # {prefix}0 -> {prefix}1 -> ... -> d
            os.symlink(f"{prefix}{i + 1}" if i + 1 < count else "d", root / f"{prefix}{i}")
        for i in range(count):  # d/{prefix}f0 -> ... -> f
            os.symlink(f"{prefix}f{i + 1}" if i + 1 < count else "f", root / "d" / f"{prefix}f{i}")
    assert os.path.exists(root / "b0" / "bf0")
    with pytest.raises(OSError) as host:
        os.stat(root / "a0" / "af0")
    assert host.value.errno == errno.ELOOP

    def stat_followed(path):
        dirfd, name = sandbox.parent(box, path, True)
        try:
            return os.stat(name, dir_fd=dirfd, follow_symlinks=False).st_ino
        finally:
            sandbox.release(box, dirfd)

    assert stat_followed("b0/bf0") == (root / "d" / "f").stat().st_ino
    assert read(box, "b0/bf0") == b"inside\n"
    assert wasi_errno(lambda: stat_followed("a0/af0")) == Errno.LOOP
    assert wasi_errno(lambda: read(box, "a0/af0")) == Errno.LOOP


def test_nofollow_refuses_a_symlink_at_the_end_only(box):
    assert wasi_errno(lambda: read(box, "to_d", os.O_NOFOLLOW)) == Errno.LOOP
    assert read(box, "to_d/f", os.O_NOFOLLOW) == b"inside\n"


def test_nul_is_einval(box):
    assert wasi_errno(lambda: read(box, "d/f\0x")) == Errno.INVAL
    assert wasi_errno(lambda: sandbox.parent(box, "d\0", False)) == Errno.INVAL


def test_parent_gives_the_last_component_unfollowed_unless_asked(box):
    def resolved(path, follow):
        dirfd, name = sandbox.parent(box, path, follow)
        try:
            return os.fstat(dirfd).st_ino, name, dirfd == box
        finally:
            sandbox.release(box, dirfd)

    d_ino = os.stat("d", dir_fd=box).st_ino
    box_ino = os.fstat(box).st_ino
    assert resolved("f", False) == (box_ino, b"f", True)
    assert resolved("to_d", False) == (box_ino, b"to_d", True)
    assert resolved("to_d", True) == (box_ino, b"d", True)
    assert resolved("to_d/", False) == (box_ino, b"d", True)  # a trailing slash follows
    assert resolved("d/e/up_f", True) == (d_ino, b"f", False)
    assert resolved("to_d/e/..", False) == (d_ino, b".", False)
    assert resolved("d/..", False) == (box_ino, b".", False)
    assert resolved("d/missing", True) == (d_ino, b"missing", False)
    with pytest.raises(WasiError) as info:
        sandbox.parent(box, "d/f/", False)
    assert info.value.errno == Errno.NOTDIR


def test_nothing_leaks_descriptors(world, box):
    os.symlink("../outside", world / "box" / "out")
    before = open_fds()
    for path in ("d/f", "to_to_d/e/up_f", "out/secret", "d/e/../../..", "missing/x"):
        for follow in (False, True):
            try:
                sandbox.release(box, sandbox.parent(box, path, follow)[0])
            except (WasiError, OSError):
                pass
        try:
            read(box, path)
        except (WasiError, OSError):
            pass
    assert open_fds() == before


def test_select_names_the_strategy(strategy):
    assert sandbox.strategy() == strategy
    assert sandbox.select("walk") == strategy
    sandbox.select(strategy)
    with pytest.raises(ValueError, match="unknown strategy"):
        sandbox.select("string-joining")


@pytest.mark.parametrize(
    "touch",
    [
        lambda w: (w / "outside" / "secret").read_bytes(),
        lambda w: os.close(os.open(w / "secret", os.O_RDONLY)),
        lambda w: (w / "outside" / "dir" / "new").write_bytes(b""),
        lambda w: os.utime(w / "secret", ns=(0, 0)),
        lambda w: (w / "outside" / "secret").unlink(),
    ],
)
def test_the_outside_watch_sees_reads_and_changes(world, touch):
    # The proof the escape tests rely on must itself fail when something leaks.
    with pytest.raises(AssertionError, match="outside the sandbox"):
        with Untouched(world, keep="box"):
            touch(world)
    with Untouched(world, keep="box"):
        (world / "box" / "inside").write_bytes(b"fine")


@pytest.mark.skipif(not sandbox.OPENAT2_WORKS, reason="needs openat2 to compare with")
def test_both_strategies_give_the_same_answers(world):
    """Every path of up to three components over a tree of files, directories
    and symlinks (inside, outside, dangling, looping), with each way of
    opening: the walk answers what the kernel does."""
    import itertools

    root = world / "box"
    (root / "d" / "e").mkdir(parents=True)
    (root / "f").write_bytes(b"f")
    links = {"to_d": "d", "to_f": "f", "d/up": "..", "d/upf": "../f", "out": "../outside", "abs": str(world),
             "loop": "loop", "dangling": "nowhere", "d/e/top": "../../to_d"}
    for name, target in links.items():
        os.symlink(target, root / name)
    base = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    alphabet = ["", ".", "..", "d", "e", "f", "to_d", "to_f", "up", "upf", "out", "loop", "dangling", "top",
                "missing"]
    paths = {"/".join(p) for n in (1, 2, 3) for p in itertools.product(alphabet, repeat=n)}
    paths |= {p + "/" for p in list(paths) if p}

    def outcome(call):
        try:
            result = call()
        except (WasiError, OSError) as e:
            return "errno", e.errno if isinstance(e, WasiError) else host_errno(e)
        return result

    def opened(path, flags):
        fd = sandbox.open_at(base, path, flags)
        st = os.fstat(fd)
        os.close(fd)
        return st.st_ino

    def parented(path, follow):
        dirfd, name = sandbox.parent(base, path, follow)
        try:
            return os.fstat(dirfd).st_ino, name
        finally:
            sandbox.release(base, dirfd)

    previous = sandbox.strategy()
    answers = {}
    try:
        with Untouched(world, keep="box"):
            for strategy in ("openat2", "walk"):
                sandbox.select(strategy)
                answers[strategy] = {
                    (path, flags): outcome(lambda: opened(path, flags))
                    for path in sorted(paths)
                    for flags in (os.O_RDONLY, os.O_NOFOLLOW, os.O_DIRECTORY, os.O_DIRECTORY | os.O_NOFOLLOW)
                } | {
                    # O_CREAT creates nothing at a trailing slash: these fail, and leave the tree as it is
                    (path, flags): outcome(lambda: opened(path, flags))
                    for path in sorted(paths) if path.endswith("/")
                    for flags in (os.O_CREAT | os.O_WRONLY, os.O_CREAT | os.O_EXCL | os.O_RDONLY)
                } | {
                    (path, follow): outcome(lambda: parented(path, follow))
                    for path in sorted(paths)
                    for follow in (False, True)
                }
    finally:
        sandbox.select(previous)
        os.close(base)
    differ = {key: (a, answers["walk"][key]) for key, a in answers["openat2"].items() if answers["walk"][key] != a}
    assert differ == {}
    assert len(answers["walk"]) > 20_000
